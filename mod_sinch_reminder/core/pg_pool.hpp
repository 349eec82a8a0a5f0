#pragma once
// A per-process pool of PostgreSQL connections with mod_dbd's behaviour (STYLE.md §3.6).
//
//  - One PgPool per httpd child and distinct conninfo, created after fork (child_init), never in the parent:
//    libpq connections must not cross a fork.
//  - acquire() hands out a PgLease: exclusive use of one connection by one thread until the lease is
//    destroyed. A connection is never shared between threads.
//  - Connections are checked before they are handed out and when they come back; a closed one, one the
//    server dropped while it sat idle, one whose user saw pqxx::broken_connection, or one the user
//    invalidate()d is discarded, never reused.
//  - Connecting is lazy. A database that is down (at child start or later) makes acquire() throw
//    DatabaseUnavailable after at most connect_timeout; the next acquire() simply tries again.
//  - When all `max_connections` are leased, acquire() waits up to acquire_timeout for one to come back.
//  - Every new connection gets application_name=mod_sinch_reminder (unless the conninfo names one) and
//    TimeZone=UTC, so timestamptz text is never in a server- or user-specific zone.
//
// Thread safety: acquire() may be called from any number of threads. A PgLease belongs to one thread.
#include "core/logger.hpp"

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction_base>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sr {

// The database cannot be used right now (down, unreachable, refused the login, or the pool is exhausted).
// Maps to 503. The message never contains a password.
class DatabaseUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Every connection was leased for the whole acquire_timeout: the database is fine but too busy.
class PoolTimeout : public DatabaseUnavailable {
  public:
    using DatabaseUnavailable::DatabaseUnavailable;
};

struct PgPoolConfig {
    std::string conninfo;                                 // libpq keyword/value string or postgresql:// URI
    std::size_t max_connections = 10;                     // SinchReminderDbPoolMax; 1 under prefork
    std::size_t keep_idle = 2;                            // idle connections kept open for reuse
    std::chrono::milliseconds acquire_timeout{5000};      // wait for a free connection when all are leased
    std::chrono::seconds connect_timeout{5};              // libpq connect_timeout (libpq's minimum is 2 s)
    std::string application_name = "mod_sinch_reminder";  // shown in pg_stat_activity
};

// Opens one connection with the module's session settings (application_name, connect_timeout, UTC).
// Throws DatabaseUnavailable with a masked conninfo and libpq's message.
std::unique_ptr<pqxx::connection> open_pg_connection(const std::string& conninfo,
                                                     std::chrono::seconds connect_timeout,
                                                     const std::string& application_name);

class PgLease;

class PgPool {
  public:
    // Opens nothing yet (see warm_up). Throws ConfigError for max_connections == 0 or a malformed conninfo.
    PgPool(PgPoolConfig config, Logger& logger);
    // Closes the idle connections. NB: leases still out are closed (not pooled) when they are destroyed.
    ~PgPool();
    PgPool(const PgPool&) = delete;
    PgPool& operator=(const PgPool&) = delete;

    // A connection for the caller's exclusive use. Throws DatabaseUnavailable if none can be opened,
    // PoolTimeout if all max_connections stayed leased for acquire_timeout.
    PgLease acquire();

    // Opens up to `count` idle connections now so a database problem shows at child start. Never throws:
    // a failure is logged and the next acquire() tries again. Returns whether all could be opened.
    bool warm_up(std::size_t count) noexcept;

    struct Stats {
        std::size_t open = 0;  // connections that exist: idle + leased (+ being opened)
        std::size_t idle = 0;
        std::size_t leased = 0;
    };
    Stats stats() const;

    const PgPoolConfig& config() const noexcept;

  private:
    friend class PgLease;
    struct Shared;
    std::shared_ptr<Shared> m_shared;  // NB: shared with the leases, so a lease may outlive the pool
};

// Exclusive use of one pooled connection; gives it back when destroyed. Move-only.
class PgLease {
  public:
    PgLease(PgLease&& other) noexcept;
    PgLease& operator=(PgLease&& other) noexcept;
    PgLease(const PgLease&) = delete;
    PgLease& operator=(const PgLease&) = delete;
    ~PgLease();

    // The leased connection. Do not keep a reference or a transaction past the lease.
    pqxx::connection& connection() const;
    pqxx::connection* operator->() const { return &connection(); }

    // The connection must not be reused (e.g. it is in an unknown state): it is closed, not pooled.
    void invalidate() noexcept { m_invalid = true; }
    bool invalidated() const noexcept { return m_invalid; }

    // Returns the connection to the pool now (as the destructor would). The lease is empty afterwards.
    void release() noexcept;

  private:
    friend class PgPool;
    PgLease(std::shared_ptr<PgPool::Shared> pool, std::unique_ptr<pqxx::connection> conn) noexcept;

    std::shared_ptr<PgPool::Shared> m_pool;
    std::unique_ptr<pqxx::connection> m_conn;
    bool m_invalid = false;
};

// Runs one unit of database work on a lease. A dead connection must not go back to the pool, and callers
// should not have to know libpqxx's exception types to answer 503: both become DatabaseUnavailable.
template <class Work>
auto with_connection(PgLease& lease, const char* operation, Work&& work)
    -> decltype(work(lease.connection())) {
    try {
        return work(lease.connection());
    } catch (const pqxx::broken_connection& e) {
        lease.invalidate();
        throw DatabaseUnavailable(std::string(operation) + ": lost the PostgreSQL connection: " + e.what());
    } catch (const pqxx::in_doubt_error& e) {
        lease.invalidate();
        throw DatabaseUnavailable(
            std::string(operation) +
            ": the connection broke during COMMIT; the outcome is unknown: " + e.what());
    }
}

// Runs `sql` as the prepared statement `name`: PostgreSQL parses and plans it once per connection instead of
// on every call (on the booking path that was half of PostgreSQL's time). libpqxx sends the PREPARE on the
// connection's first use and remembers it; `name` must always go with the same `sql`.
// NB: needs session state; a PgBouncer in front of PostgreSQL must be 1.21+ with max_prepared_statements > 0.
template <class... Params>
pqxx::result exec_prepared(pqxx::transaction_base& txn, const std::string& name, const std::string& sql,
                           Params&&... params) {
    txn.conn().prepare(name, sql);
    return txn.exec_prepared(name, std::forward<Params>(params)...);
}

// One prepared statement on its own (autocommit, no transaction block), with with_connection's error mapping.
template <class... Params>
pqxx::result run_prepared(PgLease& lease, const char* operation, const std::string& name,
                          const std::string& sql, Params&&... params) {
    return with_connection(lease, operation, [&](pqxx::connection& c) {
        pqxx::nontransaction txn(c);
        return exec_prepared(txn, name, sql, std::forward<Params>(params)...);
    });
}

// A PostgreSQL text[] literal for a list of clinic keys ("{a,b}"), for `= ANY($n::text[])`. The keys are
// checked by SinchReminderClinic (lower-case letters, digits, '-' and '_'), so none needs quoting; any other
// character is refused here so that no caller can build a different array by accident.
std::string pg_clinic_array(const std::vector<std::string>& keys);

}  // namespace sr
