#include "core/delivery_reports.hpp"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <memory>
#include <pqxx/pqxx>
#include <stdexcept>

namespace sr {

namespace {

struct JsonDeleter {
    void operator()(json_t* json) const noexcept { json_decref(json); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

constexpr std::size_t k_max_text = 200;

std::string string_member(json_t* object, const char* name) {
    json_t* value = json_object_get(object, name);
    if (!json_is_string(value)) return "";
    return std::string(json_string_value(value), json_string_length(value));
}

std::optional<int> int_member(json_t* object, const char* name) {
    json_t* value = json_object_get(object, name);
    if (!json_is_integer(value)) return std::nullopt;
    const json_int_t n = json_integer_value(value);
    if (n < -1000000 || n > 1000000) return std::nullopt;
    return static_cast<int>(n);
}

bool printable(const std::string& text) {
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

std::string digits_of(const std::string& text) {
    std::string digits;
    for (char c : text) {
        if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
    }
    return digits;
}

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

}  // namespace

ParsedCallback parse_delivery_callback(const std::string& body) {
    ParsedCallback parsed;
    json_error_t error;
    JsonPtr root(json_loadb(body.data(), body.size(), JSON_REJECT_DUPLICATES, &error));
    if (!root) {
        parsed.error = std::string("not JSON (line ") + std::to_string(error.line) + ")";
        return parsed;
    }
    if (!json_is_object(root.get())) {
        parsed.error = "not a JSON object";
        return parsed;
    }
    DeliveryReport& report = parsed.report;
    report.type = string_member(root.get(), "type");
    if (report.type.size() > k_max_text || !printable(report.type)) {
        parsed.error = "malformed type";
        return parsed;
    }
    if (report.type == "delivery_report_sms") {
        report.kind = CallbackKind::BatchReport;
    } else if (report.type == "recipient_delivery_report_sms") {
        report.kind = CallbackKind::RecipientReport;
    } else {
        report.kind = CallbackKind::Ignored;  // MMS reports, inbound messages: not ours to handle
        parsed.ok = true;
        return parsed;
    }
    report.batch_id = string_member(root.get(), "batch_id");
    report.client_reference = string_member(root.get(), "client_reference");
    if (report.batch_id.empty() || report.batch_id.size() > k_max_text || !printable(report.batch_id)) {
        parsed.error = "no valid batch_id";
        return parsed;
    }
    if (report.client_reference.size() > k_max_text || !printable(report.client_reference)) {
        report.client_reference.clear();
    }
    if (report.kind == CallbackKind::RecipientReport) {
        report.status = string_member(root.get(), "status");
        report.code = int_member(root.get(), "code");
        report.recipient = string_member(root.get(), "recipient");
        const std::string at = string_member(root.get(), "at");
        if (!at.empty()) report.at = parse_iso_utc(at);
    } else {
        // Summary/full: counts per status. A reminder batch has one recipient, so the highest-ranked
        // status listed is its status.
        json_t* statuses = json_object_get(root.get(), "statuses");
        if (!json_is_array(statuses)) {
            parsed.error = "no statuses";
            return parsed;
        }
        std::size_t index;
        json_t* entry;
        json_array_foreach(statuses, index, entry) {
            const std::string status = string_member(entry, "status");
            if (status.empty()) continue;
            if (report.status.empty() || delivery_status_rank(status) > delivery_status_rank(report.status)) {
                report.status = status;
                report.code = int_member(entry, "code");
            }
        }
    }
    if (report.status.empty() || report.status.size() > 40 || !printable(report.status)) {
        parsed.error = "no valid status";
        return parsed;
    }
    parsed.ok = true;
    return parsed;
}

int delivery_status_rank(const std::string& status) {
    if (status == "Queued") return 1;
    if (status == "Delivered") return 4;  // the handset's receipt outranks every other final status
    if (is_final_delivery_status(status)) return 3;
    return 2;  // Dispatched, and anything Sinch adds later
}

bool is_final_delivery_status(const std::string& status) {
    for (const char* final_status :
         {"Delivered", "Failed", "Aborted", "Rejected", "Expired", "Cancelled", "Deleted", "Unknown"}) {
        if (status == final_status) return true;
    }
    return false;
}

bool delivery_means_sent(const std::string& status) {
    for (const char* sent : {"Dispatched", "Delivered", "Failed", "Rejected", "Deleted", "Unknown"}) {
        if (status == sent) return true;
    }
    return false;
}

bool delivery_is_success(const std::string& status) { return status == "Delivered"; }

bool delivery_report_replaces(const std::optional<std::string>& old_status, std::optional<Instant> old_at,
                              const std::string& new_status, Instant new_at) {
    if (!old_status || old_status->empty()) return true;
    const int old_rank = delivery_status_rank(*old_status);
    const int new_rank = delivery_status_rank(new_status);
    if (new_rank != old_rank) return new_rank > old_rank;
    if (new_status == *old_status) return false;  // a duplicate: nothing changes, not even the time
    return !old_at || new_at > *old_at;
}

std::string webhook_signature(const std::string& secret, const std::string& body, const std::string& nonce,
                              const std::string& timestamp) {
    const std::string signed_text = body + "." + nonce + "." + timestamp;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
              reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), digest, &length)) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    return base64(digest, length);
}

SignatureCheck verify_webhook_signature(const std::string& secret, const std::string& body, const std::string& nonce,
                                        const std::string& timestamp, const std::string& signature, Instant now,
                                        std::chrono::seconds max_age) {
    if (signature.empty() || nonce.empty() || timestamp.empty()) return SignatureCheck::Missing;
    if (timestamp.size() > 12 || digits_of(timestamp) != timestamp) return SignatureCheck::Mismatch;
    if (!constant_time_equals(webhook_signature(secret, body, nonce, timestamp), signature)) {
        return SignatureCheck::Mismatch;
    }
    const Instant signed_at{std::chrono::seconds(std::stoll(timestamp))};
    if (signed_at < now - max_age || signed_at > now + max_age) return SignatureCheck::Stale;
    return SignatureCheck::Valid;
}

const char* to_string(SignatureCheck check) noexcept {
    switch (check) {
        case SignatureCheck::Valid: return "valid";
        case SignatureCheck::Missing: return "signature headers missing";
        case SignatureCheck::Mismatch: return "signature does not match";
        case SignatureCheck::Stale: return "signature timestamp too old or in the future";
    }
    return "?";
}

bool constant_time_equals(const std::string& a, const std::string& b) noexcept {
    if (a.size() != b.size()) return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string load_callback_token(pqxx::connection& connection) {
    pqxx::read_transaction tx(connection);
    const pqxx::result rows = tx.exec_params("SELECT value FROM module_secrets WHERE name = $1", "callback_token");
    if (rows.empty()) {
        throw std::runtime_error("the database has no callback token: run sinch-reminder-admin migrate");
    }
    return rows[0][0].as<std::string>();
}

const char* to_string(ApplyOutcome outcome) noexcept {
    switch (outcome) {
        case ApplyOutcome::Applied: return "applied";
        case ApplyOutcome::Unchanged: return "unchanged";
        case ApplyOutcome::UnknownBatch: return "unknown batch";
        case ApplyOutcome::RecipientMismatch: return "recipient mismatch";
        case ApplyOutcome::Ignored: return "ignored";
    }
    return "?";
}

ApplyResult apply_delivery_report(PgLease& lease, const DeliveryReport& report, Instant received_at,
                                  const std::string& remote_addr) {
    ApplyResult result;
    if (report.kind == CallbackKind::Ignored) {
        result.outcome = ApplyOutcome::Ignored;
        return result;
    }
    return with_connection(lease, "applying a delivery report", [&](pqxx::connection& c) {
        pqxx::work txn(c);
        const pqxx::result rows = txn.exec_params(
            "SELECT r.id, r.appointment_id::text, r.status, r.delivery_status,"
            " floor(extract(epoch FROM r.delivery_at))::bigint, a.phone_e164"
            " FROM reminders r JOIN appointments a ON a.id = r.appointment_id WHERE r.batch_id = $1"
            " FOR UPDATE OF r",
            report.batch_id);
        if (rows.empty()) return result;
        const pqxx::row row = rows[0];
        result.reminder_id = row[0].as<std::int64_t>();
        result.appointment_id = row[1].as<std::string>();
        const std::string status = row[2].as<std::string>();
        result.reminder_status = status;
        if (!report.recipient.empty() && digits_of(report.recipient) != digits_of(row[5].as<std::string>())) {
            result.outcome = ApplyOutcome::RecipientMismatch;
            return result;
        }
        std::optional<std::string> old_status;
        if (!row[3].is_null()) old_status = row[3].as<std::string>();
        std::optional<Instant> old_at;
        if (!row[4].is_null()) old_at = Instant(std::chrono::seconds(row[4].as<long long>()));
        const Instant at = report.at.value_or(received_at);
        if (!delivery_report_replaces(old_status, old_at, report.status, at)) {
            result.outcome = ApplyOutcome::Unchanged;
            return result;
        }

        std::string new_status = status;
        std::string attention;
        if (delivery_means_sent(report.status)) {
            if (status == "scheduled") {
                new_status = "sent";
            } else if (status == "cancelled" || status == "superseded") {
                // Sinch had confirmed the cancel, or a lookup found no batch, yet the message went out.
                new_status = "sent";
                attention = status == "superseded"
                                ? "Sinch reports the reminder for the OLD time as " + report.status +
                                      " although the appointment was rescheduled: tell the patient the new time."
                                : "Sinch reports this reminder as " + report.status +
                                      " although the appointment was cancelled: tell the patient it is cancelled.";
                result.needs_attention = true;
            }
        }
        txn.exec_params(
            "UPDATE reminders SET delivery_status = $2, delivery_code = $3, delivery_at = to_timestamp($4),"
            " status = $5, attention = coalesce(nullif($6, ''), attention),"
            " attention_at = CASE WHEN $6 = '' THEN attention_at ELSE now() END"
            " WHERE id = $1",
            result.reminder_id, report.status, report.code, static_cast<long long>(at.time_since_epoch().count()),
            new_status, attention);
        txn.exec_params(
            "INSERT INTO audit_log (appointment_id, action, actor, remote_addr, details)"
            " VALUES ($1::uuid, 'delivery_report', 'sinch', nullif($2, ''), jsonb_build_object("
            "'batch_id', $3::text, 'delivery_status', $4::text, 'code', $5::integer, 'at', to_timestamp($6),"
            " 'reminder_status', CASE WHEN $7::text = $8::text THEN to_jsonb($7::text)"
            " ELSE jsonb_build_object('from', $7::text, 'to', $8::text) END))",
            result.appointment_id, remote_addr, report.batch_id, report.status, report.code,
            static_cast<long long>(at.time_since_epoch().count()), status, new_status);
        if (!attention.empty()) {
            txn.exec_params(
                "INSERT INTO audit_log (appointment_id, action, actor, remote_addr, details)"
                " VALUES ($1::uuid, 'attention', 'sinch', nullif($2, ''), jsonb_build_object('note', $3::text))",
                result.appointment_id, remote_addr, attention);
        }
        txn.commit();
        result.outcome = ApplyOutcome::Applied;
        result.reminder_status = new_status;
        return result;
    });
}

}  // namespace sr
