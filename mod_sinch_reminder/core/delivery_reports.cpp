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

std::string string_member_of(json_t* value) {
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
                // A full report lists the numbers; a reminder's batch has exactly one.
                json_t* recipients = json_object_get(entry, "recipients");
                report.recipient.clear();
                if (json_is_array(recipients) && json_array_size(recipients) == 1) {
                    report.recipient = string_member_of(json_array_get(recipients, 0));
                    if (report.recipient.size() > 20 || !printable(report.recipient))
                        report.recipient.clear();
                }
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
    if (nonce.size() > 200 || !printable(nonce)) return SignatureCheck::Mismatch;
    if (!constant_time_equals(webhook_signature(secret, body, nonce, timestamp), signature)) {
        return SignatureCheck::Mismatch;
    }
    const Instant signed_at{std::chrono::seconds(std::stoll(timestamp))};
    if (signed_at < now - max_age || signed_at > now + k_callback_future_skew) return SignatureCheck::Stale;
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
        case ApplyOutcome::Replayed: return "replayed";
        case ApplyOutcome::Busy: return "busy";
        case ApplyOutcome::OtherBatch: return "other batch";
        case ApplyOutcome::BeforeSendTime: return "before send time";
    }
    return "?";
}

namespace {

long long epoch_of(Instant at) { return static_cast<long long>(at.time_since_epoch().count()); }

// The reminder a report is about, locked for the transaction.
struct LockedReminder {
    std::int64_t id = 0;
    std::string appointment_id;
    std::string status;
    std::optional<std::string> delivery_status;
    std::optional<Instant> delivery_at;
    std::string phone_e164;
    Instant send_at;
    std::string batch_id;  // "" = none yet
    bool leased = false;   // a process is handing it to Sinch right now
};

#define SR_LOCKED_REMINDER_SELECT                                              \
    "SELECT r.id, r.appointment_id::text, r.status, r.delivery_status,"        \
    " floor(extract(epoch FROM r.delivery_at))::bigint, a.phone_e164,"         \
    " floor(extract(epoch FROM r.send_at))::bigint, coalesce(r.batch_id, '')," \
    " (r.status = 'scheduling' AND r.lease_until > now())"                     \
    " FROM reminders r JOIN appointments a ON a.id = r.appointment_id "

std::optional<LockedReminder> lock_reminder(pqxx::work& txn, const char* where, const std::string& key) {
    const pqxx::result rows =
        txn.exec_params(std::string(SR_LOCKED_REMINDER_SELECT) + where + " FOR UPDATE OF r", key);
    if (rows.empty()) return std::nullopt;
    const pqxx::row row = rows[0];
    LockedReminder r;
    r.id = row[0].as<std::int64_t>();
    r.appointment_id = row[1].as<std::string>();
    r.status = row[2].as<std::string>();
    if (!row[3].is_null()) r.delivery_status = row[3].as<std::string>();
    if (!row[4].is_null()) r.delivery_at = Instant(std::chrono::seconds(row[4].as<long long>()));
    r.phone_e164 = row[5].as<std::string>();
    r.send_at = Instant(std::chrono::seconds(row[6].as<long long>()));
    r.batch_id = row[7].as<std::string>();
    r.leased = row[8].as<bool>();
    return r;
}

#undef SR_LOCKED_REMINDER_SELECT

// The status a reminder takes when Sinch turns out to have its batch (a lost create answer): a cancelled or
// replaced one must now be cancelled at Sinch unless the report is already final.
std::string status_after_adoption(const std::string& status, const std::string& report_status) {
    if (status == "cancelling" || status == "cancel_failed" || status == "sent") return status;
    if (status == "cancelled" || status == "superseded") {
        return is_final_delivery_status(report_status) ? status : "cancelling";
    }
    return "scheduled";  // pending, scheduling (lease expired), retrying, unknown, failed, too_late
}

}  // namespace

ApplyResult apply_delivery_report(PgLease& lease, const DeliveryReport& report, Instant received_at,
                                  const std::string& remote_addr) {
    ReportOrigin origin;
    origin.received_at = received_at;
    origin.remote_addr = remote_addr;
    return apply_delivery_report(lease, report, origin);
}

ApplyResult apply_delivery_report(PgLease& lease, const DeliveryReport& report, const ReportOrigin& origin) {
    ApplyResult result;
    if (report.kind == CallbackKind::Ignored) {
        result.outcome = ApplyOutcome::Ignored;
        return result;
    }
    return with_connection(lease, "applying a delivery report", [&](pqxx::connection& c) {
        pqxx::work txn(c);
        // A replayed signed callback changes nothing. The nonce is remembered in this transaction, so a
        // report that could not be applied (database error, 503) can still be retried with it.
        if (!origin.nonce.empty()) {
            const pqxx::result fresh = txn.exec_params(
                "INSERT INTO callback_nonces (nonce, expires_at) VALUES ($1, to_timestamp($2))"
                " ON CONFLICT (nonce) DO NOTHING",
                origin.nonce, epoch_of(origin.nonce_expires_at));
            if (fresh.affected_rows() == 0) {
                result.outcome = ApplyOutcome::Replayed;
                return result;
            }
        }
        auto finish = [&](ApplyOutcome outcome) {
            txn.commit();  // the nonce (if any) is spent whatever the outcome
            result.outcome = outcome;
            return result;
        };

        std::optional<LockedReminder> found = lock_reminder(txn, "WHERE r.batch_id = $1", report.batch_id);
        bool adopting = false;
        if (!found && !report.client_reference.empty()) {
            // A batch not stored yet: its create answer was lost, or the process died before recording it.
            found = lock_reminder(txn, "WHERE r.client_reference = $1", report.client_reference);
            if (found) {
                result.reminder_id = found->id;
                result.appointment_id = found->appointment_id;
                result.reminder_status = found->status;
                if (!found->batch_id.empty()) {
                    result.other_batch_id = found->batch_id;
                    return finish(ApplyOutcome::OtherBatch);
                }
                if (found->leased) {
                    result.outcome =
                        ApplyOutcome::Busy;  // rolled back: Sinch retries, with the nonce unspent
                    return result;
                }
                // Only a report that names the appointment's number may attach a batch to it.
                if (report.recipient.empty() || digits_of(report.recipient) != digits_of(found->phone_e164)) {
                    return finish(report.recipient.empty() ? ApplyOutcome::UnknownBatch
                                                           : ApplyOutcome::RecipientMismatch);
                }
                adopting = true;
            }
        }
        if (!found) return finish(ApplyOutcome::UnknownBatch);
        LockedReminder& r = *found;
        result.reminder_id = r.id;
        result.appointment_id = r.appointment_id;
        result.reminder_status = r.status;
        const bool names_recipient = !report.recipient.empty();
        if (names_recipient && digits_of(report.recipient) != digits_of(r.phone_e164)) {
            return finish(ApplyOutcome::RecipientMismatch);
        }
        const Instant at = report.at.value_or(origin.received_at);
        // The SMS cannot have gone out before its send time, nor can a report about it arrive before then.
        if (delivery_means_sent(report.status) &&
            (at < r.send_at - k_sent_tolerance || origin.received_at < r.send_at - k_sent_tolerance)) {
            return finish(ApplyOutcome::BeforeSendTime);
        }

        if (adopting) {
            const std::string adopted_status = status_after_adoption(r.status, report.status);
            txn.exec_params(
                "UPDATE reminders SET batch_id = $2, status = $3, lease_owner = NULL, lease_until = NULL,"
                " next_attempt_at = CASE WHEN $3 = 'cancelling' THEN now() ELSE NULL END,"
                " last_error_code = NULL, last_error_text = NULL, last_http_status = NULL WHERE id = $1",
                r.id, report.batch_id, adopted_status);
            txn.exec_params(
                "INSERT INTO audit_log (appointment_id, action, actor, remote_addr, details)"
                " VALUES ($1::uuid, 'adopt_batch', 'sinch', nullif($2, ''), jsonb_build_object("
                "'batch_id', $3::text, 'reminder_status', jsonb_build_object('from', $4::text, 'to', "
                "$5::text)))",
                r.appointment_id, origin.remote_addr, report.batch_id, r.status, adopted_status);
            r.status = adopted_status;
            result.adopted = true;
            result.reminder_status = adopted_status;
        }

        // Whether the report replaces the stored delivery status (a duplicate or lower-ranked one does not).
        const bool replaces = delivery_report_replaces(r.delivery_status, r.delivery_at, report.status, at);
        std::string new_status = r.status;
        std::string attention;
        // Only a report naming the appointment's number says *this* SMS went out; one without a number
        // (a summary report) is recorded, and reconciliation confirms the send with Sinch itself.
        if (delivery_means_sent(report.status) && names_recipient) {
            if (r.status == "scheduled") {
                new_status = "sent";
            } else if (replaces && (r.status == "cancelled" || r.status == "superseded")) {
                // Sinch had confirmed the cancel, or a lookup found no batch, yet the message went out.
                new_status = "sent";
                attention =
                    r.status == "superseded"
                        ? "Sinch reports the reminder for the OLD time as " + report.status +
                              " although the appointment was rescheduled: tell the patient the new time."
                        : "Sinch reports this reminder as " + report.status +
                              " although the appointment was cancelled: tell the patient it is cancelled.";
                result.needs_attention = true;
            }
        }
        if (!replaces && new_status == r.status) {
            return finish(adopting ? ApplyOutcome::Applied : ApplyOutcome::Unchanged);
        }
        txn.exec_params(
            "UPDATE reminders SET status = $5, attention = coalesce(nullif($6, ''), attention),"
            " attention_at = CASE WHEN $6 = '' THEN attention_at ELSE now() END,"
            " delivery_status = CASE WHEN $7 THEN $2 ELSE delivery_status END,"
            " delivery_code = CASE WHEN $7 THEN $3 ELSE delivery_code END,"
            " delivery_at = CASE WHEN $7 THEN to_timestamp($4) ELSE delivery_at END"
            " WHERE id = $1",
            r.id, report.status, report.code, epoch_of(at), new_status, attention, replaces);
        txn.exec_params(
            "INSERT INTO audit_log (appointment_id, action, actor, remote_addr, details)"
            " VALUES ($1::uuid, 'delivery_report', 'sinch', nullif($2, ''), jsonb_build_object("
            "'batch_id', $3::text, 'delivery_status', $4::text, 'code', $5::integer, 'at', to_timestamp($6),"
            " 'reminder_status', CASE WHEN $7::text = $8::text THEN to_jsonb($7::text)"
            " ELSE jsonb_build_object('from', $7::text, 'to', $8::text) END))",
            r.appointment_id, origin.remote_addr, report.batch_id, report.status, report.code, epoch_of(at),
            r.status, new_status);
        if (!attention.empty()) {
            txn.exec_params(
                "INSERT INTO audit_log (appointment_id, action, actor, remote_addr, details)"
                " VALUES ($1::uuid, 'attention', 'sinch', nullif($2, ''), jsonb_build_object('note', "
                "$3::text))",
                r.appointment_id, origin.remote_addr, attention);
        }
        result.reminder_status = new_status;
        return finish(ApplyOutcome::Applied);
    });
}

long long forget_expired_callback_nonces(PgLease& lease) {
    return with_connection(lease, "forgetting expired callback nonces", [&](pqxx::connection& c) {
        pqxx::nontransaction txn(c);
        return static_cast<long long>(
            txn.exec("DELETE FROM callback_nonces WHERE expires_at < now()").affected_rows());
    });
}

}  // namespace sr
