// PgPool against a real PostgreSQL: the mod_dbd behaviours of STYLE.md §3.6, one test each.
#include "component/pg_test_db.hpp"
#include "core/pg_pool.hpp"

#include <cppunit/extensions/HelperMacros.h>

#include <pqxx/except>
#include <pqxx/nontransaction>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>
#include <type_traits>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using sr::test::CapturingLogger;
using sr::test::TestDatabase;
using Clock = std::chrono::steady_clock;

static_assert(std::is_base_of_v<sr::DatabaseUnavailable, sr::PoolTimeout>,
              "a pool timeout must map to 503 like any other unavailable database");
static_assert(!std::is_copy_constructible_v<sr::PgLease>, "a lease is exclusive");

std::string query_text(pqxx::connection& conn, const std::string& sql) {
    pqxx::nontransaction txn(conn);
    return txn.exec(sql)[0][0].as<std::string>();
}

int backend_pid(sr::PgLease& lease) { return lease->backendpid(); }

// Terminates a backend the way a DBA, a restart or a network drop would, and waits until it is gone.
void kill_backend(const std::string& conninfo, int pid) {
    pqxx::connection admin(conninfo);
    pqxx::nontransaction txn(admin);
    txn.exec_params("SELECT pg_terminate_backend($1)", pid);
    for (int i = 0; i < 200; ++i) {
        if (txn.exec_params("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)[0][0].as<int>() == 0)
            return;
        std::this_thread::sleep_for(10ms);
    }
    throw std::runtime_error("backend " + std::to_string(pid) + " did not go away");
}

// A loopback port nobody listens on (bound, then closed again).
int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

}  // namespace

class PgPoolTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(PgPoolTest);
    CPPUNIT_TEST(testReleasedConnectionIsReusedByTheNextLease);
    CPPUNIT_TEST(testLeasesHeldAtOnceHaveTheirOwnConnections);
    CPPUNIT_TEST(testNewConnectionsRunInUtcAndNameTheModule);
    CPPUNIT_TEST(testConninfoSettingsWinOverPoolDefaults);
    CPPUNIT_TEST(testUriConninfoGetsTheSameSessionSettings);
    CPPUNIT_TEST(testAcquireWaitsForALeaseToComeBackWhenAllAreInUse);
    CPPUNIT_TEST(testAcquireThrowsPoolTimeoutWhenAllStayInUse);
    CPPUNIT_TEST(testConnectionBrokenDuringALeaseIsDiscarded);
    CPPUNIT_TEST(testIdleConnectionClosedByTheServerIsReplacedBeforeUse);
    CPPUNIT_TEST(testInvalidatedLeaseIsNotReused);
    CPPUNIT_TEST(testOnlyKeepIdleConnectionsStayOpen);
    CPPUNIT_TEST(testMovedLeaseReturnsItsConnectionOnce);
    CPPUNIT_TEST(testWarmUpOpensConnectionsAhead);
    CPPUNIT_TEST(testUnreachableDatabaseFailsFastWithoutShowingThePassword);
    CPPUNIT_TEST(testDatabaseDownAtStartIsRetriedOnTheNextAcquire);
    CPPUNIT_TEST(testLeaseOutlivingThePoolStillWorksAndIsClosed);
    CPPUNIT_TEST(testInvalidConfigurationIsRefused);
    CPPUNIT_TEST_SUITE_END();

  public:
    void setUp() override { m_db = std::make_unique<TestDatabase>(TestDatabase::Schema::Empty); }
    void tearDown() override { m_db.reset(); }

    void testReleasedConnectionIsReusedByTheNextLease() {
        sr::PgPool pool(config(), m_logger);
        int first_pid = 0;
        {
            sr::PgLease lease = pool.acquire();
            first_pid = backend_pid(lease);
        }
        sr::PgLease lease = pool.acquire();
        CPPUNIT_ASSERT_EQUAL(first_pid, backend_pid(lease));
        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, pool.stats().open);
    }

    void testLeasesHeldAtOnceHaveTheirOwnConnections() {
        sr::PgPool pool(config(), m_logger);
        sr::PgLease first = pool.acquire();
        sr::PgLease second = pool.acquire();
        CPPUNIT_ASSERT(backend_pid(first) != backend_pid(second));
        CPPUNIT_ASSERT_EQUAL(std::size_t{2}, pool.stats().leased);
    }

    void testNewConnectionsRunInUtcAndNameTheModule() {
        sr::PgPool pool(config(), m_logger);
        sr::PgLease lease = pool.acquire();
        CPPUNIT_ASSERT_EQUAL(std::string("UTC"), query_text(lease.connection(), "SHOW TimeZone"));
        CPPUNIT_ASSERT_EQUAL(std::string("mod_sinch_reminder"),
                             query_text(lease.connection(), "SHOW application_name"));
    }

    void testConninfoSettingsWinOverPoolDefaults() {
        sr::PgPoolConfig custom = config();
        custom.conninfo += " application_name=front_desk";
        sr::PgPool pool(custom, m_logger);
        sr::PgLease lease = pool.acquire();
        CPPUNIT_ASSERT_EQUAL(std::string("front_desk"),
                             query_text(lease.connection(), "SHOW application_name"));
    }

    void testUriConninfoGetsTheSameSessionSettings() {
        std::string port;
        {
            pqxx::connection probe(m_db->conninfo());
            port = query_text(probe, "SELECT inet_server_port()::text");
        }
        sr::PgPoolConfig uri = config();
        uri.conninfo = "postgresql://postgres@127.0.0.1:" + port + "/" + m_db->name();
        sr::PgPool pool(uri, m_logger);
        sr::PgLease lease = pool.acquire();
        CPPUNIT_ASSERT_EQUAL(std::string("mod_sinch_reminder"),
                             query_text(lease.connection(), "SHOW application_name"));
        CPPUNIT_ASSERT_EQUAL(m_db->name(), query_text(lease.connection(), "SELECT current_database()"));
    }

    void testAcquireWaitsForALeaseToComeBackWhenAllAreInUse() {
        sr::PgPoolConfig one = config();
        one.max_connections = 1;
        one.acquire_timeout = 5000ms;
        sr::PgPool pool(one, m_logger);
        auto holder = std::make_unique<sr::PgLease>(pool.acquire());
        const int held_pid = backend_pid(*holder);
        std::thread releaser([&holder] {
            std::this_thread::sleep_for(300ms);
            holder.reset();
        });
        const auto started = Clock::now();
        sr::PgLease lease = pool.acquire();
        const auto waited = Clock::now() - started;
        releaser.join();
        CPPUNIT_ASSERT(waited >= 250ms);
        CPPUNIT_ASSERT(waited < 4000ms);
        CPPUNIT_ASSERT_EQUAL(held_pid, backend_pid(lease));
    }

    void testAcquireThrowsPoolTimeoutWhenAllStayInUse() {
        sr::PgPoolConfig two = config();
        two.max_connections = 2;
        two.acquire_timeout = 300ms;
        sr::PgPool pool(two, m_logger);
        sr::PgLease first = pool.acquire();
        sr::PgLease second = pool.acquire();
        const auto started = Clock::now();
        CPPUNIT_ASSERT_THROW(pool.acquire(), sr::PoolTimeout);
        const auto waited = Clock::now() - started;
        CPPUNIT_ASSERT(waited >= 300ms);
        CPPUNIT_ASSERT(waited < 2000ms);
        CPPUNIT_ASSERT_EQUAL(std::size_t{2}, pool.stats().open);  // it never went over max_connections
    }

    void testConnectionBrokenDuringALeaseIsDiscarded() {
        sr::PgPool pool(config(), m_logger);
        int killed_pid = 0;
        {
            sr::PgLease lease = pool.acquire();
            killed_pid = backend_pid(lease);
            kill_backend(m_db->conninfo(), killed_pid);
            CPPUNIT_ASSERT_THROW(query_text(lease.connection(), "SELECT 1"), pqxx::broken_connection);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, pool.stats().open);
        sr::PgLease lease = pool.acquire();
        CPPUNIT_ASSERT(backend_pid(lease) != killed_pid);
        CPPUNIT_ASSERT_EQUAL(std::string("1"), query_text(lease.connection(), "SELECT 1"));
    }

    void testIdleConnectionClosedByTheServerIsReplacedBeforeUse() {
        sr::PgPool pool(config(), m_logger);
        int killed_pid = 0;
        {
            sr::PgLease lease = pool.acquire();
            killed_pid = backend_pid(lease);
        }
        kill_backend(m_db->conninfo(), killed_pid);
        sr::PgLease lease = pool.acquire();
        CPPUNIT_ASSERT(backend_pid(lease) != killed_pid);
        CPPUNIT_ASSERT_EQUAL(std::string("1"), query_text(lease.connection(), "SELECT 1"));
        CPPUNIT_ASSERT(m_logger.contains("discarding an idle PostgreSQL connection"));
    }

    void testInvalidatedLeaseIsNotReused() {
        sr::PgPool pool(config(), m_logger);
        int invalidated_pid = 0;
        {
            sr::PgLease lease = pool.acquire();
            invalidated_pid = backend_pid(lease);
            lease.invalidate();
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, pool.stats().open);
        sr::PgLease lease = pool.acquire();
        CPPUNIT_ASSERT(backend_pid(lease) != invalidated_pid);
    }

    void testOnlyKeepIdleConnectionsStayOpen() {
        sr::PgPoolConfig small = config();
        small.max_connections = 3;
        small.keep_idle = 1;
        sr::PgPool pool(small, m_logger);
        {
            sr::PgLease a = pool.acquire();
            sr::PgLease b = pool.acquire();
            sr::PgLease c = pool.acquire();
            CPPUNIT_ASSERT_EQUAL(std::size_t{3}, pool.stats().open);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, pool.stats().open);
        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, pool.stats().idle);
    }

    void testMovedLeaseReturnsItsConnectionOnce() {
        sr::PgPool pool(config(), m_logger);
        {
            sr::PgLease original = pool.acquire();
            const int pid = backend_pid(original);
            sr::PgLease moved = std::move(original);
            CPPUNIT_ASSERT_EQUAL(pid, backend_pid(moved));
            CPPUNIT_ASSERT_THROW(original.connection(), std::logic_error);
            CPPUNIT_ASSERT_EQUAL(std::size_t{1}, pool.stats().leased);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, pool.stats().leased);
        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, pool.stats().idle);
    }

    void testWarmUpOpensConnectionsAhead() {
        sr::PgPool pool(config(), m_logger);
        CPPUNIT_ASSERT(pool.warm_up(2));
        CPPUNIT_ASSERT_EQUAL(std::size_t{2}, pool.stats().idle);
    }

    void testUnreachableDatabaseFailsFastWithoutShowingThePassword() {
        sr::PgPoolConfig down = config();
        down.conninfo =
            "host=127.0.0.1 port=" + std::to_string(closed_port()) + " user=postgres password=s3cret";
        sr::PgPool pool(down, m_logger);
        const auto started = Clock::now();
        std::string message;
        try {
            pool.acquire();
            CPPUNIT_FAIL("acquire() succeeded against a closed port");
        } catch (const sr::DatabaseUnavailable& e) {
            message = e.what();
        }
        CPPUNIT_ASSERT(Clock::now() - started < 3s);
        CPPUNIT_ASSERT_MESSAGE(message, message.find("s3cret") == std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(message, message.find("127.0.0.1") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, pool.stats().open);  // the failed attempt holds no slot
    }

    // The server's Unix socket appears in a directory only after the pool was created and failed: the same
    // pool object must connect on a later acquire() (mod_dbd's lazy retry), without being rebuilt.
    void testDatabaseDownAtStartIsRetriedOnTheNextAcquire() {
        std::string real_socket_dir;
        std::string port;
        {
            pqxx::connection probe(m_db->conninfo());
            real_socket_dir = query_text(probe, "SHOW unix_socket_directories");
            port = query_text(probe, "SHOW port");
        }
        char dir_template[] = "/tmp/sr-pool-lazy.XXXXXX";
        const std::string socket_dir = ::mkdtemp(dir_template);
        struct RemoveDir {
            std::string path;
            ~RemoveDir() { std::filesystem::remove_all(path); }
        } cleanup{socket_dir};

        sr::PgPoolConfig later = config();
        later.conninfo = "host=" + socket_dir + " port=" + port + " user=postgres dbname=" + m_db->name();
        sr::PgPool pool(later, m_logger);
        CPPUNIT_ASSERT(!pool.warm_up(1));
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0202"));
        CPPUNIT_ASSERT_THROW(pool.acquire(), sr::DatabaseUnavailable);

        const std::string socket_name = "/.s.PGSQL." + port;
        std::filesystem::create_symlink(real_socket_dir + socket_name, socket_dir + socket_name);
        sr::PgLease lease = pool.acquire();
        CPPUNIT_ASSERT_EQUAL(m_db->name(), query_text(lease.connection(), "SELECT current_database()"));
    }

    void testLeaseOutlivingThePoolStillWorksAndIsClosed() {
        auto pool = std::make_unique<sr::PgPool>(config(), m_logger);
        sr::PgLease survivor = pool->acquire();
        const int pid = backend_pid(survivor);
        pool.reset();
        CPPUNIT_ASSERT_EQUAL(std::string("1"), query_text(survivor.connection(), "SELECT 1"));
        survivor.release();
        pqxx::connection observer(m_db->conninfo());
        pqxx::nontransaction txn(observer);
        int still_there = 1;
        for (int i = 0; i < 200 && still_there != 0; ++i) {
            still_there =
                txn.exec_params("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)[0][0].as<int>();
            if (still_there != 0) std::this_thread::sleep_for(10ms);
        }
        CPPUNIT_ASSERT_EQUAL(0, still_there);
    }

    void testInvalidConfigurationIsRefused() {
        sr::PgPoolConfig none = config();
        none.max_connections = 0;
        CPPUNIT_ASSERT_THROW(sr::PgPool(none, m_logger), std::invalid_argument);
        sr::PgPoolConfig forever = config();
        forever.connect_timeout = 0s;
        CPPUNIT_ASSERT_THROW(sr::PgPool(forever, m_logger), std::invalid_argument);
    }

  private:
    sr::PgPoolConfig config() const {
        sr::PgPoolConfig pool_config;
        pool_config.conninfo = m_db->conninfo();
        pool_config.max_connections = 4;
        pool_config.keep_idle = 2;
        pool_config.acquire_timeout = 2000ms;
        pool_config.connect_timeout = 2s;
        return pool_config;
    }

    std::unique_ptr<TestDatabase> m_db;
    CapturingLogger m_logger;
};

CPPUNIT_TEST_SUITE_REGISTRATION(PgPoolTest);
