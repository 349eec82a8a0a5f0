#pragma once
// Sinch's delivery-report callbacks (shared/sinch/contract.md §6): authenticating them, reading them,
// and applying them to the reminder of their batch.
//
// Authentication: with a configured secret, the HMAC signature Sinch's SDKs verify
// (x-sinch-webhook-signature = base64(HMAC-SHA256(secret, body "." nonce "." timestamp))); without one,
// a random token shared by every node through PostgreSQL (module_secrets 'callback_token') that is part
// of the callback URL. Either way the caller answers 401 and changes nothing when it does not match.
//
// Applying is idempotent and order-insensitive: Sinch retries for hours and may repeat or reorder
// callbacks, so a status only replaces the stored one when it ranks higher (Queued < Dispatched < other
// final statuses < Delivered), or ranks the same, differs, and is newer (whole seconds; on a tie the first
// stays). A late Queued never overwrites Delivered.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/connection>

#include "core/clock.hpp"
#include "core/pg_pool.hpp"

namespace sr {

enum class CallbackKind {
    BatchReport,      // "delivery_report_sms" (summary / full)
    RecipientReport,  // "recipient_delivery_report_sms" (per_recipient / per_recipient_final)
    Ignored,          // another type on the same channel (MMS reports, inbound messages): answered 200
};

struct DeliveryReport {
    CallbackKind kind = CallbackKind::Ignored;
    std::string type;  // as sent
    std::string batch_id;
    std::string status;  // "Delivered", "Failed", ... (for a batch report: the highest-ranked one listed)
    std::optional<int> code;
    std::optional<Instant> at;  // recipient reports: when the status was reached
    std::string recipient;  // recipient reports, and full batch reports of one recipient: MSISDN without '+'
    std::string client_reference;
};

struct ParsedCallback {
    bool ok = false;
    std::string error;  // why not (for the log and the 400 answer); never contains the body
    DeliveryReport report;
};

// Reads a callback body. Not JSON, not an object, or a delivery report without batch_id or status:
// ok == false. Other types: ok with kind Ignored.
ParsedCallback parse_delivery_callback(const std::string& body);

// 1 Queued, 2 Dispatched (and statuses this module does not know), 3 final (Failed, Aborted, Rejected,
// Expired, Cancelled, Deleted, Unknown), 4 Delivered: the handset's receipt is never overwritten.
int delivery_status_rank(const std::string& status);
bool is_final_delivery_status(const std::string& status);
// The message left Sinch for the operator: Dispatched, Delivered, Failed, Rejected, Deleted, Unknown.
bool delivery_means_sent(const std::string& status);
// Delivered to the handset.
bool delivery_is_success(const std::string& status);

// Whether a report (status, at) replaces what is stored (nothing, or old_status at old_at).
bool delivery_report_replaces(const std::optional<std::string>& old_status, std::optional<Instant> old_at,
                              const std::string& new_status, Instant new_at);

// base64(HMAC-SHA256(secret, body + "." + nonce + "." + timestamp)).
std::string webhook_signature(const std::string& secret, const std::string& body, const std::string& nonce,
                              const std::string& timestamp);

enum class SignatureCheck { Valid, Missing, Mismatch, Stale };

// How old a signed callback may be. Its nonce is remembered in PostgreSQL this long (so a replay within
// the window is refused, and after it the timestamp is too old): one hour covers clock skew and the first
// nine of Sinch's retries (5 s, 10 s, 20 s ... ~43 min after the first failure) even if Sinch kept the
// first attempt's timestamp; after a longer outage reconciliation still settles the reminder's status.
constexpr std::chrono::seconds k_callback_replay_window = std::chrono::hours(1);
// How far in the future a signed callback's timestamp may be (clock skew).
constexpr std::chrono::seconds k_callback_future_skew = std::chrono::minutes(5);

// Checks the three headers' values. The timestamp (Unix seconds) must be at most `max_age` old and at most
// k_callback_future_skew ahead; a nonce longer than 200 characters is a mismatch.
SignatureCheck verify_webhook_signature(const std::string& secret, const std::string& body,
                                        const std::string& nonce, const std::string& timestamp,
                                        const std::string& signature, Instant now,
                                        std::chrono::seconds max_age = k_callback_replay_window);
const char* to_string(SignatureCheck check) noexcept;

// Equal, in time that does not depend on where they differ.
bool constant_time_equals(const std::string& a, const std::string& b) noexcept;

// The shared callback token; throws std::runtime_error if the schema lacks it (not migrated).
std::string load_callback_token(pqxx::connection& connection);

enum class ApplyOutcome {
    Applied,            // the reminder now shows this status
    Unchanged,          // a duplicate, or older/lower-ranked than what is stored
    UnknownBatch,       // no reminder has this batch id (nor, unbatched, its client_reference)
    RecipientMismatch,  // the report names another number than the appointment's
    Ignored,            // not a delivery report
    Replayed,           // a signed callback whose nonce was seen before: refused, nothing changed
    Busy,               // its reminder (found by client_reference) is being handed to Sinch: answer 503
    OtherBatch,         // its client_reference's reminder has another batch: ignored
    BeforeSendTime,     // says the SMS went out before the reminder's send time: impossible, ignored
};
const char* to_string(ApplyOutcome outcome) noexcept;

struct ApplyResult {
    ApplyOutcome outcome = ApplyOutcome::UnknownBatch;
    std::int64_t reminder_id = 0;
    std::string appointment_id;
    std::string reminder_status;  // after applying
    bool needs_attention = false;  // e.g. a cancelled reminder was delivered after all
    bool adopted = false;          // the batch id was recorded on its reminder from this report
    std::string other_batch_id;    // OtherBatch: the batch the reminder has
};

// A report may say the SMS went out this long before the reminder's send_at and still mark it sent:
// Sinch's clock and this server's (both NTP-synchronised) differ by far less.
constexpr std::chrono::seconds k_sent_tolerance = std::chrono::seconds(60);

// Where a report came from.
struct ReportOrigin {
    Instant received_at;      // stands in for a report without its own time
    std::string remote_addr;  // for the audit row
    std::string nonce;        // of a signed callback: remembered until nonce_expires_at; "" = none
    Instant nonce_expires_at{};
};

// In one transaction: refuses a replayed nonce (and remembers a new one); finds the reminder by batch id,
// or, for a batch not stored yet (its create answer was lost), by client_reference and records the batch on
// it (adoption; Busy while a process holds its lease, OtherBatch when it has another batch); applies the
// report if it ranks higher; sets the reminder 'sent' only when the report names the appointment's number
// and is not dated before the send time (k_sent_tolerance), flags a cancelled/superseded one that was sent
// after all, and writes an audit row (actor "sinch") for each change. Throws DatabaseUnavailable.
ApplyResult apply_delivery_report(PgLease& lease, const DeliveryReport& report, const ReportOrigin& origin);
ApplyResult apply_delivery_report(PgLease& lease, const DeliveryReport& report, Instant received_at,
                                  const std::string& remote_addr);

// Forgets nonces whose replay window has passed; returns how many. Throws DatabaseUnavailable.
long long forget_expired_callback_nonces(PgLease& lease);

}  // namespace sr
