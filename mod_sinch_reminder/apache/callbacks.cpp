#include "apache/callbacks.hpp"

#include <chrono>
#include <map>
#include <mutex>

#include <httpd.h>
#include <http_protocol.h>

#include "apache/runtime.hpp"
#include "apache/staff_common.hpp"
#include "core/api_json.hpp"
#include "core/delivery_reports.hpp"
#include "core/pg_pool.hpp"

namespace sr::apache {

namespace {

constexpr std::size_t k_body_max_bytes = 64 * 1024;

std::string header(const request_rec* r, const char* name) {
    const char* value = apr_table_get(r->headers_in, name);
    return value ? value : "";
}

// Refused callbacks, counted per process and logged at most once a minute (an attacker must not be able
// to flood the error log): the first refusal is logged at once, later ones are summed into the next line.
class RefusalLog {
  public:
    void refused(PageRequest& p, const std::string& why) {
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard<std::mutex> lock(m_mutex);
        ++m_total;
        ++m_by_reason[why];
        if (m_logged_once && now - m_last_logged < std::chrono::minutes(1)) return;
        std::string reasons;
        long long since = 0;
        for (const auto& [reason, count] : m_by_reason) {
            reasons += (reasons.empty() ? "" : ", ") + std::to_string(count) + " " + reason;
            since += count;
        }
        const std::string from = p.r->useragent_ip ? p.r->useragent_ip : "?";
        p.log.log(
            LogLevel::Warn, "SR0501",
            "delivery-report callbacks refused (401): " + std::to_string(since) +
                (m_logged_once ? " since the last report a minute or more ago" : "") + " (" + reasons +
                "; the latest from " + from + "), " + std::to_string(m_total) +
                " in this process since it started; the next count is logged in a minute at the earliest");
        m_by_reason.clear();
        m_last_logged = now;
        m_logged_once = true;
    }

  private:
    std::mutex m_mutex;
    std::map<std::string, long long> m_by_reason;
    long long m_total = 0;
    bool m_logged_once = false;
    std::chrono::steady_clock::time_point m_last_logged{};
};

RefusalLog g_refusals;

int unauthorized(PageRequest& p, const std::string& why) {
    g_refusals.refused(p, why);
    return send_json_text(p.r, HTTP_UNAUTHORIZED, error_json("unauthorized"));
}

}  // namespace

int handle_delivery_callback(PageRequest& p, const std::string& token) {
    if (p.r->method_number != M_POST) {
        apr_table_setn(p.r->headers_out, "Allow", "POST");
        return send_json_text(p.r, HTTP_METHOD_NOT_ALLOWED, error_json("Use POST here."));
    }
    const Settings& s = *p.runtime.settings;
    try {
        const bool url_token = s.callback_auth == "url-token";
        if (url_token) {
            // Checked before the body is even read.
            if (token.empty()) return unauthorized(p, "no token in the URL");
            if (!constant_time_equals(token, callback_token(p.runtime))) return unauthorized(p, "wrong token in the URL");
        } else {
            if (!token.empty())
                return unauthorized(p, "a token in the URL (SinchReminderCallbackAuth is hmac)");
            if (s.callback_secret.empty())
                return unauthorized(p, "no SinchReminderCallbackSecretFile to check signatures");
        }
        std::string body;
        if (const int status = read_body(p.r, k_body_max_bytes, body); status != OK) {
            p.log.log(LogLevel::Warn, "SR0502", "delivery-report callback unreadable (HTTP " + std::to_string(status) + ")");
            return send_json_text(p.r, status, error_json("The request body could not be read."));
        }
        ReportOrigin origin;
        origin.received_at = now_utc();
        origin.remote_addr = p.r->useragent_ip ? p.r->useragent_ip : "";
        if (!url_token) {
            const std::string nonce = header(p.r, "x-sinch-webhook-signature-nonce");
            const std::string timestamp = header(p.r, "x-sinch-webhook-signature-timestamp");
            const SignatureCheck check =
                verify_webhook_signature(s.callback_secret, body, nonce, timestamp,
                                         header(p.r, "x-sinch-webhook-signature"), origin.received_at);
            if (check != SignatureCheck::Valid) return unauthorized(p, to_string(check));
            // Remembered until its timestamp is too old to be accepted again.
            origin.nonce = nonce;
            origin.nonce_expires_at =
                Instant(std::chrono::seconds(std::stoll(timestamp))) + k_callback_replay_window;
        }
        const ParsedCallback parsed = parse_delivery_callback(body);
        if (!parsed.ok) {
            p.log.log(LogLevel::Warn, "SR0502", "delivery-report callback not understood: " + parsed.error);
            return send_json_text(p.r, HTTP_BAD_REQUEST, error_json("Not a delivery report: " + parsed.error));
        }
        if (parsed.report.kind == CallbackKind::Ignored) {
            p.log.log(LogLevel::Debug, "", "callback of type '" + parsed.report.type + "' ignored");
            return send_json_text(p.r, HTTP_OK, "{\"result\":\"ignored\"}");
        }
        const ApplyResult result = [&] {
            PgLease lease = p.runtime.database->acquire();
            return apply_delivery_report(lease, parsed.report, origin);
        }();
        switch (result.outcome) {
            case ApplyOutcome::Replayed:
                return unauthorized(p, "replayed signature nonce");
            case ApplyOutcome::Busy:
                // Its reminder is being handed to Sinch right now: Sinch retries the callback later.
                p.log.log(
                    LogLevel::Info, "",
                    "delivery report for batch " + parsed.report.batch_id +
                        " not stored yet: its reminder is being handed over; answered 503 so Sinch retries");
                apr_table_setn(p.r->headers_out, "Retry-After", "10");
                return send_json_text(p.r, HTTP_SERVICE_UNAVAILABLE, error_json("busy; retry later"));
            case ApplyOutcome::OtherBatch:
                p.log.log(LogLevel::Warn, "SR0531",
                          "delivery report for batch " + parsed.report.batch_id +
                              " names the client_reference of " + "appointment " + result.appointment_id +
                              ", whose reminder has batch " + result.other_batch_id +
                              "; ignored (a second batch for one reminder?)");
                break;
            case ApplyOutcome::BeforeSendTime:
                p.log.log(LogLevel::Warn, "SR0532",
                          "delivery report " + parsed.report.status + " for batch " + parsed.report.batch_id +
                              " is dated before its reminder's send time; ignored");
                break;
            case ApplyOutcome::UnknownBatch:
                p.log.log(LogLevel::Warn, "SR0503",
                          "delivery report for unknown batch " + parsed.report.batch_id + " (status " +
                              parsed.report.status + "); answered 200 so Sinch does not retry it");
                break;
            case ApplyOutcome::RecipientMismatch:
                p.log.log(LogLevel::Warn, "SR0504",
                          "delivery report for batch " + parsed.report.batch_id +
                              " names another recipient than the appointment's number; ignored");
                break;
            default:
                if (p.log.enabled(LogLevel::Debug)) {
                    p.log.log(LogLevel::Debug, "",
                              "delivery report " + parsed.report.status + " for batch " + parsed.report.batch_id +
                                  ": " + to_string(result.outcome) + ", reminder " + result.reminder_status);
                }
        }
        if (result.adopted) {
            p.log.log(LogLevel::Info, "",
                      "batch " + parsed.report.batch_id + " adopted by its delivery report: appointment " +
                          result.appointment_id + ", reminder now " + result.reminder_status);
        }
        if (result.needs_attention) {
            p.log.log(LogLevel::Warn, "SR0505",
                      "appointment " + result.appointment_id + ": Sinch reports its cancelled or replaced reminder as " +
                          parsed.report.status + "; flagged for staff");
        }
        return send_json_text(p.r, HTTP_OK, std::string("{\"result\":\"") + to_string(result.outcome) + "\"}");
    } catch (const DatabaseUnavailable& e) {
        p.log.log(LogLevel::Error, "SR0506", std::string("delivery report: database unavailable: ") + e.what());
        return send_json_text(p.r, HTTP_SERVICE_UNAVAILABLE, error_json("temporarily unavailable"));
    }
}

}  // namespace sr::apache
