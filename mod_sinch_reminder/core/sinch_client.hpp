#pragma once
// Client for the Sinch SMS REST API (xms/v1) as described in shared/sinch/contract.md: schedule, look up,
// move and cancel reminder batches, with OAuth2 (project) or static API token (service plan) auth.
//
// Every outcome is a SinchResult value; the client throws only for programming errors and out-of-memory.
// NB: nothing that may have created a batch is ever repeated here. schedule() answers Unknown when the
// request went out but no answer came back, and the caller looks the batch up by client_reference.
#include "core/clock.hpp"
#include "core/http_transport.hpp"
#include "core/logger.hpp"
#include "core/metrics.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sr {

enum class SinchAuthMode {
    Project,      // project ID + access key: OAuth2 client credentials against auth_base_url
    ServicePlan,  // service plan ID + static API token
};

struct SinchConfig {
    SinchAuthMode mode = SinchAuthMode::Project;
    std::string project_id, key_id, key_secret;  // Project mode
    std::string service_plan_id, api_token;      // ServicePlan mode
    std::string sms_base_url;                    // e.g. "https://zt.us.sms.api.sinch.com", no trailing slash
    std::string auth_base_url;                   // e.g. "https://auth.sinch.com" (Project mode only)
    std::string from;                            // sender; empty: the account's default originator
    long connect_timeout_ms = 3000;
    long total_timeout_ms = 10000;
};

// The SMS host the official SDK uses: "https://zt.{region}.sms.api.sinch.com" for OAuth2,
// "https://{region}.sms.api.sinch.com" for a service plan. Region is us|eu|au|br|ca (case-insensitive);
// anything else throws std::invalid_argument. (Sinch documents OAuth2 for SMS in us and eu only.)
std::string sinch_default_sms_base_url(const std::string& region, SinchAuthMode mode);
// "https://auth.sinch.com"
std::string sinch_default_auth_base_url();

struct ScheduleRequest {
    std::string to_e164;           // "+15551234567"
    std::string body;              // message text (never logged)
    std::string client_reference;  // identifies this reminder revision; the key for lookups after Unknown
    Instant send_at;               // sent as "2026-11-29T13:00:00.000Z"
    // Sinch gives up delivering after this (default and maximum: send_at + 3 days). The dispatcher sets the
    // appointment's start, so a delayed SMS never arrives after the visit.
    std::optional<Instant> expire_at;
    std::string delivery_report = "none";
    std::string callback_url;  // empty: not sent (the service plan's default applies)
};

// One line of a batch's delivery report: how many recipients have this status and code.
struct DeliveryStatusCount {
    std::string status;  // Queued, Dispatched, Delivered, Failed, Aborted, Rejected, Expired, Cancelled, ...
    int code = 0;        // e.g. 0 delivered, 401 dispatched, 410 unmatched default originator
    int count = 0;
};

// What we read back from a batch. MSISDNs come back without '+' ("15551234567").
struct Batch {
    std::string id, client_reference;
    std::vector<std::string> to;
    std::optional<Instant> send_at, created_at;
    bool canceled = false;
};

enum class SinchOutcome {
    Ok,
    Rejected,   // definitive 4xx (bad request, credentials, dispatched batch...): do not retry as is
    Retryable,  // 5xx, 429, or the request never left: retry later, honouring retry_after_seconds
    Unknown,    // a change was sent but no answer came back: it may have happened. Before any retry of
                // schedule(), look the batch up with find_by_client_reference
    NotFound,   // 404 for a batch ID (get, cancel, update)
};
// "ok", "rejected", "retryable", "unknown", "not_found" (stable; used in logs and stored errors)
const char* to_string(SinchOutcome outcome) noexcept;

// What an answer says about the whole Sinch account rather than about one reminder.
enum class AccountProblem {
    None,
    RateLimited,          // 429, or any answer with Retry-After: nobody may call for that long
    CredentialsRejected,  // 401/403 from the SMS API or the token endpoint: nothing was created; retry later
};
struct SinchResult;
AccountProblem account_problem(const SinchResult& result) noexcept;

struct SinchResult {
    SinchOutcome outcome = SinchOutcome::Retryable;
    int http_status = 0;     // 0 when no HTTP response arrived
    std::string error_code;  // Sinch's code ("syntax_constraint_violation", "INVALID_ARGUMENT"), or ours:
                             // "unauthorized", "not_sent", "outcome_unknown", "invalid_response", ...
    std::string error_text;  // for staff and logs; digit runs that could be phone numbers are masked
    std::optional<int> retry_after_seconds;  // from Retry-After (seconds or HTTP date)
    std::optional<Batch> batch;              // the batch acted on; for lookups the newest live match
    std::vector<Batch> batches;              // lookups: every match, newest first
    std::vector<DeliveryStatusCount> statuses;  // get_delivery_report

    bool ok() const noexcept { return outcome == SinchOutcome::Ok; }
};

// Thread-safe. One per (credentials, host) per process, so the OAuth2 token is shared.
class SinchClient {
  public:
    using MonotonicClock = std::function<std::chrono::steady_clock::time_point()>;

    // The transport and logger must outlive the client. `now` (default: steady_clock) decides when the
    // token is due for refresh. Every exchange is counted in `counters` (which must outlive the client; in
    // httpd a block every child process shares), or in a block of the client's own when null.
    // Throws std::invalid_argument if the config lacks what its mode needs.
    SinchClient(SinchConfig config, HttpTransport& transport, Logger& logger, MonotonicClock now = nullptr,
                SinchCounters* counters = nullptr);

    // POST /xms/v1/{id}/batches. Never repeated internally once it may have reached Sinch.
    SinchResult schedule(const ScheduleRequest& request);
    // GET /xms/v1/{id}/batches/{batch_id}
    SinchResult get_batch(const std::string& batch_id);
    // DELETE /xms/v1/{id}/batches/{batch_id}
    SinchResult cancel_batch(const std::string& batch_id);
    // POST /xms/v1/{id}/batches/{batch_id} {"send_at": ...}
    SinchResult update_send_at(const std::string& batch_id, Instant send_at);
    // GET /xms/v1/{id}/batches/{batch_id}/delivery_report?type=summary: `statuses` holds its lines.
    SinchResult get_delivery_report(const std::string& batch_id);
    // GET /xms/v1/{id}/batches?client_reference=...&start_date=..., every page. Ok with an empty list when
    // nothing matches. NB: Sinch lists only batches created in the last 14 days.
    SinchResult find_by_client_reference(const std::string& client_reference, Instant created_since);

    // OAuth2 token requests sent so far by this client (tests and benchmarks).
    std::size_t token_fetches() const noexcept { return m_token_fetches.load(); }
    // Where this client counts its calls; its dispatchers count their rate waits there too.
    SinchCounters& counters() const noexcept { return *m_counters; }

  private:
    enum class Effect { ReadOnly, Changes };  // whether a lost answer can mean something happened
    struct Call;
    // Sends the call, with one token refresh and resend on a 401 that says "expired". `response` gets
    // the last HTTP answer.
    SinchResult execute(const Call& call, HttpResponse& response);
    // One exchange, mapped to a SinchResult (logged, except 401s, which execute() handles).
    SinchResult send_once(const Call& call, const std::string& bearer, HttpResponse& response);
    // The bearer token to use, fetching one if needed (single-flight). Fills `failure` when none is had.
    std::optional<std::string> bearer_token(SinchResult& failure);
    // POST {auth_base_url}/oauth2/token; on Ok fills the token and its lifetime.
    SinchResult fetch_token(std::string& token, std::chrono::seconds& lifetime);
    // Forgets the cached token if it is still `rejected_token`, so the next call fetches a new one.
    void drop_token(const std::string& rejected_token);
    // {sms_base_url}/xms/v1/{project or service plan id}/batches[/{batch_id}]
    std::string batches_url() const;
    std::string batch_url(const std::string& batch_id) const;
    // Content-Type, Accept, Authorization and User-Agent, as the SDK sends them.
    HttpHeaders common_headers(const std::string& bearer) const;

    const SinchConfig m_config;
    HttpTransport& m_transport;
    Logger& m_logger;
    const MonotonicClock m_now;
    SinchCounters m_own_counters{};  // used when the constructor was given none
    SinchCounters* const m_counters;

    // OAuth2 token cache. NB: one fetch at a time; other callers wait for its result (single-flight).
    std::mutex m_token_mutex;
    std::condition_variable m_token_fetched;
    std::string m_token;                                       // empty: none
    std::chrono::steady_clock::time_point m_token_refresh_at;  // use a new one from here on
    bool m_token_fetch_in_progress = false;
    std::uint64_t m_token_fetch_generation = 0;  // bumped when a fetch finishes
    std::optional<SinchResult> m_last_token_failure;
    // A refused or failed token fetch is answered from memory until then, instead of once per reminder.
    std::chrono::steady_clock::time_point m_token_failure_until{};
    std::atomic<std::size_t> m_token_fetches{0};
};

}  // namespace sr
