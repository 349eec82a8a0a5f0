#include "core/sinch_client.hpp"

#include "core/encoding.hpp"
#include "core/redact.hpp"

#include <jansson.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

// The build may pass the project version; the User-Agent then follows it.
#ifndef SR_MODULE_VERSION
#define SR_MODULE_VERSION "0.1.0"
#endif

namespace sr {

namespace {

// Log ids of this component (docs/error-reference.md):
constexpr const char* k_log_not_sent = "SR0301";              // warn: could not reach Sinch; retryable
constexpr const char* k_log_change_unanswered = "SR0302";     // error: change sent, no answer: may exist
constexpr const char* k_log_read_unanswered = "SR0303";       // warn: a read got no answer; retryable
constexpr const char* k_log_sinch_unavailable = "SR0304";     // warn: Sinch 429/5xx; retryable
constexpr const char* k_log_sinch_rejected = "SR0305";        // error: Sinch refused the request (4xx)
constexpr const char* k_log_credentials_rejected = "SR0306";  // error: 401 / token endpoint refused the key
constexpr const char* k_log_token_unavailable = "SR0307";     // warn: token endpoint unreachable or busy
constexpr const char* k_log_invalid_response = "SR0308";      // error: a 2xx answer we cannot read
constexpr const char* k_log_lookup_truncated = "SR0309";      // warn: lookup stopped at the page limit

constexpr const char* k_user_agent = "mod_sinch_reminder/" SR_MODULE_VERSION;
constexpr std::size_t k_list_page_size = 100;  // Sinch's maximum
constexpr int k_list_max_pages = 20;
constexpr std::size_t k_max_error_text = 300;
// How long a failed token fetch is answered from memory.
constexpr std::chrono::seconds k_token_failure_memory_rejected{5};
constexpr std::chrono::seconds k_token_failure_memory_retryable{1};
// Refresh this long before the token expires (the SDK's margin), at most half its lifetime.
constexpr std::chrono::seconds k_token_refresh_margin{60};
constexpr std::chrono::seconds k_default_token_lifetime{3600};

// --- Jansson, owned -------------------------------------------------------------------------

struct JsonDecref {
    void operator()(json_t* json) const noexcept { json_decref(json); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

JsonPtr parse_json(const std::string& text) {
    json_error_t error;
    return JsonPtr(json_loadb(text.data(), text.size(), 0, &error));
}

std::string dump_json(const json_t* json) {
    std::unique_ptr<char, decltype(&std::free)> text(json_dumps(json, JSON_COMPACT), &std::free);
    if (!text) throw std::bad_alloc();
    return text.get();
}

// Adds `value` (a new reference, may be null when Jansson refused the input) to `object`.
bool set_member(json_t* object, const char* key, json_t* value) {
    if (!value) return false;
    if (json_object_set_new(object, key, value) != 0) throw std::bad_alloc();
    return true;
}

std::string string_member(const json_t* object, const char* key) {
    const json_t* value = json_object_get(object, key);
    return json_is_string(value) ? std::string(json_string_value(value), json_string_length(value)) : "";
}

std::optional<Instant> instant_member(const json_t* object, const char* key) {
    const std::string text = string_member(object, key);
    if (text.empty()) return std::nullopt;
    return parse_iso_utc(text);
}

// A batch object; nullopt when it has no id (then it is not a batch at all).
std::optional<Batch> parse_batch(const json_t* json) {
    if (!json_is_object(json)) return std::nullopt;
    Batch batch;
    batch.id = string_member(json, "id");
    if (batch.id.empty()) return std::nullopt;
    batch.client_reference = string_member(json, "client_reference");
    const json_t* to = json_object_get(json, "to");
    if (json_is_array(to)) {
        for (std::size_t i = 0; i < json_array_size(to); ++i) {
            const json_t* recipient = json_array_get(to, i);
            if (json_is_string(recipient)) batch.to.emplace_back(json_string_value(recipient));
        }
    }
    batch.send_at = instant_member(json, "send_at");
    batch.created_at = instant_member(json, "created_at");
    batch.canceled = json_is_true(json_object_get(json, "canceled"));
    return batch;
}

// --- text helpers ---------------------------------------------------------------------------

std::string lower_case(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// Error texts may echo what we sent. Runs of 7+ digits could be phone numbers: mask them like
// mask_phone does; also drop control characters and bound the length.
std::string safe_error_text(const std::string& text) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size() && out.size() < k_max_error_text) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if (std::isdigit(c) ||
            (c == '+' && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
            std::size_t end = i + 1;
            while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
            const std::string run = text.substr(i, end - i);
            const std::size_t digits = run.size() - (run[0] == '+' ? 1 : 0);
            out += digits >= 7 ? mask_phone(run) : run;
            i = end;
            continue;
        }
        out += std::iscntrl(c) ? ' ' : static_cast<char>(c);
        ++i;
    }
    if (i < text.size()) out += "...";
    return out;
}

struct ErrorBody {
    std::string code, text;
};

// Sinch's two error shapes, {"code","text"} and Google-style {"error":{"code","message","status"}},
// and RFC 6749's {"error","error_description"} from the token endpoint. Anything else: the raw text.
ErrorBody parse_error_body(const std::string& body) {
    ErrorBody error;
    const JsonPtr json = parse_json(body);
    if (json_is_object(json.get())) {
        const json_t* nested = json_object_get(json.get(), "error");
        if (json_is_object(nested)) {
            error.code = string_member(nested, "status");
            const json_t* numeric = json_object_get(nested, "code");
            if (error.code.empty() && json_is_integer(numeric))
                error.code = std::to_string(json_integer_value(numeric));
            error.text = string_member(nested, "message");
        } else if (json_is_string(nested)) {
            error.code = json_string_value(nested);
            error.text = string_member(json.get(), "error_description");
        } else {
            error.code = string_member(json.get(), "code");
            error.text = string_member(json.get(), "text");
            if (error.text.empty()) error.text = string_member(json.get(), "message");
        }
        if (!error.code.empty() || !error.text.empty()) {
            error.text = safe_error_text(error.text);
            return error;
        }
    }
    std::string trimmed_body = body;
    trimmed_body.erase(0, trimmed_body.find_first_not_of(" \t\r\n"));
    error.text = safe_error_text(trimmed_body);
    return error;
}

// days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
long days_from_civil(long y, unsigned m, unsigned d) {
    y -= m <= 2;
    const long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<long>(doe) - 719468;
}

// Retry-After: delay-seconds, or an IMF-fixdate ("Wed, 21 Oct 2026 07:28:00 GMT") relative to now.
std::optional<int> parse_retry_after(const std::string& value, Instant now) {
    const std::size_t begin = value.find_first_not_of(' ');
    if (begin == std::string::npos) return std::nullopt;
    const std::string text = value.substr(begin);
    if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) || c == ' '; })) {
        const long seconds = std::strtol(text.c_str(), nullptr, 10);
        return static_cast<int>(std::min(seconds, 86400L));
    }
    char weekday[4] = {}, month_name[4] = {}, zone[4] = {};
    int day = 0, year = 0, hour = 0, minute = 0, second = 0;
    if (std::sscanf(text.c_str(), "%3s, %d %3s %d %d:%d:%d %3s", weekday, &day, month_name, &year, &hour,
                    &minute, &second, zone) != 8 ||
        std::strcmp(zone, "GMT") != 0)
        return std::nullopt;
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto month = std::find_if(std::begin(months), std::end(months),
                                    [&](const char* name) { return std::strcmp(name, month_name) == 0; });
    if (month == std::end(months) || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return std::nullopt;
    const long epoch_seconds = days_from_civil(year, static_cast<unsigned>(month - std::begin(months) + 1),
                                               static_cast<unsigned>(day)) *
                                   86400L +
                               hour * 3600L + minute * 60L + second;
    const long delay = epoch_seconds - static_cast<long>(now.time_since_epoch().count());
    return static_cast<int>(std::clamp(delay, 0L, 86400L));
}

bool is_retryable_status(int status) { return status == 408 || status == 429 || status >= 500; }

std::string strip_trailing_slashes(std::string url) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
}

SinchConfig validated(SinchConfig config) {
    auto require = [](const std::string& value, const char* what) {
        if (value.empty()) throw std::invalid_argument(std::string("Sinch client: ") + what + " is not set");
    };
    config.sms_base_url = strip_trailing_slashes(config.sms_base_url);
    config.auth_base_url = strip_trailing_slashes(config.auth_base_url);
    require(config.sms_base_url, "the SMS base URL");
    if (config.mode == SinchAuthMode::Project) {
        require(config.project_id, "the project ID");
        require(config.key_id, "the access key ID");
        require(config.key_secret, "the access key secret");
        require(config.auth_base_url, "the auth base URL");
    } else {
        require(config.service_plan_id, "the service plan ID");
        require(config.api_token, "the API token");
    }
    return config;
}

SinchResult make_result(SinchOutcome outcome, int status, std::string code, std::string text) {
    SinchResult result;
    result.outcome = outcome;
    result.http_status = status;
    result.error_code = std::move(code);
    result.error_text = std::move(text);
    return result;
}

std::string describe(const SinchResult& result) {
    std::string text = "HTTP " + std::to_string(result.http_status);
    if (!result.error_code.empty()) text += " " + result.error_code;
    if (!result.error_text.empty()) text += ": " + result.error_text;
    if (result.retry_after_seconds)
        text += " (Retry-After " + std::to_string(*result.retry_after_seconds) + " s)";
    return text;
}

}  // namespace

AccountProblem account_problem(const SinchResult& result) noexcept {
    if (result.http_status == 429) return AccountProblem::RateLimited;
    if (result.outcome == SinchOutcome::Retryable && result.retry_after_seconds) return AccountProblem::RateLimited;
    if (result.outcome != SinchOutcome::Rejected) return AccountProblem::None;
    if (result.http_status == 401) return AccountProblem::CredentialsRejected;
    if (result.http_status == 403) {
        // 403s that are about this one request (contract §7); every other 403 (blocked_account, a refused
        // token, ...) is about the account, and nothing was created.
        static constexpr const char* k_about_the_request[] = {"batch_already_dispatched", "illegal_number_type",
                                                              "unknown_group", "conflict_group_name"};
        for (const char* code : k_about_the_request)
            if (result.error_code == code) return AccountProblem::None;
        return AccountProblem::CredentialsRejected;
    }
    return AccountProblem::None;
}

const char* to_string(SinchOutcome outcome) noexcept {
    switch (outcome) {
        case SinchOutcome::Ok:
            return "ok";
        case SinchOutcome::Rejected:
            return "rejected";
        case SinchOutcome::Retryable:
            return "retryable";
        case SinchOutcome::Unknown:
            return "unknown";
        case SinchOutcome::NotFound:
            return "not_found";
    }
    return "?";
}

std::string sinch_default_sms_base_url(const std::string& region, SinchAuthMode mode) {
    const std::string name = lower_case(region);
    static const char* const regions[] = {"us", "eu", "au", "br", "ca"};
    if (std::find(std::begin(regions), std::end(regions), name) == std::end(regions))
        throw std::invalid_argument("unknown Sinch region '" + region + "' (allowed: us, eu, au, br, ca)");
    // The official SDK's pairing: OAuth2 goes to the "zt." hosts, API tokens to the plain regional ones.
    return std::string("https://") + (mode == SinchAuthMode::Project ? "zt." : "") + name +
           ".sms.api.sinch.com";
}

std::string sinch_default_auth_base_url() { return "https://auth.sinch.com"; }

// One API call, described once so that the token retry can send it again unchanged.
struct SinchClient::Call {
    Call(const char* operation_name, SinchOperation counted_as, const char* http_method, std::string call_url,
         std::string log_context)
        : operation(operation_name),
          kind(counted_as),
          method(http_method),
          url(std::move(call_url)),
          context(std::move(log_context)) {}

    const char* operation;  // for logs: "schedule", "get_batch", ...
    SinchOperation kind;    // for the counters
    const char* method;
    std::string url;
    std::string context;  // for logs: batch id, or masked phone and client reference
    std::string body;
    Effect effect = Effect::ReadOnly;
    bool names_a_batch = false;    // 404 then means "no such batch" (NotFound) rather than a wrong path
    bool creates_a_batch = false;  // only schedule(): a 500/502/504 may hide a batch that was created
};

SinchClient::SinchClient(SinchConfig config, HttpTransport& transport, Logger& logger, MonotonicClock now,
                         SinchCounters* counters)
    : m_config(validated(std::move(config))),
      m_transport(transport),
      m_logger(logger),
      m_now(now ? std::move(now) : MonotonicClock([] { return std::chrono::steady_clock::now(); })),
      m_counters(counters ? counters : &m_own_counters) {}

std::string SinchClient::batches_url() const {
    const std::string& id =
        m_config.mode == SinchAuthMode::Project ? m_config.project_id : m_config.service_plan_id;
    return m_config.sms_base_url + "/xms/v1/" + percent_encode(id) + "/batches";
}

HttpHeaders SinchClient::common_headers(const std::string& bearer) const {
    // As the SDK sends them, on every call including GET and DELETE.
    return {{"Content-Type", "application/json"},
            {"Accept", "application/json"},
            {"Authorization", "Bearer " + bearer},
            {"User-Agent", k_user_agent}};
}

// --- OAuth2 -----------------------------------------------------------------------------------

SinchResult SinchClient::fetch_token(std::string& token, std::chrono::seconds& lifetime) {
    HttpRequest request;
    request.method = "POST";
    request.url = m_config.auth_base_url + "/oauth2/token";
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"},
                       {"Authorization", "Basic " + base64(m_config.key_id + ":" + m_config.key_secret)},
                       {"User-Agent", k_user_agent}};
    request.body = "grant_type=client_credentials";
    request.connect_timeout_ms = m_config.connect_timeout_ms;
    request.total_timeout_ms = m_config.total_timeout_ms;

    ++m_token_fetches;
    const HttpResult http = m_transport.perform(request);
    m_counters->count_call(SinchOperation::TokenFetch, classify(http.failure, http.response.status));
    if (http.failure != TransportFailure::None) {
        // Fetching a token changes nothing at Sinch, so even a lost answer is simply retryable.
        auto result =
            make_result(SinchOutcome::Retryable, 0, to_string(http.failure),
                        "could not get an access token from " + m_config.auth_base_url + ": " + http.error);
        m_logger.log(LogLevel::Warn, k_log_token_unavailable, "Sinch OAuth2: " + result.error_text);
        return result;
    }
    const HttpResponse& response = http.response;
    if (response.status == 200) {
        const JsonPtr json = parse_json(response.body);
        token = string_member(json.get(), "access_token");
        const json_t* expires_in = json_object_get(json.get(), "expires_in");
        lifetime = json_is_integer(expires_in) && json_integer_value(expires_in) > 0
                       ? std::chrono::seconds(json_integer_value(expires_in))
                       : k_default_token_lifetime;
        if (!token.empty()) {
            if (m_logger.enabled(LogLevel::Debug))
                m_logger.log(
                    LogLevel::Debug, "",
                    "Sinch OAuth2: got an access token valid for " + std::to_string(lifetime.count()) + " s");
            return make_result(SinchOutcome::Ok, 200, "", "");
        }
        auto result = make_result(SinchOutcome::Retryable, 200, "invalid_response",
                                  "the OAuth2 token response has no access_token");
        m_logger.log(LogLevel::Error, k_log_invalid_response, "Sinch OAuth2: " + result.error_text);
        return result;
    }
    const ErrorBody error = parse_error_body(response.body);
    if (is_retryable_status(response.status)) {
        auto result = make_result(
            SinchOutcome::Retryable, response.status, error.code,
            "the Sinch auth server is unavailable" + (error.text.empty() ? "" : ": " + error.text));
        if (auto retry_after = response.header("retry-after"))
            result.retry_after_seconds = parse_retry_after(*retry_after, now_utc());
        m_logger.log(LogLevel::Warn, k_log_token_unavailable, "Sinch OAuth2: " + describe(result));
        return result;
    }
    std::string detail;
    if (!error.code.empty() || !error.text.empty())
        detail = " (" + error.code + (error.text.empty() ? "" : ": " + error.text) + ")";
    auto result =
        make_result(SinchOutcome::Rejected, response.status, "unauthorized",
                    "Sinch rejected the credentials: check the access key (key ID and secret)" + detail);
    m_logger.log(LogLevel::Error, k_log_credentials_rejected, "Sinch OAuth2: " + describe(result));
    return result;
}

std::optional<std::string> SinchClient::bearer_token(SinchResult& failure) {
    if (m_config.mode == SinchAuthMode::ServicePlan) return m_config.api_token;

    std::unique_lock<std::mutex> lock(m_token_mutex);
    while (m_token.empty() || m_now() >= m_token_refresh_at) {
        if (!m_token_fetch_in_progress) break;
        // Someone else is fetching: wait for that fetch, and share its failure rather than stampede.
        const std::uint64_t awaited = m_token_fetch_generation;
        m_token_fetched.wait(lock, [&] { return m_token_fetch_generation != awaited; });
        if (m_last_token_failure) {
            failure = *m_last_token_failure;
            return std::nullopt;
        }
    }
    if (!m_token.empty() && m_now() < m_token_refresh_at) return m_token;
    if (m_last_token_failure && m_now() < m_token_failure_until) {
        failure = *m_last_token_failure;
        return std::nullopt;
    }

    m_token_fetch_in_progress = true;
    lock.unlock();
    const auto requested_at = m_now();  // the lifetime counts from before the request, to be safe
    std::string token;
    std::chrono::seconds lifetime{0};
    SinchResult result;
    try {
        result = fetch_token(token, lifetime);
    } catch (...) {
        lock.lock();
        m_token_fetch_in_progress = false;
        ++m_token_fetch_generation;
        m_last_token_failure =
            make_result(SinchOutcome::Retryable, 0, "internal_error", "token fetch failed");
        m_token_fetched.notify_all();
        throw;
    }
    lock.lock();
    m_token_fetch_in_progress = false;
    ++m_token_fetch_generation;
    if (result.ok()) {
        m_token = token;
        m_token_refresh_at = requested_at + lifetime - std::min(k_token_refresh_margin, lifetime / 2);
        m_last_token_failure.reset();
    } else {
        m_last_token_failure = result;
        // Refused keys stay refused for a while; an unavailable auth server says when (Retry-After).
        const auto remember = result.retry_after_seconds ? std::chrono::seconds(*result.retry_after_seconds)
                              : result.outcome == SinchOutcome::Rejected ? k_token_failure_memory_rejected
                                                                         : k_token_failure_memory_retryable;
        m_token_failure_until = m_now() + remember;
    }
    m_token_fetched.notify_all();
    if (!result.ok()) {
        failure = result;
        return std::nullopt;
    }
    return token;
}

void SinchClient::drop_token(const std::string& rejected_token) {
    std::lock_guard<std::mutex> lock(m_token_mutex);
    // NB: another thread may already have replaced it; only drop the one Sinch called expired.
    if (m_token == rejected_token) m_token.clear();
}

// --- calls ------------------------------------------------------------------------------------

SinchResult SinchClient::execute(const Call& call, HttpResponse& response) {
    for (int attempt = 0;; ++attempt) {
        SinchResult failure;
        const std::optional<std::string> bearer = bearer_token(failure);
        if (!bearer) return failure;  // no request to the SMS API was made

        SinchResult result = send_once(call, *bearer, response);
        const bool unauthorized = result.http_status == 401 && m_config.mode == SinchAuthMode::Project;
        const bool expired_token =
            unauthorized &&
            lower_case(response.header("www-authenticate").value_or("")).find("expired") != std::string::npos;
        // Whatever Sinch disliked about this token, the next call should not present it again.
        if (unauthorized) drop_token(*bearer);
        if (expired_token && attempt == 0) {
            // The gateway refused the token before the request was processed: safe to send again.
            if (m_logger.enabled(LogLevel::Debug))
                m_logger.log(LogLevel::Debug, "",
                             std::string("Sinch ") + call.operation +
                                 ": access token expired; fetching a new one and retrying once");
            continue;
        }
        if (expired_token) result.error_text += " (a freshly fetched token was called expired too)";
        if (result.outcome == SinchOutcome::Rejected && result.http_status == 401)
            m_logger.log(
                LogLevel::Error, k_log_credentials_rejected,
                std::string("Sinch ") + call.operation + " " + call.context + ": " + describe(result));
        return result;
    }
}

SinchResult SinchClient::send_once(const Call& call, const std::string& bearer, HttpResponse& response) {
    HttpRequest request;
    request.method = call.method;
    request.url = call.url;
    request.headers = common_headers(bearer);
    request.body = call.body;
    request.connect_timeout_ms = m_config.connect_timeout_ms;
    request.total_timeout_ms = m_config.total_timeout_ms;

    HttpResult http = m_transport.perform(request);
    m_counters->count_call(call.kind, classify(http.failure, http.response.status));
    const std::string where = std::string("Sinch ") + call.operation + " " + call.context + ": ";
    if (http.failure == TransportFailure::NotSent) {
        auto result = make_result(SinchOutcome::Retryable, 0, "not_sent",
                                  "could not reach Sinch at " + m_config.sms_base_url + ": " + http.error);
        m_logger.log(LogLevel::Warn, k_log_not_sent, where + result.error_text);
        return result;
    }
    if (http.failure == TransportFailure::OutcomeUnknown) {
        if (call.effect == Effect::ReadOnly) {
            auto result = make_result(SinchOutcome::Retryable, 0, "no_response",
                                      "no answer from Sinch at " + m_config.sms_base_url + ": " + http.error);
            m_logger.log(LogLevel::Warn, k_log_read_unanswered, where + result.error_text);
            return result;
        }
        auto result = make_result(SinchOutcome::Unknown, 0, "outcome_unknown",
                                  "the request reached Sinch but no answer came back (" + http.error +
                                      "); it may have taken effect");
        m_logger.log(LogLevel::Error, k_log_change_unanswered, where + result.error_text);
        return result;
    }

    response = std::move(http.response);
    const int status = response.status;
    if (status >= 200 && status < 300) return make_result(SinchOutcome::Ok, status, "", "");

    const ErrorBody error = parse_error_body(response.body);
    SinchResult result = make_result(SinchOutcome::Rejected, status, error.code, error.text);
    if (auto retry_after = response.header("retry-after"))
        result.retry_after_seconds = parse_retry_after(*retry_after, now_utc());

    if (status == 401) {
        result.error_code = "unauthorized";
        result.error_text =
            m_config.mode == SinchAuthMode::Project
                ? "Sinch rejected the credentials: check the project ID and the access key"
                : "Sinch rejected the credentials: check the service plan ID and the API token";
        if (!error.text.empty()) result.error_text += " (" + error.text + ")";
        return result;  // execute() decides on the retry and logs
    }
    if (status == 404 && call.names_a_batch) {
        result.outcome = SinchOutcome::NotFound;
        if (result.error_code.empty()) result.error_code = "not_found";
        if (m_logger.enabled(LogLevel::Debug)) m_logger.log(LogLevel::Debug, "", where + "no such batch");
        return result;
    }
    if (call.creates_a_batch && (status == 500 || status == 502 || status == 504)) {
        // A gateway error or crash after the request was read can hide a batch that was created.
        result.outcome = SinchOutcome::Unknown;
        if (result.error_code.empty()) result.error_code = "outcome_unknown";
        result.error_text = "Sinch answered HTTP " + std::to_string(status) +
                            "; the batch may have been created" +
                            (error.text.empty() ? "" : " (" + error.text + ")");
        m_logger.log(LogLevel::Error, k_log_change_unanswered, where + describe(result));
        return result;
    }
    if (is_retryable_status(status)) {
        result.outcome = SinchOutcome::Retryable;
        if (result.error_code.empty())
            result.error_code = status == 429 ? "too_many_requests" : "unavailable";
        if (result.error_text.empty())
            result.error_text = status == 429 ? "Sinch is rate limiting requests" : "Sinch is unavailable";
        m_logger.log(LogLevel::Warn, k_log_sinch_unavailable, where + describe(result));
        return result;
    }
    if (result.error_code.empty()) result.error_code = "http_" + std::to_string(status);
    if (result.error_text.empty())
        result.error_text = "Sinch refused the request (HTTP " + std::to_string(status) + ")";
    m_logger.log(LogLevel::Error, k_log_sinch_rejected, where + describe(result));
    return result;
}

namespace {

// Reads the batch from a 2xx answer; a change we cannot confirm is Unknown, a failed read Retryable.
SinchResult with_batch(SinchResult result, const std::string& body, bool changes, Logger& logger,
                       const std::string& where) {
    const JsonPtr json = parse_json(body);
    result.batch = parse_batch(json.get());
    if (result.batch) return result;
    result.outcome = changes ? SinchOutcome::Unknown : SinchOutcome::Retryable;
    result.error_code = "invalid_response";
    result.error_text =
        "Sinch answered HTTP " + std::to_string(result.http_status) + " without a readable batch";
    logger.log(LogLevel::Error, k_log_invalid_response, where + result.error_text);
    return result;
}

}  // namespace

SinchResult SinchClient::schedule(const ScheduleRequest& request) {
    // Members in the SDK's order (contract C01), so the wire body matches the official client's.
    const JsonPtr json(json_object());
    JsonPtr to(json_array());
    if (!json || !to) throw std::bad_alloc();
    json_t* recipient = json_string(request.to_e164.c_str());
    bool valid = recipient && json_array_append_new(to.get(), recipient) == 0;
    valid = valid && set_member(json.get(), "to", to.release());
    if (valid && !m_config.from.empty())
        valid = set_member(json.get(), "from", json_string(m_config.from.c_str()));
    valid = valid && set_member(json.get(), "body", json_stringn(request.body.data(), request.body.size()));
    valid = valid &&
            set_member(json.get(), "send_at", json_string(format_utc_iso_millis(request.send_at).c_str()));
    if (valid && request.expire_at)
        valid = set_member(json.get(), "expire_at", json_string(format_utc_iso_millis(*request.expire_at).c_str()));
    if (valid && !request.delivery_report.empty())
        valid = set_member(json.get(), "delivery_report", json_string(request.delivery_report.c_str()));
    if (valid && !request.client_reference.empty())
        valid = set_member(json.get(), "client_reference", json_string(request.client_reference.c_str()));
    if (valid && !request.callback_url.empty())
        valid = set_member(json.get(), "callback_url", json_string(request.callback_url.c_str()));
    if (!valid) {
        // Jansson refuses strings that are not UTF-8; nothing was sent.
        return make_result(SinchOutcome::Rejected, 0, "invalid_request",
                           "the message could not be encoded (a field is not valid UTF-8)");
    }

    Call call("schedule", SinchOperation::CreateBatch, "POST", batches_url(),
              "to " + mask_phone(request.to_e164) + " ref " + request.client_reference);
    call.body = dump_json(json.get());
    call.effect = Effect::Changes;
    call.creates_a_batch = true;
    HttpResponse response;
    SinchResult result = execute(call, response);
    if (!result.ok()) return result;
    result = with_batch(std::move(result), response.body, true, m_logger, "Sinch schedule: ");
    if (result.ok() && m_logger.enabled(LogLevel::Debug))
        m_logger.log(LogLevel::Debug, "",
                     "Sinch schedule " + call.context + ": batch " + result.batch->id + " at " +
                         format_utc_iso_millis(request.send_at));
    return result;
}

std::string SinchClient::batch_url(const std::string& batch_id) const {
    return batches_url() + "/" + percent_encode(batch_id);
}

SinchResult SinchClient::get_batch(const std::string& batch_id) {
    Call call("get_batch", SinchOperation::Lookup, "GET", batch_url(batch_id), "batch " + batch_id);
    call.names_a_batch = true;
    HttpResponse response;
    SinchResult result = execute(call, response);
    if (!result.ok()) return result;
    return with_batch(std::move(result), response.body, false, m_logger, "Sinch get_batch: ");
}

SinchResult SinchClient::cancel_batch(const std::string& batch_id) {
    Call call("cancel_batch", SinchOperation::CancelBatch, "DELETE", batch_url(batch_id),
              "batch " + batch_id);
    call.effect = Effect::Changes;
    call.names_a_batch = true;
    HttpResponse response;
    SinchResult result = execute(call, response);
    if (!result.ok()) return result;
    return with_batch(std::move(result), response.body, true, m_logger, "Sinch cancel_batch: ");
}

SinchResult SinchClient::update_send_at(const std::string& batch_id, Instant send_at) {
    const JsonPtr json(json_object());
    if (!json) throw std::bad_alloc();
    set_member(json.get(), "send_at", json_string(format_utc_iso_millis(send_at).c_str()));
    Call call("update_send_at", SinchOperation::UpdateBatch, "POST", batch_url(batch_id),
              "batch " + batch_id);
    call.body = dump_json(json.get());
    call.effect = Effect::Changes;
    call.names_a_batch = true;
    HttpResponse response;
    SinchResult result = execute(call, response);
    if (!result.ok()) return result;
    return with_batch(std::move(result), response.body, true, m_logger, "Sinch update_send_at: ");
}

SinchResult SinchClient::get_delivery_report(const std::string& batch_id) {
    Call call("get_delivery_report", SinchOperation::Lookup, "GET",
              batch_url(batch_id) + "/delivery_report?type=summary", "batch " + batch_id);
    call.names_a_batch = true;
    HttpResponse response;
    SinchResult result = execute(call, response);
    if (!result.ok()) return result;
    const JsonPtr json = parse_json(response.body);
    const json_t* statuses = json_object_get(json.get(), "statuses");
    if (!json_is_array(statuses)) {
        auto invalid = make_result(SinchOutcome::Retryable, response.status, "invalid_response",
                                   "Sinch answered the delivery report without a readable status list");
        m_logger.log(LogLevel::Error, k_log_invalid_response, "Sinch get_delivery_report " + call.context + ": " +
                                                                  invalid.error_text);
        return invalid;
    }
    for (std::size_t i = 0; i < json_array_size(statuses); ++i) {
        const json_t* line = json_array_get(statuses, i);
        DeliveryStatusCount status;
        status.status = string_member(line, "status");
        const json_t* code = json_object_get(line, "code");
        const json_t* count = json_object_get(line, "count");
        status.code = json_is_integer(code) ? static_cast<int>(json_integer_value(code)) : 0;
        status.count = json_is_integer(count) ? static_cast<int>(json_integer_value(count)) : 0;
        if (!status.status.empty()) result.statuses.push_back(std::move(status));
    }
    return result;
}

SinchResult SinchClient::find_by_client_reference(const std::string& client_reference,
                                                  Instant created_since) {
    SinchResult result = make_result(SinchOutcome::Ok, 0, "", "");
    for (int page = 0;; ++page) {
        if (page == k_list_max_pages) {
            m_logger.log(LogLevel::Warn, k_log_lookup_truncated,
                         "Sinch find_by_client_reference ref " + client_reference + ": stopped after " +
                             std::to_string(k_list_max_pages) + " pages");
            break;
        }
        const std::string url = batches_url() + "?client_reference=" + percent_encode(client_reference) +
                                "&start_date=" + percent_encode(format_utc_iso_millis(created_since)) +
                                "&page=" + std::to_string(page) +
                                "&page_size=" + std::to_string(k_list_page_size);
        const Call call("find_by_client_reference", SinchOperation::Lookup, "GET", url,
                        "ref " + client_reference + " page " + std::to_string(page));
        HttpResponse response;
        SinchResult page_result = execute(call, response);
        if (!page_result.ok()) return page_result;
        result.http_status = page_result.http_status;

        const JsonPtr json = parse_json(response.body);
        const json_t* batches = json_object_get(json.get(), "batches");
        const json_t* count = json_object_get(json.get(), "count");
        if (!json_is_array(batches) || !json_is_integer(count)) {
            auto invalid = make_result(SinchOutcome::Retryable, response.status, "invalid_response",
                                       "Sinch answered the batch list without a readable list");
            m_logger.log(LogLevel::Error, k_log_invalid_response,
                         "Sinch find_by_client_reference " + call.context + ": " + invalid.error_text);
            return invalid;
        }
        for (std::size_t i = 0; i < json_array_size(batches); ++i) {
            std::optional<Batch> batch = parse_batch(json_array_get(batches, i));
            // NB: exact match even if a server treated the filter as a prefix.
            if (batch && batch->client_reference == client_reference)
                result.batches.push_back(std::move(*batch));
        }
        // The SDK's rule: more pages while page < ceil(count / page_size) - 1.
        const auto total = static_cast<std::size_t>(std::max<json_int_t>(0, json_integer_value(count)));
        const std::size_t pages = (total + k_list_page_size - 1) / k_list_page_size;
        if (json_array_size(batches) == 0 || static_cast<std::size_t>(page) + 1 >= pages) break;
    }
    // Newest first; a batch without created_at sorts last.
    std::stable_sort(result.batches.begin(), result.batches.end(), [](const Batch& a, const Batch& b) {
        return a.created_at.value_or(Instant::min()) > b.created_at.value_or(Instant::min());
    });
    const auto live = std::find_if(result.batches.begin(), result.batches.end(),
                                   [](const Batch& batch) { return !batch.canceled; });
    if (live != result.batches.end()) result.batch = *live;
    if (m_logger.enabled(LogLevel::Debug))
        m_logger.log(LogLevel::Debug, "",
                     "Sinch find_by_client_reference ref " + client_reference + ": " +
                         std::to_string(result.batches.size()) + " batch(es)");
    return result;
}

}  // namespace sr
