#include "core/pg_pool.hpp"

#include "core/errors.hpp"
#include "core/redact.hpp"

#include <pqxx/except>
#include <pqxx/nontransaction>

#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include <poll.h>

namespace sr {
namespace {

bool is_uri(const std::string& conninfo) {
    return conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0;
}

// Whether the admin's conninfo sets `key` ("key=" in a URI's query, "key =" as a keyword elsewhere).
bool names_key(const std::string& conninfo, const std::string& key) {
    const bool uri = is_uri(conninfo);
    for (std::size_t at = conninfo.find(key); at != std::string::npos; at = conninfo.find(key, at + 1)) {
        const char before = at == 0 ? ' ' : conninfo[at - 1];
        std::size_t after = at + key.size();
        if (uri) {
            if ((before == '?' || before == '&') && after < conninfo.size() && conninfo[after] == '=')
                return true;
            continue;
        }
        if (!std::isspace(static_cast<unsigned char>(before))) continue;
        while (after < conninfo.size() && std::isspace(static_cast<unsigned char>(conninfo[after]))) ++after;
        if (after < conninfo.size() && conninfo[after] == '=') return true;
    }
    return false;
}

// Adds key=value unless the admin's conninfo already sets the key: theirs wins.
// NB: string-level on purpose; libpq's own parser (PQconninfoParse) would need libpq on the link line.
void add_default(std::string& conninfo, const std::string& key, const std::string& value) {
    if (value.empty() || names_key(conninfo, key)) return;
    if (is_uri(conninfo)) {
        conninfo += (conninfo.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
        return;
    }
    std::string quoted;
    for (char c : value) {
        if (c == '\\' || c == '\'') quoted += '\\';
        quoted += c;
    }
    if (!conninfo.empty()) conninfo += ' ';
    conninfo += key + "='" + quoted + "'";
}

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server running..."); logs want one.
std::string one_line(std::string text) {
    for (char& c : text) {
        if (c == '\n' || c == '\t' || c == '\r') c = ' ';
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    std::string squeezed;
    for (char c : text) {
        if (c == ' ' && !squeezed.empty() && squeezed.back() == ' ') continue;
        squeezed += c;
    }
    return squeezed;
}

DatabaseUnavailable unavailable(const std::string& conninfo, const std::string& what) {
    // NB: each part masked on its own: a password value runs to the next space, so it would swallow
    // punctuation we put after it.
    return DatabaseUnavailable("cannot use PostgreSQL [" + mask_conninfo(conninfo) +
                               "]: " + mask_conninfo(one_line(what)));
}

// Cheap validation without a round trip. An idle connection has nothing to say; if its socket is readable
// or hung up, the server has terminated it (restart, pg_terminate_backend, idle timeout) or sent something
// we never asked for. Either way it is safer to open a fresh one than to find out mid-request.
bool looks_usable(const pqxx::connection& conn) noexcept {
    if (!conn.is_open()) return false;
    const int fd = conn.sock();
    if (fd < 0) return false;
    pollfd watch{fd, POLLIN, 0};
    return ::poll(&watch, 1, 0) == 0;
}

std::string build_conninfo(const std::string& conninfo, std::chrono::seconds connect_timeout,
                           const std::string& application_name) {
    std::string full = conninfo;
    add_default(full, "connect_timeout", std::to_string(connect_timeout.count()));
    add_default(full, "application_name", application_name);
    return full;
}

std::unique_ptr<pqxx::connection> connect_with_session_settings(const std::string& full_conninfo,
                                                                const std::string& admin_conninfo) {
    try {
        auto conn = std::make_unique<pqxx::connection>(full_conninfo);
        pqxx::nontransaction setup(*conn, "session_setup");
        // Instants are read as epoch seconds, but any timestamptz text (logs, psql habits) should be UTC too.
        setup.exec("SET TIME ZONE 'UTC'");
        return conn;
    } catch (const std::exception& e) {
        throw unavailable(admin_conninfo, e.what());
    }
}

}  // namespace

std::unique_ptr<pqxx::connection> open_pg_connection(const std::string& conninfo,
                                                     std::chrono::seconds connect_timeout,
                                                     const std::string& application_name) {
    return connect_with_session_settings(build_conninfo(conninfo, connect_timeout, application_name),
                                         conninfo);
}

struct PgPool::Shared {
    Shared(PgPoolConfig pool_config, Logger& pool_logger)
        : config(std::move(pool_config)),
          full_conninfo(build_conninfo(config.conninfo, config.connect_timeout, config.application_name)),
          logger(pool_logger) {}

    // A lease ends: keep the connection for reuse if it is healthy and wanted, else close it.
    void give_back(std::unique_ptr<pqxx::connection> conn, bool invalidated) noexcept {
        const bool healthy = !invalidated && looks_usable(*conn);
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (healthy && !closed && idle.size() < config.keep_idle) {
                idle.push_back(std::move(conn));
            } else {
                --open;
                if (!healthy && !closed) {
                    logger.log(LogLevel::Debug, "",
                               invalidated ? "closing an invalidated PostgreSQL connection"
                                           : "discarding a PostgreSQL connection that broke while leased");
                }
            }
        }
        slot_freed.notify_one();
        conn.reset();  // NB: closed (a network round trip) outside the lock
    }

    const PgPoolConfig config;
    const std::string full_conninfo;  // with our defaults; may contain a password: never log it
    Logger& logger;

    mutable std::mutex mutex;
    std::condition_variable slot_freed;                  // an idle connection arrived, or `open` went down
    std::deque<std::unique_ptr<pqxx::connection>> idle;  // back() is the most recently used
    std::size_t open = 0;                                // idle + leased + being opened; <= max_connections
    bool closed = false;
};

PgPool::PgPool(PgPoolConfig config, Logger& logger) {
    if (config.max_connections == 0) throw ConfigError("the pool needs at least one connection");
    if (config.connect_timeout.count() < 1) {
        // libpq reads 0 as "wait forever", which is exactly the hang this pool exists to prevent.
        throw ConfigError("the connect timeout must be at least 1 second");
    }
    m_shared = std::make_shared<Shared>(std::move(config), logger);
}

PgPool::~PgPool() {
    std::deque<std::unique_ptr<pqxx::connection>> to_close;
    {
        std::lock_guard<std::mutex> lock(m_shared->mutex);
        m_shared->closed = true;
        to_close.swap(m_shared->idle);
        m_shared->open -= to_close.size();
    }
    m_shared->slot_freed.notify_all();
}

PgLease PgPool::acquire() {
    Shared& pool = *m_shared;
    const auto deadline = std::chrono::steady_clock::now() + pool.config.acquire_timeout;
    std::unique_lock<std::mutex> lock(pool.mutex);
    for (;;) {
        if (pool.closed) throw DatabaseUnavailable("the PostgreSQL pool is shut down");
        while (!pool.idle.empty()) {
            std::unique_ptr<pqxx::connection> conn = std::move(pool.idle.back());
            pool.idle.pop_back();
            lock.unlock();
            if (looks_usable(*conn)) return PgLease(m_shared, std::move(conn));
            pool.logger.log(LogLevel::Info, "",
                            "discarding an idle PostgreSQL connection the server closed (backend pid " +
                                std::to_string(conn->backendpid()) + ")");
            conn.reset();
            lock.lock();
            --pool.open;
        }
        if (pool.open < pool.config.max_connections) {
            ++pool.open;  // NB: reserve the slot first; connecting takes a while and happens unlocked
            lock.unlock();
            try {
                return PgLease(m_shared,
                               connect_with_session_settings(pool.full_conninfo, pool.config.conninfo));
            } catch (...) {
                lock.lock();
                --pool.open;
                lock.unlock();
                pool.slot_freed.notify_one();  // a waiter may try (the database may be back by then)
                throw;
            }
        }
        const bool available = pool.slot_freed.wait_until(lock, deadline, [&pool] {
            return pool.closed || !pool.idle.empty() || pool.open < pool.config.max_connections;
        });
        if (!available) {
            throw PoolTimeout("all " + std::to_string(pool.config.max_connections) +
                              " PostgreSQL connections stayed in use for " +
                              std::to_string(pool.config.acquire_timeout.count()) + " ms");
        }
    }
}

bool PgPool::warm_up(std::size_t count) noexcept {
    try {
        std::vector<PgLease> leases;  // held together so each acquire() opens a new connection
        for (std::size_t i = 0; i < count && i < m_shared->config.max_connections; ++i) {
            leases.push_back(acquire());
        }
        return true;
    } catch (const std::exception& e) {
        m_shared->logger.log(
            LogLevel::Warn, "SR0202",
            std::string("PostgreSQL is not available yet; will retry on the next request: ") + e.what());
        return false;
    }
}

PgPool::Stats PgPool::stats() const {
    std::lock_guard<std::mutex> lock(m_shared->mutex);
    Stats stats;
    stats.open = m_shared->open;
    stats.idle = m_shared->idle.size();
    stats.leased = stats.open - stats.idle;
    return stats;
}

const PgPoolConfig& PgPool::config() const noexcept { return m_shared->config; }

PgLease::PgLease(std::shared_ptr<PgPool::Shared> pool, std::unique_ptr<pqxx::connection> conn) noexcept
    : m_pool(std::move(pool)), m_conn(std::move(conn)) {}

PgLease::PgLease(PgLease&& other) noexcept
    : m_pool(std::move(other.m_pool)), m_conn(std::move(other.m_conn)), m_invalid(other.m_invalid) {}

PgLease& PgLease::operator=(PgLease&& other) noexcept {
    if (this != &other) {
        release();
        m_pool = std::move(other.m_pool);
        m_conn = std::move(other.m_conn);
        m_invalid = other.m_invalid;
    }
    return *this;
}

PgLease::~PgLease() { release(); }

pqxx::connection& PgLease::connection() const {
    if (!m_conn) throw std::logic_error("PgLease used after it was released or moved from");
    return *m_conn;
}

void PgLease::release() noexcept {
    if (m_conn) m_pool->give_back(std::move(m_conn), m_invalid);
    m_pool.reset();
    m_invalid = false;
}

std::string pg_clinic_array(const std::vector<std::string>& keys) {
    std::string array = "{";
    for (const std::string& key : keys) {
        if (key.empty()) throw std::invalid_argument("empty clinic key");
        for (const char c : key) {
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
                throw std::invalid_argument("a clinic key may hold only a-z, 0-9, '-' and '_'");
        }
        if (array.size() > 1) array += ',';
        array += key;
    }
    return array + "}";
}

}  // namespace sr
