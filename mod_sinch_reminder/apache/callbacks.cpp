#include "apache/callbacks.hpp"

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

int unauthorized(PageRequest& p, const std::string& why) {
    p.log.log(LogLevel::Warn, "SR0501", "delivery-report callback refused (401): " + why);
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
        if (s.callback_secret.empty()) {
            // Checked before the body is even read.
            if (token.empty()) return unauthorized(p, "no token in the URL");
            if (!constant_time_equals(token, callback_token(p.runtime))) return unauthorized(p, "wrong token in the URL");
        }
        std::string body;
        if (const int status = read_body(p.r, k_body_max_bytes, body); status != OK) {
            p.log.log(LogLevel::Warn, "SR0502", "delivery-report callback unreadable (HTTP " + std::to_string(status) + ")");
            return send_json_text(p.r, status, error_json("The request body could not be read."));
        }
        if (!s.callback_secret.empty()) {
            const SignatureCheck check = verify_webhook_signature(
                s.callback_secret, body, header(p.r, "x-sinch-webhook-signature-nonce"),
                header(p.r, "x-sinch-webhook-signature-timestamp"), header(p.r, "x-sinch-webhook-signature"),
                now_utc());
            if (check != SignatureCheck::Valid) return unauthorized(p, to_string(check));
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
        const std::string remote_addr = p.r->useragent_ip ? p.r->useragent_ip : "";
        const ApplyResult result = [&] {
            PgLease lease = p.runtime.database->acquire();
            return apply_delivery_report(lease, parsed.report, now_utc(), remote_addr);
        }();
        switch (result.outcome) {
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
