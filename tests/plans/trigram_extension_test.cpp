// Migration 006 and the pg_trgm extension without superuser rights (README, "Indexes, pg_trgm ..."):
// a role that owns its database migrates it on its own (pg_trgm is trusted since PostgreSQL 13); a role
// that does not gets a message that says what to run, and nothing of 006 is applied.
#include <cppunit/extensions/HelperMacros.h>

#include <pqxx/pqxx>

#include <unistd.h>

#include "component/pg_test_db.hpp"
#include "core/migrations.hpp"

namespace {

std::string admin_conninfo() { return sr::test::server_conninfo() + " dbname=postgres"; }

void admin(const std::string& sql) {
    pqxx::connection c(admin_conninfo());
    pqxx::nontransaction txn(c);
    txn.exec(sql);
}

}  // namespace

class TrigramExtensionTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TrigramExtensionTest);
    CPPUNIT_TEST(testTheDatabaseOwnerCreatesTheExtensionItself);
    CPPUNIT_TEST(testARoleWithoutTheRightGetsAMessageSayingWhatToRun);
    CPPUNIT_TEST_SUITE_END();

  public:
    void setUp() override {
        m_role = "sr_trgm_role_" + std::to_string(::getpid());
        m_db = "sr_trgm_db_" + std::to_string(::getpid());
        admin("CREATE ROLE " + m_role + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE");
    }

    void tearDown() override {
        try {
            admin("DROP DATABASE IF EXISTS " + m_db + " WITH (FORCE)");
            admin("DROP ROLE IF EXISTS " + m_role);
        } catch (...) {
        }
    }

    void testTheDatabaseOwnerCreatesTheExtensionItself() {
        admin("CREATE DATABASE " + m_db + " OWNER " + m_role);
        const sr::MigrationReport report = migrate_as_role();
        (void)report;
        pqxx::connection c(conninfo());
        pqxx::nontransaction txn(c);
        CPPUNIT_ASSERT_EQUAL(
            std::string(m_role),
            txn.exec1("SELECT pg_get_userbyid(extowner) FROM pg_extension WHERE extname = 'pg_trgm'")[0]
                .as<std::string>());
        CPPUNIT_ASSERT_EQUAL(1, txn.exec1("SELECT count(*) FROM schema_migrations WHERE version = 6")[0].as<int>());
    }

    void testARoleWithoutTheRightGetsAMessageSayingWhatToRun() {
        // The database belongs to someone else; the role may create tables in its schema, not extensions.
        admin("CREATE DATABASE " + m_db);
        {
            pqxx::connection c(sr::test::server_conninfo() + " dbname=" + m_db);
            pqxx::nontransaction txn(c);
            txn.exec("GRANT CREATE ON SCHEMA public TO " + m_role);
        }
        std::string message;
        try {
            migrate_as_role();
        } catch (const sr::MigrationError& e) {
            message = e.what();
        }
        CPPUNIT_ASSERT_MESSAGE(message, message.find("006_indexes.sql") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(message, message.find("CREATE EXTENSION pg_trgm") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(message, message.find(m_db) != std::string::npos);
        pqxx::connection c(conninfo());
        pqxx::nontransaction txn(c);
        CPPUNIT_ASSERT_EQUAL(5, txn.exec1("SELECT max(version) FROM schema_migrations")[0].as<int>());
        // What the message says to run, as a superuser; then migrate goes through.
        {
            pqxx::connection super(sr::test::server_conninfo() + " dbname=" + m_db);
            pqxx::nontransaction s(super);
            s.exec("CREATE EXTENSION pg_trgm");
        }
        migrate_as_role();
        CPPUNIT_ASSERT_EQUAL(1, txn.exec1("SELECT count(*) FROM schema_migrations WHERE version = 6")[0].as<int>());
    }

  private:
    std::string conninfo() const {
        return sr::test::server_conninfo() + " dbname=" + m_db + " user=" + m_role;
    }

    sr::MigrationReport migrate_as_role() {
        pqxx::connection c(conninfo());
        sr::NullLogger quiet;
        return sr::apply_migrations(c, sr::test::repository_sql_dir(), quiet);
    }

    std::string m_role, m_db;
};

CPPUNIT_TEST_SUITE_REGISTRATION(TrigramExtensionTest);
