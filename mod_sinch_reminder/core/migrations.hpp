#pragma once
// Schema migrations: the numbered plain-SQL files in sql/ ("001_initial_schema.sql", ...), applied in order.
//
// Each pending file runs in its own transaction together with its row in schema_migrations, so a file is
// either fully applied and recorded or not at all. Every transaction first takes a transaction-scoped
// advisory lock, so several httpd nodes or admins migrating one database at once are serialised: the
// first applies, the others then find the file recorded and skip it. Running it again is a no-op.
#include "core/logger.hpp"

#include <pqxx/connection>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sr {

// A migration file could not be read or applied, or the sql directory does not match the database.
// The message names the file and carries PostgreSQL's own message.
class MigrationError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The key of pg_advisory_xact_lock() held while migrating ("SRMIGRAT" in ASCII). Fixed forever: every
// version of the module and the admin tool must agree on it.
constexpr std::int64_t k_migration_lock_key = 0x5352'4D49'4752'4154;

struct MigrationFile {
    int version = 0;        // 1 for "001_initial_schema.sql"
    std::string name;       // "initial_schema"
    std::string file_name;  // "001_initial_schema.sql"
    std::string path;
};

struct MigrationReport {
    int version_before = 0;                  // schema_version() before the run (0: empty database)
    int version_after = 0;                   // schema_version() after the run
    std::vector<std::string> applied_files;  // file names applied by THIS run, in order
};

// The NNN_name.sql files of sql_dir sorted by version. Other files are ignored; a *.sql file whose name
// does not follow the pattern, or two files with one version, is a MigrationError.
std::vector<MigrationFile> list_migrations(const std::string& sql_dir);

// Applies every file of sql_dir that the database has not recorded yet, each in its own transaction.
// Throws MigrationError (file name + PostgreSQL message) and stops at the first failing file; the files
// before it stay applied. Throws pqxx::broken_connection if the connection is lost.
MigrationReport apply_migrations(pqxx::connection& conn, const std::string& sql_dir, Logger& logger);

// The highest migration version recorded in the database; 0 if it was never migrated.
int schema_version(pqxx::connection& conn);

// The highest version among sql_dir's migration files: what schema_version() is after a full migrate.
int expected_schema_version(const std::string& sql_dir);

// Lets `role` (an existing PostgreSQL role, e.g. made with `createuser --pwprompt`) do what the module does
// at run time and nothing more: read and write the rows of every table of the schema (schema_migrations: read
// only), use its sequences; no DDL, no TRUNCATE. Default privileges give it the same on the tables and
// sequences later migrations add, when they run as the role that runs this (the owner). Idempotent.
// Throws pqxx errors (an unknown role: "role ... does not exist").
void grant_runtime_role(pqxx::connection& conn, const std::string& role);

}  // namespace sr
