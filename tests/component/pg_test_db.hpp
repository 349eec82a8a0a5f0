#pragma once
// A fresh PostgreSQL database per test, on the throwaway server of the `pg` CTest fixture (tests/pg.sh).
//
//   SR_TEST_CONNINFO  superuser conninfo of that server, e.g. "host=127.0.0.1 port=5433 user=postgres"
//   SR_SOURCE_DIR     the repository, for its sql/ migrations
//
// Missing variables are an error, not a skip: a skipped database test would count as passed.
#include "core/logger.hpp"
#include "core/migrations.hpp"

#include <pqxx/connection>
#include <pqxx/nontransaction>

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace sr::test {

inline std::string required_env(const char* name) {
    const char* value = std::getenv(name);
    if (!value || !*value) {
        throw std::runtime_error(
            std::string(name) +
            " is not set: run under ctest (pg fixture), or start tests/pg.sh and export it");
    }
    return value;
}

inline std::string server_conninfo() { return required_env("SR_TEST_CONNINFO"); }
inline std::string repository_sql_dir() { return required_env("SR_SOURCE_DIR") + "/sql"; }

// Keeps every message so tests can check what was logged.
class CapturingLogger final : public Logger {
  public:
    struct Entry {
        LogLevel level;
        std::string message_id;
        std::string message;
    };
    bool enabled(LogLevel) const noexcept override { return true; }
    void log(LogLevel level, const char* message_id, const std::string& message) noexcept override {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (std::getenv("SR_TEST_LOG")) std::fprintf(stderr, "[%s] %s\n", message_id ? message_id : "", message.c_str());
        m_entries.push_back({level, message_id ? message_id : "", message});
    }
    bool contains(const std::string& fragment) const {
        std::lock_guard<std::mutex> lock(m_mutex);
        for (const Entry& entry : m_entries) {
            if (entry.message.find(fragment) != std::string::npos) return true;
        }
        return false;
    }
    bool has_message_id(const std::string& message_id) const {
        std::lock_guard<std::mutex> lock(m_mutex);
        for (const Entry& entry : m_entries) {
            if (entry.message_id == message_id) return true;
        }
        return false;
    }

  private:
    mutable std::mutex m_mutex;
    std::vector<Entry> m_entries;
};

// CREATE DATABASE on construction (optionally migrated), DROP DATABASE ... WITH (FORCE) on destruction.
class TestDatabase {
  public:
    enum class Schema { Migrated, Empty };

    explicit TestDatabase(Schema schema = Schema::Migrated) : m_name(unique_name()) {
        admin_exec("CREATE DATABASE ");
        if (schema == Schema::Migrated) {
            pqxx::connection conn(conninfo());
            NullLogger quiet;
            apply_migrations(conn, repository_sql_dir(), quiet);
        }
    }
    ~TestDatabase() {
        try {
            admin_exec("DROP DATABASE IF EXISTS ", " WITH (FORCE)");
        } catch (...) {
            // The server is going away with the fixture anyway; a failed test must not become a crash.
        }
    }
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    const std::string& name() const { return m_name; }
    std::string conninfo() const { return server_conninfo() + " dbname=" + m_name; }

  private:
    static std::string unique_name() {
        static std::atomic<int> counter{0};
        return "sr_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
    }
    void admin_exec(const std::string& before_name, const std::string& after_name = "") const {
        pqxx::connection admin(server_conninfo() + " dbname=postgres");
        pqxx::nontransaction txn(admin);  // NB: CREATE/DROP DATABASE refuse to run inside a transaction
        txn.exec(before_name + txn.quote_name(m_name) + after_name);
    }

    std::string m_name;
};

}  // namespace sr::test
