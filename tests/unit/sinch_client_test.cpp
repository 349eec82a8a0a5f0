// SinchClient against an in-memory HttpTransport: the wire format, token handling and error mapping.
#include "core/clock.hpp"
#include "core/sinch_client.hpp"

#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sr::HttpRequest;
using sr::HttpResult;
using sr::SinchOutcome;

sr::Instant at(const char* iso) { return sr::parse_iso_utc(iso).value(); }

HttpResult http(int status, std::string body, sr::HttpHeaders headers = {}) {
    HttpResult result;
    result.response.status = status;
    result.response.body = std::move(body);
    result.response.headers = std::move(headers);
    return result;
}

HttpResult transport_failure(sr::TransportFailure failure, std::string error) {
    HttpResult result;
    result.failure = failure;
    result.error = std::move(error);
    return result;
}

const char* const k_batch_json =
    R"({"id":"01TESTBATCH000000000000001","to":["15551234567"],"from":"15557654321","canceled":false,)"
    R"("body":"Reminder","type":"mt_text","created_at":"2026-11-27T13:43:31.834Z",)"
    R"("modified_at":"2026-11-27T13:43:31.834Z","delivery_report":"per_recipient",)"
    R"("send_at":"2026-11-29T13:00:00.000Z","expire_at":"2026-12-02T13:00:00.000Z",)"
    R"("client_reference":"appt-42","flash_message":false})";

// Answers the token endpoint itself (token "tok-N", a counter) and everything else from a script;
// an empty script answers 201 with k_batch_json. Records every request.
class ScriptedTransport final : public sr::HttpTransport {
  public:
    HttpResult perform(const HttpRequest& request) override {
        std::function<void()> pause;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            requests.push_back(request);
            if (request.url.find("/oauth2/token") != std::string::npos) {
                pause = token_delay;
                if (!token_answers.empty()) {
                    HttpResult answer = token_answers.front();
                    token_answers.pop_front();
                    return answer;
                }
            } else {
                if (!api_answers.empty()) {
                    HttpResult answer = api_answers.front();
                    api_answers.pop_front();
                    return answer;
                }
                return http(201, k_batch_json);
            }
        }
        if (pause) pause();
        const int n = ++m_tokens_issued;
        return http(200, R"({"access_token":"tok-)" + std::to_string(n) +
                             R"(","token_type":"bearer","expires_in":)" +
                             std::to_string(token_lifetime_seconds) + R"(,"scope":""})");
    }

    std::vector<HttpRequest> api_requests() const {
        std::vector<HttpRequest> out;
        for (const auto& request : requests)
            if (request.url.find("/oauth2/token") == std::string::npos) out.push_back(request);
        return out;
    }

    std::vector<HttpRequest> requests;
    std::deque<HttpResult> api_answers;
    std::deque<HttpResult> token_answers;  // overrides the generated token answers while non-empty
    int token_lifetime_seconds = 3600;
    std::function<void()> token_delay;

  private:
    std::mutex m_mutex;
    std::atomic<int> m_tokens_issued{0};
};

struct LogLine {
    sr::LogLevel level;
    std::string id, message;
};

class RecordingLogger final : public sr::Logger {
  public:
    bool enabled(sr::LogLevel) const noexcept override { return true; }
    void log(sr::LogLevel level, const char* id, const std::string& message) noexcept override {
        std::lock_guard<std::mutex> lock(m_mutex);
        lines.push_back({level, id ? id : "", message});
    }
    bool has_id(const std::string& id) const {
        for (const auto& line : lines)
            if (line.id == id) return true;
        return false;
    }
    std::vector<LogLine> lines;

  private:
    std::mutex m_mutex;
};

std::string header(const HttpRequest& request, const std::string& name) {
    for (const auto& [key, value] : request.headers)
        if (key == name) return value;
    return "<missing>";
}

}  // namespace

class SinchClientTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SinchClientTest);
    CPPUNIT_TEST(testScheduleSendsTheSdkRequestShape);
    CPPUNIT_TEST(testScheduleReadsTheBatchBack);
    CPPUNIT_TEST(testOptionalFieldsAreLeftOut);
    CPPUNIT_TEST(testTokenIsFetchedOnceForManyCalls);
    CPPUNIT_TEST(testTokenIsRefreshedSixtySecondsBeforeExpiry);
    CPPUNIT_TEST(testShortLivedTokenIsRefreshedAtHalfLife);
    CPPUNIT_TEST(testConcurrentCallersShareOneTokenFetch);
    CPPUNIT_TEST(testExpired401RefreshesAndRetriesOnce);
    CPPUNIT_TEST(testExpired401IsRetriedOnlyOnce);
    CPPUNIT_TEST(testUnauthorizedWithoutExpiredIsNotRetried);
    CPPUNIT_TEST(testTokenEndpointRejectsCredentials);
    CPPUNIT_TEST(testTokenEndpoint429IsRetryableWithRetryAfter);
    CPPUNIT_TEST(testRefusedKeyIsRememberedBrieflyNotAskedPerReminder);
    CPPUNIT_TEST(testAccountProblemsAreToldApartFromReminderProblems);
    CPPUNIT_TEST(testTokenEndpointUnreachableIsRetryable);
    CPPUNIT_TEST(testCodeTextErrorShape);
    CPPUNIT_TEST(testGoogleErrorShape);
    CPPUNIT_TEST(testNonJsonErrorBodyIsTolerated);
    CPPUNIT_TEST(test429IsRetryableWithRetryAfterSeconds);
    CPPUNIT_TEST(test503RetryAfterHttpDate);
    CPPUNIT_TEST(testGatewayErrorOnScheduleIsUnknown);
    CPPUNIT_TEST(testUnknownOutcomeIsNeverRetried);
    CPPUNIT_TEST(testNotSentIsRetryable);
    CPPUNIT_TEST(testLostAnswerToReadIsRetryable);
    CPPUNIT_TEST(testUnreadable2xxOnScheduleIsUnknown);
    CPPUNIT_TEST(testInvalidUtf8IsRejectedWithoutSending);
    CPPUNIT_TEST(testGetCancelUpdateRequests);
    CPPUNIT_TEST(testMissingBatchIsNotFound);
    CPPUNIT_TEST(testFindPercentEncodesTheQuery);
    CPPUNIT_TEST(testFindFollowsPagesAndPicksNewestLiveBatch);
    CPPUNIT_TEST(testServicePlanUsesTheStaticToken);
    CPPUNIT_TEST(testDefaultHostsPerRegionAndMode);
    CPPUNIT_TEST(testIncompleteConfigIsRefused);
    CPPUNIT_TEST(testPhoneNumbersAreMaskedInErrorsAndLogs);
    CPPUNIT_TEST(testEveryExchangeIsCountedByOperationAndAnswer);
    CPPUNIT_TEST(testTokenFetchesAndTheExpiredResendAreCounted);
    CPPUNIT_TEST(testAnswerClasses);
    CPPUNIT_TEST_SUITE_END();

  public:
    void setUp() override {
        // NB: CppUnit makes a fresh fixture for every test, so the transport and logger start empty.
        m_now = std::chrono::steady_clock::time_point{} + 1000h;
    }

    void tearDown() override {
        // No secret and no token may ever reach a log line.
        for (const auto& line : m_logger.lines) {
            CPPUNIT_ASSERT_MESSAGE(line.message, line.message.find("test-secret") == std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(line.message, line.message.find("plan-token-secret") == std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(line.message, line.message.find("tok-") == std::string::npos);
            CPPUNIT_ASSERT_MESSAGE(line.message, line.message.find("5551234567") == std::string::npos);
            if (line.level == sr::LogLevel::Warn || line.level == sr::LogLevel::Error)
                CPPUNIT_ASSERT_MESSAGE(line.message, line.id.rfind("SR03", 0) == 0 && line.id.size() == 6);
        }
    }

    static sr::SinchConfig project_config() {
        sr::SinchConfig config;
        config.mode = sr::SinchAuthMode::Project;
        config.project_id = "test-project-id";
        config.key_id = "test-key";
        config.key_secret = "test-secret";
        config.sms_base_url = "http://sms.test/";  // the trailing slash is tolerated
        config.auth_base_url = "http://auth.test";
        config.from = "+15557654321";
        return config;
    }

    sr::SinchClient make_client(sr::SinchConfig config = project_config()) {
        return sr::SinchClient(std::move(config), m_transport, m_logger, [this] { return m_now; });
    }

    static sr::ScheduleRequest capture_request() {
        sr::ScheduleRequest request;
        request.to_e164 = "+15551234567";
        request.body = "Reminder: appointment tomorrow at 10:00";
        request.client_reference = "appt-42";
        request.send_at = at("2026-11-29T13:00:00Z");
        request.delivery_report = "per_recipient";
        request.callback_url = "https://example.test/sinch/dlr";
        return request;
    }

    void testScheduleSendsTheSdkRequestShape() {
        auto client = make_client();
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT_EQUAL(std::string("ok"), std::string(sr::to_string(result.outcome)));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), m_transport.requests.size());

        const HttpRequest& token = m_transport.requests[0];
        CPPUNIT_ASSERT_EQUAL(std::string("POST"), token.method);
        CPPUNIT_ASSERT_EQUAL(std::string("http://auth.test/oauth2/token"), token.url);
        CPPUNIT_ASSERT_EQUAL(std::string("grant_type=client_credentials"), token.body);
        CPPUNIT_ASSERT_EQUAL(std::string("application/x-www-form-urlencoded"), header(token, "Content-Type"));
        // base64("test-key:test-secret")
        CPPUNIT_ASSERT_EQUAL(std::string("Basic dGVzdC1rZXk6dGVzdC1zZWNyZXQ="),
                             header(token, "Authorization"));

        const HttpRequest& send = m_transport.requests[1];
        CPPUNIT_ASSERT_EQUAL(std::string("POST"), send.method);
        CPPUNIT_ASSERT_EQUAL(std::string("http://sms.test/xms/v1/test-project-id/batches"), send.url);
        // Byte for byte the body the official SDK sent (sdk-captures/01-oauth-token-and-send-scheduled.json).
        CPPUNIT_ASSERT_EQUAL(
            std::string(R"({"to":["+15551234567"],"from":"+15557654321",)"
                        R"("body":"Reminder: appointment tomorrow at 10:00",)"
                        R"("send_at":"2026-11-29T13:00:00.000Z","delivery_report":"per_recipient",)"
                        R"("client_reference":"appt-42","callback_url":"https://example.test/sinch/dlr"})"),
            send.body);
        CPPUNIT_ASSERT_EQUAL(std::string("application/json"), header(send, "Content-Type"));
        CPPUNIT_ASSERT_EQUAL(std::string("application/json"), header(send, "Accept"));
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer tok-1"), header(send, "Authorization"));
        CPPUNIT_ASSERT(header(send, "User-Agent").rfind("mod_sinch_reminder/", 0) == 0);
        CPPUNIT_ASSERT_EQUAL(3000L, send.connect_timeout_ms);
        CPPUNIT_ASSERT_EQUAL(10000L, send.total_timeout_ms);
    }

    void testScheduleReadsTheBatchBack() {
        auto client = make_client();
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.ok());
        CPPUNIT_ASSERT_EQUAL(201, result.http_status);
        CPPUNIT_ASSERT(result.batch.has_value());
        CPPUNIT_ASSERT_EQUAL(std::string("01TESTBATCH000000000000001"), result.batch->id);
        CPPUNIT_ASSERT_EQUAL(std::string("appt-42"), result.batch->client_reference);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), result.batch->to.size());
        CPPUNIT_ASSERT_EQUAL(std::string("15551234567"), result.batch->to[0]);  // Sinch drops the '+'
        CPPUNIT_ASSERT(result.batch->send_at == at("2026-11-29T13:00:00Z"));
        CPPUNIT_ASSERT(result.batch->created_at == at("2026-11-27T13:43:31Z"));
        CPPUNIT_ASSERT(!result.batch->canceled);
    }

    void testOptionalFieldsAreLeftOut() {
        auto config = project_config();
        config.from.clear();
        auto client = make_client(config);
        sr::ScheduleRequest request;
        request.to_e164 = "+15551234567";
        request.body = "x";
        request.send_at = at("2026-11-29T13:00:00Z");
        client.schedule(request);
        CPPUNIT_ASSERT_EQUAL(std::string(R"({"to":["+15551234567"],"body":"x",)"
                                         R"("send_at":"2026-11-29T13:00:00.000Z","delivery_report":"none"})"),
                             m_transport.api_requests().at(0).body);
    }

    void testTokenIsFetchedOnceForManyCalls() {
        auto client = make_client();
        for (int i = 0; i < 5; ++i) CPPUNIT_ASSERT(client.schedule(capture_request()).ok());
        CPPUNIT_ASSERT(client.get_batch("01TESTBATCH000000000000001").ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), client.token_fetches());
        for (const auto& request : m_transport.api_requests())
            CPPUNIT_ASSERT_EQUAL(std::string("Bearer tok-1"), header(request, "Authorization"));
    }

    void testTokenIsRefreshedSixtySecondsBeforeExpiry() {
        auto client = make_client();
        CPPUNIT_ASSERT(client.get_batch("b").ok());
        m_now += 3539s;
        CPPUNIT_ASSERT(client.get_batch("b").ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), client.token_fetches());
        m_now += 2s;  // 3541 s: inside the last minute
        CPPUNIT_ASSERT(client.get_batch("b").ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), client.token_fetches());
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer tok-2"),
                             header(m_transport.api_requests().back(), "Authorization"));
    }

    void testShortLivedTokenIsRefreshedAtHalfLife() {
        m_transport.token_lifetime_seconds = 60;
        auto client = make_client();
        CPPUNIT_ASSERT(client.get_batch("b").ok());
        m_now += 29s;
        CPPUNIT_ASSERT(client.get_batch("b").ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), client.token_fetches());
        m_now += 2s;
        CPPUNIT_ASSERT(client.get_batch("b").ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), client.token_fetches());
    }

    void testConcurrentCallersShareOneTokenFetch() {
        m_transport.token_delay = [] { std::this_thread::sleep_for(100ms); };
        auto client = make_client();
        std::atomic<int> ok{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 8; ++i)
            threads.emplace_back([&] {
                if (client.get_batch("b").ok()) ++ok;
            });
        for (auto& thread : threads) thread.join();
        CPPUNIT_ASSERT_EQUAL(8, ok.load());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), client.token_fetches());
    }

    void testExpired401RefreshesAndRetriesOnce() {
        auto client = make_client();
        CPPUNIT_ASSERT(client.get_batch("b").ok());
        m_transport.api_answers.push_back(http(
            401, R"({"code":"unauthorized","text":"access token expired"})",
            {{"www-authenticate", R"(Bearer error="invalid_token", error_description="token expired")"}}));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), client.token_fetches());
        const auto api = m_transport.api_requests();
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), api.size());
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer tok-1"), header(api[1], "Authorization"));
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer tok-2"), header(api[2], "Authorization"));
        CPPUNIT_ASSERT_EQUAL(api[1].body, api[2].body);
    }

    void testExpired401IsRetriedOnlyOnce() {
        auto client = make_client();
        const HttpResult expired =
            http(401, "", {{"www-authenticate", R"(Bearer error="invalid_token", expired)"}});
        m_transport.api_answers = {expired, expired, expired};
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(std::string("unauthorized"), result.error_code);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), m_transport.api_requests().size());
        CPPUNIT_ASSERT(m_logger.has_id("SR0306"));
    }

    void testUnauthorizedWithoutExpiredIsNotRetried() {
        auto client = make_client();
        m_transport.api_answers.push_back(http(401,
                                               R"({"code":"unauthorized","text":"invalid access token"})",
                                               {{"www-authenticate", R"(Bearer error="invalid_token")"}}));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(401, result.http_status);
        CPPUNIT_ASSERT_EQUAL(std::string("unauthorized"), result.error_code);
        CPPUNIT_ASSERT(result.error_text.find("Sinch rejected the credentials") == 0);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), m_transport.api_requests().size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), client.token_fetches());
        CPPUNIT_ASSERT(m_logger.has_id("SR0306"));
        // The refused token is not presented again: the next call starts with a new one.
        CPPUNIT_ASSERT(client.schedule(capture_request()).ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), client.token_fetches());
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer tok-2"),
                             header(m_transport.api_requests().back(), "Authorization"));
    }

    void testTokenEndpointRejectsCredentials() {
        auto client = make_client();
        m_transport.token_answers.push_back(
            http(401, R"({"error":"invalid_client","error_description":"Client authentication failed"})",
                 {{"www-authenticate", R"(Basic realm="sinch")"}}));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(std::string("unauthorized"), result.error_code);
        CPPUNIT_ASSERT(result.error_text.find("Sinch rejected the credentials") == 0);
        CPPUNIT_ASSERT(result.error_text.find("invalid_client") != std::string::npos);
        CPPUNIT_ASSERT(m_transport.api_requests().empty());
        CPPUNIT_ASSERT(m_logger.has_id("SR0306"));
    }

    void testTokenEndpoint429IsRetryableWithRetryAfter() {
        auto client = make_client();
        m_transport.token_answers.push_back(http(429, "", {{"retry-after", "3"}}));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(429, result.http_status);
        CPPUNIT_ASSERT(result.retry_after_seconds == 3);
        CPPUNIT_ASSERT(m_transport.api_requests().empty());
        CPPUNIT_ASSERT(m_logger.has_id("SR0307"));
        // The failure is remembered for its Retry-After (not asked again per reminder), then fetched again.
        m_now += 2s;
        const auto remembered = client.schedule(capture_request());
        CPPUNIT_ASSERT(remembered.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), client.token_fetches());
        m_now += 2s;
        CPPUNIT_ASSERT(client.schedule(capture_request()).ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), client.token_fetches());
    }

    void testRefusedKeyIsRememberedBrieflyNotAskedPerReminder() {
        auto client = make_client();
        m_transport.token_answers.push_back(http(401, R"({"error":"invalid_client"})"));
        CPPUNIT_ASSERT(client.schedule(capture_request()).outcome == SinchOutcome::Rejected);
        for (int i = 0; i < 5; ++i) {
            const auto again = client.schedule(capture_request());
            CPPUNIT_ASSERT(again.outcome == SinchOutcome::Rejected);
            CPPUNIT_ASSERT(sr::account_problem(again) == sr::AccountProblem::CredentialsRejected);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), client.token_fetches());
        m_now += 6s;
        CPPUNIT_ASSERT(client.schedule(capture_request()).ok());  // the key works again
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), client.token_fetches());
    }

    // Which answers are about the whole account: they pause every process instead of failing one reminder.
    void testAccountProblemsAreToldApartFromReminderProblems() {
        auto result = [](sr::SinchOutcome outcome, int status, const char* code, std::optional<int> retry_after) {
            sr::SinchResult r;
            r.outcome = outcome;
            r.http_status = status;
            r.error_code = code;
            r.retry_after_seconds = retry_after;
            return sr::account_problem(r);
        };
        using sr::AccountProblem;
        CPPUNIT_ASSERT(result(SinchOutcome::Retryable, 429, "", std::nullopt) == AccountProblem::RateLimited);
        CPPUNIT_ASSERT(result(SinchOutcome::Retryable, 503, "", 30) == AccountProblem::RateLimited);
        CPPUNIT_ASSERT(result(SinchOutcome::Retryable, 503, "", std::nullopt) == AccountProblem::None);
        CPPUNIT_ASSERT(result(SinchOutcome::Rejected, 401, "unauthorized", std::nullopt) ==
                       AccountProblem::CredentialsRejected);
        CPPUNIT_ASSERT(result(SinchOutcome::Rejected, 403, "blocked_account", std::nullopt) ==
                       AccountProblem::CredentialsRejected);
        CPPUNIT_ASSERT(result(SinchOutcome::Rejected, 403, "illegal_number_type", std::nullopt) == AccountProblem::None);
        CPPUNIT_ASSERT(result(SinchOutcome::Rejected, 403, "batch_already_dispatched", std::nullopt) ==
                       AccountProblem::None);
        CPPUNIT_ASSERT(result(SinchOutcome::Rejected, 400, "syntax_constraint_violation", std::nullopt) ==
                       AccountProblem::None);
    }

    void testTokenEndpointUnreachableIsRetryable() {
        auto client = make_client();
        m_transport.token_answers.push_back(
            transport_failure(sr::TransportFailure::OutcomeUnknown, "Operation timed out (curl error 28)"));
        const auto result = client.schedule(capture_request());
        // Asking for a token changes nothing, so even a lost answer is plainly retryable.
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT(m_transport.api_requests().empty());
    }

    void testCodeTextErrorShape() {
        auto client = make_client();
        m_transport.api_answers.push_back(http(
            400, R"({"code":"syntax_constraint_violation","text":"body: size must be between 0 and 2000"})"));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(400, result.http_status);
        CPPUNIT_ASSERT_EQUAL(std::string("syntax_constraint_violation"), result.error_code);
        CPPUNIT_ASSERT_EQUAL(std::string("body: size must be between 0 and 2000"), result.error_text);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), m_transport.api_requests().size());
        CPPUNIT_ASSERT(m_logger.has_id("SR0305"));
    }

    void testGoogleErrorShape() {
        auto client = make_client();
        m_transport.api_answers.push_back(http(400, R"({"error":{"code":400,"message":"Invalid field: to",)"
                                                    R"("status":"INVALID_ARGUMENT","details":[]}})"));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(std::string("INVALID_ARGUMENT"), result.error_code);
        CPPUNIT_ASSERT_EQUAL(std::string("Invalid field: to"), result.error_text);
    }

    void testNonJsonErrorBodyIsTolerated() {
        auto client = make_client();
        m_transport.api_answers.push_back(http(403, "<html><body>Forbidden\r\n</body></html>"));
        auto result = client.get_batch("b");
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(std::string("http_403"), result.error_code);
        CPPUNIT_ASSERT(result.error_text.find("Forbidden") != std::string::npos);
        CPPUNIT_ASSERT(result.error_text.find('\r') == std::string::npos);

        m_transport.api_answers.push_back(http(503, ""));
        result = client.get_batch("b");
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(std::string("unavailable"), result.error_code);
    }

    void test429IsRetryableWithRetryAfterSeconds() {
        auto client = make_client();
        m_transport.api_answers.push_back(
            http(429, R"({"code":"too_many_requests","text":"slow down"})", {{"retry-after", "7"}}));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(429, result.http_status);
        CPPUNIT_ASSERT(result.retry_after_seconds == 7);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), m_transport.api_requests().size());
        CPPUNIT_ASSERT(m_logger.has_id("SR0304"));
    }

    void test503RetryAfterHttpDate() {
        auto client = make_client();
        // An IMF-fixdate two minutes from now.
        const std::time_t in_two_minutes =
            std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) + 120;
        std::tm utc{};
        gmtime_r(&in_two_minutes, &utc);
        char date[64];
        std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &utc);
        m_transport.api_answers.push_back(http(503, "", {{"retry-after", date}}));
        auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT(result.retry_after_seconds.has_value());
        CPPUNIT_ASSERT_MESSAGE(std::to_string(*result.retry_after_seconds),
                               *result.retry_after_seconds >= 115 && *result.retry_after_seconds <= 121);

        m_transport.api_answers.push_back(http(503, "", {{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}}));
        result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.retry_after_seconds == 0);  // a date in the past: now

        m_transport.api_answers.push_back(http(503, "", {{"retry-after", "soon"}}));
        result = client.schedule(capture_request());
        CPPUNIT_ASSERT(!result.retry_after_seconds.has_value());
    }

    void testGatewayErrorOnScheduleIsUnknown() {
        auto client = make_client();
        // Behind a gateway a 502/504 can hide a batch that was created.
        m_transport.api_answers.push_back(http(504, ""));
        CPPUNIT_ASSERT(client.schedule(capture_request()).outcome == SinchOutcome::Unknown);
        // For a read the same answer is simply retryable.
        m_transport.api_answers.push_back(http(504, ""));
        CPPUNIT_ASSERT(client.get_batch("b").outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), m_transport.api_requests().size());
    }

    void testUnknownOutcomeIsNeverRetried() {
        auto client = make_client();
        m_transport.api_answers.push_back(transport_failure(sr::TransportFailure::OutcomeUnknown,
                                                            "Empty reply from server (curl error 52)"));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Unknown);
        CPPUNIT_ASSERT_EQUAL(0, result.http_status);
        CPPUNIT_ASSERT_EQUAL(std::string("outcome_unknown"), result.error_code);
        CPPUNIT_ASSERT(result.error_text.find("Empty reply") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), m_transport.api_requests().size());
        CPPUNIT_ASSERT(m_logger.has_id("SR0302"));

        m_transport.api_answers.push_back(
            transport_failure(sr::TransportFailure::OutcomeUnknown, "Operation timed out (curl error 28)"));
        CPPUNIT_ASSERT(client.cancel_batch("b").outcome == SinchOutcome::Unknown);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), m_transport.api_requests().size());
    }

    void testNotSentIsRetryable() {
        auto client = make_client();
        m_transport.api_answers.push_back(
            transport_failure(sr::TransportFailure::NotSent, "Connection refused (curl error 7)"));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(std::string("not_sent"), result.error_code);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), m_transport.api_requests().size());
        CPPUNIT_ASSERT(m_logger.has_id("SR0301"));
    }

    void testLostAnswerToReadIsRetryable() {
        auto client = make_client();
        m_transport.api_answers.push_back(
            transport_failure(sr::TransportFailure::OutcomeUnknown, "Operation timed out (curl error 28)"));
        const auto result = client.get_batch("b");
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Retryable);
        CPPUNIT_ASSERT_EQUAL(std::string("no_response"), result.error_code);
        CPPUNIT_ASSERT(m_logger.has_id("SR0303"));
    }

    void testUnreadable2xxOnScheduleIsUnknown() {
        auto client = make_client();
        m_transport.api_answers.push_back(http(201, "not json"));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Unknown);
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_response"), result.error_code);
        CPPUNIT_ASSERT(m_logger.has_id("SR0308"));
    }

    void testInvalidUtf8IsRejectedWithoutSending() {
        auto client = make_client();
        auto request = capture_request();
        request.body = "caf\xC3";
        const auto result = client.schedule(request);
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT_EQUAL(std::string("invalid_request"), result.error_code);
        CPPUNIT_ASSERT(m_transport.requests.empty());
    }

    void testGetCancelUpdateRequests() {
        auto client = make_client();
        CPPUNIT_ASSERT(client.get_batch("01ABC").ok());
        CPPUNIT_ASSERT(client.cancel_batch("01ABC").ok());
        const auto updated = client.update_send_at("01ABC", at("2026-11-30T08:15:00Z"));
        CPPUNIT_ASSERT(updated.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("01TESTBATCH000000000000001"), updated.batch->id);
        const auto api = m_transport.api_requests();
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), api.size());
        CPPUNIT_ASSERT_EQUAL(std::string("GET"), api[0].method);
        CPPUNIT_ASSERT_EQUAL(std::string("http://sms.test/xms/v1/test-project-id/batches/01ABC"), api[0].url);
        CPPUNIT_ASSERT_EQUAL(std::string("DELETE"), api[1].method);
        CPPUNIT_ASSERT_EQUAL(api[0].url, api[1].url);
        CPPUNIT_ASSERT(api[1].body.empty());
        CPPUNIT_ASSERT_EQUAL(std::string("application/json"), header(api[1], "Content-Type"));  // as the SDK
        CPPUNIT_ASSERT_EQUAL(std::string("POST"), api[2].method);
        CPPUNIT_ASSERT_EQUAL(api[0].url, api[2].url);
        CPPUNIT_ASSERT_EQUAL(std::string(R"({"send_at":"2026-11-30T08:15:00.000Z"})"), api[2].body);
    }

    void testMissingBatchIsNotFound() {
        auto client = make_client();
        const auto not_found = http(404, R"({"code":"not_found","text":"no such batch"})");
        m_transport.api_answers = {not_found, not_found, not_found};
        CPPUNIT_ASSERT(client.get_batch("nope").outcome == SinchOutcome::NotFound);
        CPPUNIT_ASSERT(client.cancel_batch("nope").outcome == SinchOutcome::NotFound);
        CPPUNIT_ASSERT(client.update_send_at("nope", at("2026-11-30T08:15:00Z")).outcome ==
                       SinchOutcome::NotFound);
        // A batch id with odd characters stays one path segment.
        client.get_batch("a/b c");
        CPPUNIT_ASSERT(m_transport.api_requests().back().url.find("/batches/a%2Fb%20c") != std::string::npos);
    }

    void testFindPercentEncodesTheQuery() {
        auto client = make_client();
        m_transport.api_answers.push_back(http(200, R"({"count":0,"page":0,"page_size":0,"batches":[]})"));
        const auto result = client.find_by_client_reference("appt 42+x/y&z=1", at("2026-11-26T13:43:23Z"));
        CPPUNIT_ASSERT(result.ok());
        CPPUNIT_ASSERT(result.batches.empty());
        CPPUNIT_ASSERT(!result.batch.has_value());
        const auto api = m_transport.api_requests();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), api.size());
        CPPUNIT_ASSERT_EQUAL(std::string("GET"), api[0].method);
        CPPUNIT_ASSERT_EQUAL(std::string("http://sms.test/xms/v1/test-project-id/batches"
                                         "?client_reference=appt%2042%2Bx%2Fy%26z%3D1"
                                         "&start_date=2026-11-26T13%3A43%3A23.000Z&page=0&page_size=100"),
                             api[0].url);
    }

    static std::string listed_batch(const std::string& id, const std::string& ref, const std::string& created,
                                    bool canceled) {
        return R"({"id":")" + id + R"(","to":["15551234567"],"client_reference":")" + ref +
               R"(","created_at":")" + created + R"(","canceled":)" + (canceled ? "true" : "false") + "}";
    }

    void testFindFollowsPagesAndPicksNewestLiveBatch() {
        auto client = make_client();
        // 101 matches over two pages of 100. Page 0 holds one real match among other references (as if the
        // server matched by prefix); page 1 holds a newer cancelled one and a newest live one.
        std::string page0 = R"({"count":101,"page":0,"page_size":100,"batches":[)";
        page0 += listed_batch("OLD", "ref-1", "2026-11-20T10:00:00.000Z", false);
        for (int i = 0; i < 99; ++i)
            page0 += "," + listed_batch("X" + std::to_string(i), "ref-10", "2026-11-21T10:00:00.000Z", false);
        page0 += "]}";
        const std::string page1 = R"({"count":101,"page":1,"page_size":2,"batches":[)" +
                                  listed_batch("CANCELED", "ref-1", "2026-11-26T10:00:00.000Z", true) + "," +
                                  listed_batch("NEWEST", "ref-1", "2026-11-25T10:00:00.000Z", false) + "]}";
        m_transport.api_answers = {http(200, page0), http(200, page1)};
        const auto result = client.find_by_client_reference("ref-1", at("2026-11-14T00:00:00Z"));
        CPPUNIT_ASSERT(result.ok());
        const auto api = m_transport.api_requests();
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), api.size());
        CPPUNIT_ASSERT(api[1].url.find("&page=1&") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), result.batches.size());
        CPPUNIT_ASSERT_EQUAL(std::string("CANCELED"), result.batches[0].id);  // newest first
        CPPUNIT_ASSERT_EQUAL(std::string("NEWEST"), result.batches[1].id);
        CPPUNIT_ASSERT_EQUAL(std::string("OLD"), result.batches[2].id);
        CPPUNIT_ASSERT(result.batch.has_value());
        CPPUNIT_ASSERT_EQUAL(std::string("NEWEST"), result.batch->id);  // the newest that is not cancelled
    }

    void testServicePlanUsesTheStaticToken() {
        sr::SinchConfig config;
        config.mode = sr::SinchAuthMode::ServicePlan;
        config.service_plan_id = "plan-1";
        config.api_token = "plan-token-secret";
        config.sms_base_url = "http://sms.test";
        auto client = make_client(config);
        CPPUNIT_ASSERT(client.schedule(capture_request()).ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), m_transport.requests.size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), client.token_fetches());
        CPPUNIT_ASSERT_EQUAL(std::string("http://sms.test/xms/v1/plan-1/batches"),
                             m_transport.requests[0].url);
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer plan-token-secret"),
                             header(m_transport.requests[0], "Authorization"));
        // In this mode an "expired" 401 is not a reason to retry: the token is static.
        m_transport.api_answers.push_back(http(401, "", {{"www-authenticate", "Bearer expired"}}));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT(result.error_text.find("service plan ID and the API token") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), m_transport.requests.size());
    }

    void testDefaultHostsPerRegionAndMode() {
        using sr::SinchAuthMode;
        for (const char* region : {"us", "eu", "au", "br", "ca"}) {
            CPPUNIT_ASSERT_EQUAL(std::string("https://zt.") + region + ".sms.api.sinch.com",
                                 sr::sinch_default_sms_base_url(region, SinchAuthMode::Project));
            CPPUNIT_ASSERT_EQUAL(std::string("https://") + region + ".sms.api.sinch.com",
                                 sr::sinch_default_sms_base_url(region, SinchAuthMode::ServicePlan));
        }
        CPPUNIT_ASSERT_EQUAL(std::string("https://eu.sms.api.sinch.com"),
                             sr::sinch_default_sms_base_url("EU", SinchAuthMode::ServicePlan));
        CPPUNIT_ASSERT_THROW(sr::sinch_default_sms_base_url("uk", SinchAuthMode::Project),
                             std::invalid_argument);
        CPPUNIT_ASSERT_THROW(sr::sinch_default_sms_base_url("", SinchAuthMode::ServicePlan),
                             std::invalid_argument);
        CPPUNIT_ASSERT_EQUAL(std::string("https://auth.sinch.com"), sr::sinch_default_auth_base_url());
    }

    void testIncompleteConfigIsRefused() {
        auto config = project_config();
        config.key_secret.clear();
        CPPUNIT_ASSERT_THROW(make_client(config), std::invalid_argument);
        config = project_config();
        config.mode = sr::SinchAuthMode::ServicePlan;  // no service plan id or token
        CPPUNIT_ASSERT_THROW(make_client(config), std::invalid_argument);
    }

    void testPhoneNumbersAreMaskedInErrorsAndLogs() {
        auto client = make_client();
        m_transport.api_answers.push_back(http(
            400, R"({"code":"syntax_invalid_parameter_format","text":"Invalid MSISDN +15551234567 in to"})"));
        const auto result = client.schedule(capture_request());
        CPPUNIT_ASSERT(result.outcome == SinchOutcome::Rejected);
        CPPUNIT_ASSERT(result.error_text.find("5551234567") == std::string::npos);
        CPPUNIT_ASSERT(result.error_text.find("+1********67") != std::string::npos);
        CPPUNIT_ASSERT(!m_logger.lines.empty());  // tearDown checks that no line carries the number
        bool masked_phone_logged = false;
        for (const auto& line : m_logger.lines)
            masked_phone_logged =
                masked_phone_logged || line.message.find("+1********67") != std::string::npos;
        CPPUNIT_ASSERT(masked_phone_logged);
    }

    // The counters (core/metrics.hpp) see each exchange once, as the transport saw it.
    void testEveryExchangeIsCountedByOperationAndAnswer() {
        using Op = sr::SinchOperation;
        using A = sr::SinchAnswer;
        sr::SinchCounters counters{};
        sr::SinchConfig config = project_config();
        config.mode = sr::SinchAuthMode::ServicePlan;
        config.service_plan_id = "plan";
        config.api_token = "plan-token-secret";
        sr::SinchClient client(
            config, m_transport, m_logger, [this] { return m_now; }, &counters);
        CPPUNIT_ASSERT_EQUAL(&counters, &client.counters());
        m_transport.api_answers = {http(429, "{}", {{"retry-after", "1"}}),
                                   http(503, "{}"),
                                   transport_failure(sr::TransportFailure::NotSent, "refused"),
                                   transport_failure(sr::TransportFailure::OutcomeUnknown, "timeout"),
                                   http(400, R"({"code":"syntax_constraint_violation","text":"x"})"),
                                   http(403, R"({"code":"blocked_account","text":"x"})")};
        for (int i = 0; i < 6; ++i) client.schedule(capture_request());
        CPPUNIT_ASSERT(client.schedule(capture_request()).ok());
        CPPUNIT_ASSERT(client.get_batch("b").ok());
        m_transport.api_answers = {http(404, R"({"code":"not_found"})")};
        client.cancel_batch("b");
        client.update_send_at("b", at("2026-11-29T13:00:00Z"));
        CPPUNIT_ASSERT(client.get_delivery_report("b").outcome != SinchOutcome::Ok);  // k_batch_json: no list
        m_transport.api_answers = {http(200, R"({"batches":[],"count":0,"page":0,"page_size":0})")};
        CPPUNIT_ASSERT(client.find_by_client_reference("appt-42", at("2026-11-20T00:00:00Z")).ok());

        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CreateBatch, A::Status429));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CreateBatch, A::Status5xx));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CreateBatch, A::NotSent));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CreateBatch, A::NoAnswer));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CreateBatch, A::Status4xx));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CreateBatch, A::Status403));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CreateBatch, A::Status2xx));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CancelBatch, A::Status4xx));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::UpdateBatch, A::Status2xx));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(3),
                             counters.calls_of(Op::Lookup, A::Status2xx));  // get, report, list
        std::uint64_t total = 0;
        for (const auto& row : counters.calls)
            for (const auto& cell : row) total += cell.load();
        CPPUNIT_ASSERT_EQUAL(static_cast<std::uint64_t>(m_transport.requests.size()),
                             total);  // no token: plan
        CPPUNIT_ASSERT_EQUAL(std::size_t(12), m_transport.requests.size());
    }

    void testTokenFetchesAndTheExpiredResendAreCounted() {
        using Op = sr::SinchOperation;
        using A = sr::SinchAnswer;
        sr::SinchCounters counters{};
        sr::SinchClient client(
            project_config(), m_transport, m_logger, [this] { return m_now; }, &counters);
        m_transport.token_answers = {http(500, "{}")};
        CPPUNIT_ASSERT(!client.get_batch("b").ok());  // no token, no API call
        m_now += 10s;                                 // past the memory of the failed fetch
        m_transport.api_answers.push_back(http(
            401, R"({"code":"unauthorized","text":"access token expired"})",
            {{"www-authenticate", R"(Bearer error="invalid_token", error_description="token expired")"}}));
        CPPUNIT_ASSERT(client.schedule(capture_request()).ok());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::TokenFetch, A::Status5xx));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), counters.calls_of(Op::TokenFetch, A::Status2xx));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CreateBatch, A::Status401));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), counters.calls_of(Op::CreateBatch, A::Status2xx));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), counters.calls_of(Op::Lookup, A::Status2xx));
        // Without a block of its own, a client counts in its own (nothing shared).
        auto other = make_client();
        CPPUNIT_ASSERT(other.get_batch("b").ok());
        CPPUNIT_ASSERT(&other.counters() != &counters);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), other.counters().calls_of(Op::Lookup, A::Status2xx));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), counters.calls_of(Op::Lookup, A::Status2xx));
    }

    void testAnswerClasses() {
        using A = sr::SinchAnswer;
        const auto none = sr::TransportFailure::None;
        CPPUNIT_ASSERT(sr::classify(none, 200) == A::Status2xx);
        CPPUNIT_ASSERT(sr::classify(none, 201) == A::Status2xx);
        CPPUNIT_ASSERT(sr::classify(none, 401) == A::Status401);
        CPPUNIT_ASSERT(sr::classify(none, 403) == A::Status403);
        CPPUNIT_ASSERT(sr::classify(none, 429) == A::Status429);
        CPPUNIT_ASSERT(sr::classify(none, 404) == A::Status4xx);
        CPPUNIT_ASSERT(sr::classify(none, 500) == A::Status5xx);
        CPPUNIT_ASSERT(sr::classify(none, 302) == A::OtherStatus);
        CPPUNIT_ASSERT(sr::classify(sr::TransportFailure::NotSent, 0) == A::NotSent);
        CPPUNIT_ASSERT(sr::classify(sr::TransportFailure::OutcomeUnknown, 0) == A::NoAnswer);
        CPPUNIT_ASSERT_EQUAL(std::string("CreateBatch"),
                             std::string(sr::metric_name(sr::SinchOperation::CreateBatch)));
        CPPUNIT_ASSERT_EQUAL(std::string("NoAnswer"), std::string(sr::metric_name(A::NoAnswer)));
        sr::SinchCounters a{}, b{};
        b.count_call(sr::SinchOperation::Lookup, A::Status429);
        b.count_rate_wait(250);
        sr::add_counters(a, b);
        sr::add_counters(a, b);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), a.calls_of(sr::SinchOperation::Lookup, A::Status429));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), a.rate_waits.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(500), a.rate_wait_ms.load());
    }

  private:
    ScriptedTransport m_transport;
    RecordingLogger m_logger;
    std::chrono::steady_clock::time_point m_now;
};

CPPUNIT_TEST_SUITE_REGISTRATION(SinchClientTest);
