#include "core/migrations.hpp"

#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

namespace sr {
namespace {

namespace fs = std::filesystem;

// NB: plain string code rather than std::regex here and in pg_pool/store: GCC 12's <regex> trips
// -Wmaybe-uninitialized (an error with -Werror) when built with SR_SANITIZE.

const char* const k_create_migrations_table =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

std::string read_file(const MigrationFile& file) {
    std::ifstream in(file.path, std::ios::binary);
    if (!in) throw MigrationError("cannot read migration " + file.path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string upper_case(std::string word) {
    for (char& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return word;
}

// The first two words of an SQL line, upper-cased; ';' counts as a word of its own.
std::pair<std::string, std::string> leading_words(const std::string& line) {
    std::vector<std::string> words;
    std::string word;
    const auto finish_word = [&] {
        if (!word.empty()) words.push_back(upper_case(word));
        word.clear();
    };
    for (char c : line) {
        if (words.size() >= 2) break;
        if (c == ';') {
            finish_word();
            words.push_back(";");
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            finish_word();
        } else {
            word += c;
        }
    }
    finish_word();
    words.resize(2);
    return {words[0], words[1]};
}

// The tool owns the transaction; a COMMIT inside a file would end it early and drop the lock with it.
// NB: plpgsql's "BEGIN" (a block, never followed by ';') and "END;" stay allowed.
void reject_transaction_statements(const MigrationFile& file, const std::string& sql) {
    std::istringstream lines(sql);
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
        const auto [first, second] = leading_words(line);
        const bool transaction_control =
            first == "COMMIT" || first == "ROLLBACK" || first == "ABORT" ||
            (first == "START" && second == "TRANSACTION") ||
            (first == "BEGIN" &&
             (second == ";" || second == "WORK" || second == "TRANSACTION" || second == "ISOLATION")) ||
            (first == "END" && (second == "WORK" || second == "TRANSACTION"));
        if (transaction_control) {
            throw MigrationError(file.file_name + " line " + std::to_string(number) +
                                 ": transaction statements are not allowed in migrations (each file already "
                                 "runs in its own transaction)");
        }
    }
}

// "001_initial_schema.sql" -> {1, "initial_schema"}; nullopt unless it is NNN_name.sql (3 to 9 digits).
std::optional<std::pair<int, std::string>> parse_migration_name(const std::string& file_name) {
    const std::string suffix = ".sql";
    if (file_name.size() <= suffix.size() ||
        file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return std::nullopt;
    }
    const std::string stem = file_name.substr(0, file_name.size() - suffix.size());
    const std::size_t underscore = stem.find('_');
    if (underscore == std::string::npos || underscore < 3 || underscore > 9 ||
        underscore + 1 == stem.size()) {
        return std::nullopt;
    }
    const auto is_digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    const auto is_name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if (!std::all_of(stem.begin(), stem.begin() + underscore, is_digit) ||
        !std::all_of(stem.begin() + underscore + 1, stem.end(), is_name_char)) {
        return std::nullopt;
    }
    return std::make_pair(std::stoi(stem.substr(0, underscore)), stem.substr(underscore + 1));
}

// Applies one file unless another process did so first. Returns whether this call applied it.
bool apply_one(pqxx::connection& conn, const MigrationFile& file, const std::string& sql) {
    pqxx::work txn(conn, "migration");
    // NB: taken first, before even looking at schema_migrations, so a concurrent migrator waits here until
    // our commit and then sees our row.
    txn.exec_params("SELECT pg_advisory_xact_lock($1)", static_cast<long long>(k_migration_lock_key));
    txn.exec(k_create_migrations_table);
    const pqxx::result recorded =
        txn.exec_params("SELECT name FROM schema_migrations WHERE version = $1", file.version);
    if (!recorded.empty()) {
        const std::string recorded_name = recorded[0][0].as<std::string>();
        if (recorded_name != file.name) {
            throw MigrationError("the database records migration " + std::to_string(file.version) + " as '" +
                                 recorded_name + "', but the sql directory has " + file.file_name +
                                 " (wrong --sql-dir, or a renamed migration file?)");
        }
        return false;
    }
    try {
        txn.exec(sql);
    } catch (const pqxx::sql_error& e) {
        throw MigrationError("migration " + file.file_name + " failed: " + e.what());
    }
    txn.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", file.version, file.name);
    txn.commit();
    return true;
}

}  // namespace

std::vector<MigrationFile> list_migrations(const std::string& sql_dir) {
    std::error_code error;
    fs::directory_iterator entries(sql_dir, error);
    if (error) throw MigrationError("cannot read the sql directory " + sql_dir + ": " + error.message());

    std::vector<MigrationFile> files;
    for (const fs::directory_entry& entry : entries) {
        const std::string file_name = entry.path().filename().string();
        if (entry.path().extension() != ".sql") continue;
        const auto version_and_name = parse_migration_name(file_name);
        if (!version_and_name) {
            throw MigrationError("migration file " + entry.path().string() +
                                 " is not named NNN_name.sql (3-9 digits, underscore, letters/digits/_)");
        }
        files.push_back(
            {version_and_name->first, version_and_name->second, file_name, entry.path().string()});
    }
    std::sort(files.begin(), files.end(),
              [](const MigrationFile& a, const MigrationFile& b) { return a.version < b.version; });
    for (std::size_t i = 1; i < files.size(); ++i) {
        if (files[i].version == files[i - 1].version) {
            throw MigrationError("two migrations have version " + std::to_string(files[i].version) + ": " +
                                 files[i - 1].file_name + " and " + files[i].file_name);
        }
    }
    return files;
}

MigrationReport apply_migrations(pqxx::connection& conn, const std::string& sql_dir, Logger& logger) {
    const std::vector<MigrationFile> files = list_migrations(sql_dir);
    // Read (and check) every file before touching the database, so a bad file late in the list does not
    // leave the database half-way through a set that was never going to succeed.
    std::vector<std::string> sql_texts;
    for (const MigrationFile& file : files) {
        sql_texts.push_back(read_file(file));
        reject_transaction_statements(file, sql_texts.back());
    }

    MigrationReport report;
    report.version_before = schema_version(conn);
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (apply_one(conn, files[i], sql_texts[i])) {
            report.applied_files.push_back(files[i].file_name);
            logger.log(LogLevel::Info, "", "applied migration " + files[i].file_name);
        }
    }
    report.version_after = schema_version(conn);
    const int expected = files.empty() ? 0 : files.back().version;
    if (report.version_after > expected) {
        logger.log(LogLevel::Warn, "SR0201",
                   "the database schema (version " + std::to_string(report.version_after) +
                       ") is newer than the migrations in " + sql_dir + " (version " +
                       std::to_string(expected) +
                       "): is this module older than the one that migrated the database?");
    }
    return report;
}

int schema_version(pqxx::connection& conn) {
    pqxx::read_transaction txn(conn, "schema_version");
    // to_regclass: a database that was never migrated has no table, which means version 0, not an error.
    if (txn.exec("SELECT to_regclass('schema_migrations') IS NULL")[0][0].as<bool>()) return 0;
    return txn.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
}

int expected_schema_version(const std::string& sql_dir) {
    const std::vector<MigrationFile> files = list_migrations(sql_dir);
    return files.empty() ? 0 : files.back().version;
}

void grant_runtime_role(pqxx::connection& conn, const std::string& role) {
    pqxx::work txn(conn, "grant_runtime_role");
    const std::string who = txn.quote_name(role);
    txn.exec("GRANT USAGE ON SCHEMA public TO " + who);
    txn.exec("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + who);
    txn.exec("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO " + who);
    // /health reads the schema version; only `migrate` (the owner) may change it.
    txn.exec("REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM " + who);
    txn.exec("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " +
             who);
    txn.exec("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO " + who);
    txn.commit();
}

}  // namespace sr
