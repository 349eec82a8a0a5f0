// SinchClient over CurlTransport against the Sinch fake on loopback (tests/sinch_fake, SINCH_FAKE_URL).
// The tests share one fake and run one after another; each starts from POST /_fake/reset.
#include "core/clock.hpp"
#include "core/curl_transport.hpp"
#include "core/sinch_client.hpp"
#include "sinch_fake_control.hpp"

#include <cppunit/extensions/HelperMacros.h>
#include <jansson.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sr::SinchOutcome;
using sr::test::JsonPtr;
using sr::test::string_member;
using sr::test::ensure_curl_initialised;
using sr::test::fake_url;

class RecordingLogger final : public sr::Logger {
  public:
    bool enabled(sr::LogLevel) const noexcept override { return true; }
    void log(sr::LogLevel, const char* id, const std::string& message) noexcept override {
        std::lock_guard<std::mutex> lock(m_mutex);
        lines.push_back(std::string(id ? id : "") + " " + message);
    }
    std::vector<std::string> lines;

  private:
    std::mutex m_mutex;
};

// A loopback port nobody listens on: bind, read the port, close.
int closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        throw std::runtime_error("cannot find a free loopback port");
    ::close(fd);
    return ntohs(address.sin_port);
}

}  // namespace

class SinchClientTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SinchClientTest);
    CPPUNIT_TEST(testScheduleCreatesExactlyOneBatch);
    CPPUNIT_TEST(testTokenIsFetchedOnceAcrossManyCalls);
    CPPUNIT_TEST(testExpiredTokenIsRefreshedOnceAndTheCallSucceeds);
    CPPUNIT_TEST(testServiceUnavailableIsRetryableAndCreatesNothing);
    CPPUNIT_TEST(testRateLimitCarriesRetryAfter);
    CPPUNIT_TEST(testDroppedAnswerIsUnknownAndTheLookupFindsTheBatch);
    CPPUNIT_TEST(testDroppedAnswerOnAReusedConnectionIsNotSentTwice);
    CPPUNIT_TEST(testAnswerSlowerThanTheTimeoutIsUnknown);
    CPPUNIT_TEST(testCodeTextErrorIsRejectedWithSinchsCode);
    CPPUNIT_TEST(testGoogleStyleErrorIsRejectedWithItsStatus);
    CPPUNIT_TEST(testRealValidationErrorIsRejected);
    CPPUNIT_TEST(testWrongKeySecretIsRejected);
    CPPUNIT_TEST(testServicePlanMode);
    CPPUNIT_TEST(testGetUpdateAndCancel);
    CPPUNIT_TEST(testUnknownBatchIsNotFound);
    CPPUNIT_TEST(testClosedPortIsRetryableAndNotSent);
    CPPUNIT_TEST(testConnectionsAreKeptForReuse);
    CPPUNIT_TEST(testConcurrentCallersShareOneTokenAndTheHandles);
    CPPUNIT_TEST_SUITE_END();

  public:
    void setUp() override {
        ensure_curl_initialised();
        m_base_url = m_fake.base_url();
        m_transport = std::make_unique<sr::CurlTransport>();
        control("POST", "/_fake/reset");
        m_client = make_client(project_config());
    }

    void tearDown() override {
        m_client.reset();
        for (const auto& line : m_logger.lines) {
            CPPUNIT_ASSERT_MESSAGE(line, line.find("test-secret") == std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(line, line.find("test-api-token") == std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(line, line.find("5550001234") == std::string::npos);
        }
    }

    sr::SinchConfig project_config() const {
        sr::SinchConfig config;
        config.mode = sr::SinchAuthMode::Project;
        config.project_id = "test-project";
        config.key_id = "test-key";
        config.key_secret = "test-secret";
        config.sms_base_url = m_base_url;
        config.auth_base_url = m_base_url;
        config.from = "+15557654321";
        return config;
    }

    sr::SinchConfig service_plan_config() const { return m_fake.service_plan_config(); }

    std::unique_ptr<sr::SinchClient> make_client(sr::SinchConfig config) {
        return std::make_unique<sr::SinchClient>(std::move(config), *m_transport, m_logger);
    }

    // --- the fake's control API (sinch_fake_control.hpp) ---

    sr::HttpResponse control(const std::string& method, const std::string& path, const std::string& body = "") {
        return m_fake.control(method, path, body);
    }
    JsonPtr control_json(const std::string& method, const std::string& path, const std::string& body = "") {
        return m_fake.control_json(method, path, body);
    }
    long stat(const char* name) { return m_fake.stat(name); }
    void add_fault(const std::string& rule_json) { m_fake.add_fault(rule_json); }
    JsonPtr batches() { return m_fake.batches(); }
    std::size_t recorded_creates() { return m_fake.recorded_creates(); }

    static sr::ScheduleRequest reminder(const std::string& client_reference) {
        sr::ScheduleRequest request;
        request.to_e164 = "+15550001234";
        request.body = "Reminder: appointment with Dr Who on Sat 14:30";
        request.client_reference = client_reference;
        request.send_at = sr::now_utc() + 48h;
        return request;
    }

    // --- tests ---

    void testScheduleCreatesExactlyOneBatch() {
        sr::ScheduleRequest request = reminder("appt-1-r1");
        request.send_at = sr::parse_iso_utc("2031-11-29T13:00:00Z").value();
        const auto result = m_client->schedule(request);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(result.error_text, std::string("ok"),
                                     std::string(sr::to_string(result.outcome)));
        CPPUNIT_ASSERT_EQUAL(201, result.http_status);
        CPPUNIT_ASSERT(result.batch.has_value());
        CPPUNIT_ASSERT_EQUAL(std::string("15550001234"), result.batch->to.at(0));
        CPPUNIT_ASSERT(result.batch->send_at == request.send_at);

        const JsonPtr all = batches();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), json_array_size(all.get()));
        const json_t* batch = json_array_get(all.get(), 0);
        CPPUNIT_ASSERT_EQUAL(result.batch->id, string_member(batch, "id"));
        CPPUNIT_ASSERT_EQUAL(std::string("15550001234"),
                             std::string(json_string_value(json_array_get(json_object_get(batch, "to"), 0))));
        CPPUNIT_ASSERT_EQUAL(std::string("15557654321"), string_member(batch, "from"));
        CPPUNIT_ASSERT_EQUAL(std::string("2031-11-29T13:00:00.000Z"), string_member(batch, "send_at"));
        CPPUNIT_ASSERT_EQUAL(std::string("appt-1-r1"), string_member(batch, "client_reference"));
        CPPUNIT_ASSERT_EQUAL(request.body, string_member(batch, "body"));

        // The headers the SDK sends went over the wire.
        const JsonPtr requests = control_json("GET", "/_fake/requests?method=POST&path_regex=/batches%24");
        const json_t* headers = json_object_get(json_array_get(requests.get(), 0), "headers");
        CPPUNIT_ASSERT_EQUAL(std::string("application/json"), string_member(headers, "content-type"));
        CPPUNIT_ASSERT_EQUAL(std::string("application/json"), string_member(headers, "accept"));
        CPPUNIT_ASSERT(string_member(headers, "user-agent").rfind("mod_sinch_reminder/", 0) == 0);
        CPPUNIT_ASSERT(string_member(headers, "expect").empty());
    }

    void testTokenIsFetchedOnceAcrossManyCalls() {
        std::string last_id;
        for (int i = 0; i < 5; ++i) {
            const auto result = m_client->schedule(reminder("appt-many-" + std::to_string(i)));
            CPPUNIT_ASSERT_MESSAGE(result.error_text, result.ok());
            last_id = result.batch->id;
        }
        for (int i = 0; i < 5; ++i) CPPUNIT_ASSERT(m_client->get_batch(last_id).ok());
        CPPUNIT_ASSERT_EQUAL(1L, stat("token_fetches"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), m_client->token_fetches());
        CPPUNIT_ASSERT_EQUAL(5L, stat("batches"));
    }

    void testExpiredTokenIsRefreshedOnceAndTheCallSucceeds() {
        CPPUNIT_ASSERT(m_client->schedule(reminder("appt-exp-1")).ok());
        control("POST", "/_fake/expire_tokens");
        const auto result = m_client->schedule(reminder("appt-exp-2"));
        CPPUNIT_ASSERT_MESSAGE(result.error_text, result.ok());
        CPPUNIT_ASSERT_EQUAL(2L, stat("token_fetches"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), m_client->token_fetches());
        CPPUNIT_ASSERT_EQUAL(2L, stat("batches"));
        // The same works when the fake's clock runs past the token's lifetime.
        control("POST", "/_fake/clock", R"({"advance_seconds": 4000})");
        const auto later = m_client->get_batch(result.batch->id);
        CPPUNIT_ASSERT_MESSAGE(later.error_text, later.ok());
        CPPUNIT_ASSERT_EQUAL(3L, stat("token_fetches"));
    }

    void testServiceUnavailableIsRetryableAndCreatesNothing() {
        add_fault(
            R"({"match":{"method":"POST","path_regex":"/batches$"},"status":503,"probability":1.0,"count":1,)"
            R"("headers":{"Retry-After":"2"}})");
        const auto result = m_client->schedule(reminder("appt-503"));
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(503, result.http_status);
        CPPUNIT_ASSERT_EQUAL(std::string("service_unavailable"), result.error_code);
        CPPUNIT_ASSERT(result.retry_after_seconds == 2);
        CPPUNIT_ASSERT_EQUAL(0L, stat("batches"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), recorded_creates());  // not retried behind the caller's back
        // The caller's retry then works.
        CPPUNIT_ASSERT(m_client->schedule(reminder("appt-503")).ok());
        CPPUNIT_ASSERT_EQUAL(1L, stat("batches"));
    }

    void testRateLimitCarriesRetryAfter() {
        add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"status":429,"count":1,)"
                  R"("headers":{"Retry-After":"5"}})");
        const auto result = m_client->schedule(reminder("appt-429"));
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(429, result.http_status);
        CPPUNIT_ASSERT(result.retry_after_seconds == 5);
        CPPUNIT_ASSERT_EQUAL(0L, stat("batches"));
    }

    void testDroppedAnswerIsUnknownAndTheLookupFindsTheBatch() {
        add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"act_then_drop":true,"count":1})");
        const auto result = m_client->schedule(reminder("appt-drop-r1"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(result.error_text, std::string("unknown"),
                                     std::string(sr::to_string(result.outcome)));
        CPPUNIT_ASSERT_EQUAL(std::string("outcome_unknown"), result.error_code);
        CPPUNIT_ASSERT_EQUAL(1L, stat("batches"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), recorded_creates());

        const auto found = m_client->find_by_client_reference("appt-drop-r1", sr::now_utc() - 1h);
        CPPUNIT_ASSERT_MESSAGE(found.error_text, found.ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), found.batches.size());
        CPPUNIT_ASSERT(found.batch.has_value());
        CPPUNIT_ASSERT_EQUAL(string_member(json_array_get(batches().get(), 0), "id"), found.batch->id);
        CPPUNIT_ASSERT_EQUAL(std::string("appt-drop-r1"), found.batch->client_reference);
        // An unrelated reference finds nothing.
        const auto none = m_client->find_by_client_reference("appt-drop-r2", sr::now_utc() - 1h);
        CPPUNIT_ASSERT(none.ok());
        CPPUNIT_ASSERT(none.batches.empty());
        CPPUNIT_ASSERT(!none.batch.has_value());
    }

    void testDroppedAnswerOnAReusedConnectionIsNotSentTwice() {
        // libcurl resends a request whose reused keep-alive connection dies before any answer. The
        // transport must not let it: the fake acted on the first copy already.
        const auto warm = m_client->schedule(reminder("appt-warm"));
        CPPUNIT_ASSERT(warm.ok());
        CPPUNIT_ASSERT(m_client->get_batch(warm.batch->id).ok());  // the connection is now warm and idle
        add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"act_then_drop":true,"count":1})");
        const auto result = m_client->schedule(reminder("appt-reused"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(result.error_text, std::string("unknown"),
                                     std::string(sr::to_string(result.outcome)));
        CPPUNIT_ASSERT_EQUAL(2L, stat("batches"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), recorded_creates());
        // The next call gets a healthy handle again.
        CPPUNIT_ASSERT(m_client->get_batch(warm.batch->id).ok());
    }

    void testAnswerSlowerThanTheTimeoutIsUnknown() {
        auto config = project_config();
        config.total_timeout_ms = 400;
        m_client = make_client(config);
        CPPUNIT_ASSERT(m_client->get_batch("warm-up-token").outcome == SinchOutcome::NotFound);
        add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"latency_ms":1200,"count":1})");
        const auto started = std::chrono::steady_clock::now();
        const auto result = m_client->schedule(reminder("appt-slow"));
        const auto took = std::chrono::steady_clock::now() - started;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(result.error_text, std::string("unknown"),
                                     std::string(sr::to_string(result.outcome)));
        CPPUNIT_ASSERT_MESSAGE(std::to_string(took / 1ms) + " ms", took < 1000ms);
        // The fake acts once its delay is over; the lookup then adopts that batch.
        std::optional<sr::Batch> adopted;
        for (int i = 0; i < 30 && !adopted; ++i) {
            std::this_thread::sleep_for(100ms);
            adopted = m_client->find_by_client_reference("appt-slow", sr::now_utc() - 1h).batch;
        }
        CPPUNIT_ASSERT(adopted.has_value());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), recorded_creates());
    }

    void testCodeTextErrorIsRejectedWithSinchsCode() {
        add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"status":400,"count":1,)"
                  R"("shape":"code_text"})");
        const auto result = m_client->schedule(reminder("appt-400"));
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(400, result.http_status);
        CPPUNIT_ASSERT_EQUAL(std::string("syntax_constraint_violation"), result.error_code);
        CPPUNIT_ASSERT_EQUAL(std::string("injected fault: Bad Request"), result.error_text);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), recorded_creates());
    }

    void testGoogleStyleErrorIsRejectedWithItsStatus() {
        add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"status":400,"count":1,)"
                  R"("shape":"google"})");
        const auto result = m_client->schedule(reminder("appt-google"));
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(400, result.http_status);
        CPPUNIT_ASSERT_EQUAL(std::string("INVALID_ARGUMENT"), result.error_code);
        CPPUNIT_ASSERT_EQUAL(std::string("injected fault: Bad Request"), result.error_text);
    }

    void testRealValidationErrorIsRejected() {
        sr::ScheduleRequest request = reminder("appt-long");
        request.body = std::string(2001, 'x');
        const auto result = m_client->schedule(request);
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(std::string("syntax_constraint_violation"), result.error_code);
        CPPUNIT_ASSERT(!result.error_text.empty());
        CPPUNIT_ASSERT_EQUAL(0L, stat("batches"));
    }

    void testWrongKeySecretIsRejected() {
        auto config = project_config();
        config.key_secret = "not-the-secret";
        m_client = make_client(config);
        const auto result = m_client->schedule(reminder("appt-badkey"));
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(std::string("unauthorized"), result.error_code);
        CPPUNIT_ASSERT(result.error_text.find("Sinch rejected the credentials") == 0);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), recorded_creates());

        // A token the fake does not know: 401 without "expired", not retried.
        auto plan = service_plan_config();
        plan.api_token = "wrong-token";
        m_client = make_client(plan);
        const auto plan_result = m_client->schedule(reminder("appt-badtoken"));
        CPPUNIT_ASSERT(plan_result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(401, plan_result.http_status);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), recorded_creates());
    }

    void testServicePlanMode() {
        m_client = make_client(service_plan_config());
        const auto result = m_client->schedule(reminder("appt-plan"));
        CPPUNIT_ASSERT_MESSAGE(result.error_text, result.ok());
        CPPUNIT_ASSERT_EQUAL(0L, stat("token_fetches"));
        const JsonPtr requests = control_json("GET", "/_fake/requests?method=POST&path_regex=/batches%24");
        const json_t* recorded = json_array_get(requests.get(), 0);
        CPPUNIT_ASSERT_EQUAL(std::string("/xms/v1/test-plan/batches"), string_member(recorded, "path"));
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer test-api-token"),
                             string_member(json_object_get(recorded, "headers"), "authorization"));
        CPPUNIT_ASSERT(m_client->get_batch(result.batch->id).ok());
    }

    void testGetUpdateAndCancel() {
        const auto scheduled = m_client->schedule(reminder("appt-ops"));
        CPPUNIT_ASSERT(scheduled.ok());
        const std::string id = scheduled.batch->id;

        const auto got = m_client->get_batch(id);
        CPPUNIT_ASSERT(got.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("appt-ops"), got.batch->client_reference);

        const sr::Instant moved = sr::parse_iso_utc("2031-12-01T08:15:00Z").value();
        const auto updated = m_client->update_send_at(id, moved);
        CPPUNIT_ASSERT_MESSAGE(updated.error_text, updated.ok());
        CPPUNIT_ASSERT(updated.batch->send_at == moved);
        CPPUNIT_ASSERT_EQUAL(std::string("2031-12-01T08:15:00.000Z"),
                             string_member(control_json("GET", "/_fake/batches/" + id).get(), "send_at"));

        const auto canceled = m_client->cancel_batch(id);
        CPPUNIT_ASSERT_MESSAGE(canceled.error_text, canceled.ok());
        CPPUNIT_ASSERT(canceled.batch->canceled);
        CPPUNIT_ASSERT_EQUAL(1L, stat("canceled_batches"));

        // A cancelled batch cannot be moved: Sinch's 403 comes back as Rejected with its code.
        const auto refused = m_client->update_send_at(id, moved + 1h);
        CPPUNIT_ASSERT(refused.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(403, refused.http_status);
        CPPUNIT_ASSERT_EQUAL(std::string("batch_already_dispatched"), refused.error_code);

        // The lookup still lists it, but offers no live batch to adopt.
        const auto found = m_client->find_by_client_reference("appt-ops", sr::now_utc() - 1h);
        CPPUNIT_ASSERT(found.ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), found.batches.size());
        CPPUNIT_ASSERT(found.batches[0].canceled);
        CPPUNIT_ASSERT(!found.batch.has_value());
    }

    void testUnknownBatchIsNotFound() {
        CPPUNIT_ASSERT(m_client->get_batch("01NOSUCHBATCH0000000000000").outcome == SinchOutcome::NotFound);
        CPPUNIT_ASSERT(m_client->cancel_batch("01NOSUCHBATCH0000000000000").outcome ==
                       SinchOutcome::NotFound);
        CPPUNIT_ASSERT(m_client->update_send_at("01NOSUCHBATCH0000000000000", sr::now_utc() + 1h).outcome ==
                       SinchOutcome::NotFound);
    }

    void testClosedPortIsRetryableAndNotSent() {
        const std::string nowhere = "http://127.0.0.1:" + std::to_string(closed_port());
        auto config = service_plan_config();
        config.sms_base_url = nowhere;
        m_client = make_client(config);
        auto result = m_client->schedule(reminder("appt-refused"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(result.error_text, std::string("retryable"),
                                     std::string(sr::to_string(result.outcome)));
        CPPUNIT_ASSERT_EQUAL(std::string("not_sent"), result.error_code);
        CPPUNIT_ASSERT_EQUAL(0, result.http_status);

        // The same for the token endpoint in project mode.
        config = project_config();
        config.auth_base_url = nowhere;
        m_client = make_client(config);
        result = m_client->schedule(reminder("appt-refused"));
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), recorded_creates());

        // And the raw transport says why.
        sr::HttpRequest request;
        request.method = "POST";
        request.url = nowhere + "/xms/v1/test-plan/batches";
        request.body = "{}";
        const sr::HttpResult raw = m_transport->perform(request);
        CPPUNIT_ASSERT(raw.failure == sr::TransportFailure::NotSent);
        CPPUNIT_ASSERT_MESSAGE(raw.error, raw.error.find("curl error 7") != std::string::npos);
    }

    void testConnectionsAreKeptForReuse() {
        for (int i = 0; i < 3; ++i)
            CPPUNIT_ASSERT(m_client->get_batch("x").outcome == SinchOutcome::NotFound);
        // Sequential calls share one handle (and its keep-alive connection); failures would have dropped it.
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), m_transport->idle_handles());
        m_transport->forget_idle_handles_after_fork();
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), m_transport->idle_handles());
        CPPUNIT_ASSERT(m_client->get_batch("x").outcome == SinchOutcome::NotFound);
    }

    void testConcurrentCallersShareOneTokenAndTheHandles() {
        constexpr int k_threads = 8, k_calls = 5;
        std::atomic<int> scheduled{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < k_threads; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < k_calls; ++i) {
                    const auto ref = "appt-" + std::to_string(t) + "-" + std::to_string(i);
                    if (m_client->schedule(reminder(ref)).ok()) ++scheduled;
                }
            });
        for (auto& thread : threads) thread.join();
        CPPUNIT_ASSERT_EQUAL(k_threads * k_calls, scheduled.load());
        CPPUNIT_ASSERT_EQUAL(static_cast<long>(k_threads * k_calls), stat("batches"));
        CPPUNIT_ASSERT_EQUAL(1L, stat("token_fetches"));
        CPPUNIT_ASSERT(m_transport->idle_handles() >= 1 && m_transport->idle_handles() <= 8);
    }

  private:
    std::string m_base_url;
    sr::test::FakeControl m_fake;
    std::unique_ptr<sr::CurlTransport> m_transport;
    RecordingLogger m_logger;
    std::unique_ptr<sr::SinchClient> m_client;
};

CPPUNIT_TEST_SUITE_REGISTRATION(SinchClientTest);
