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
    std::string recipient;      // recipient reports: MSISDN without '+'
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

// Checks the three headers' values. The timestamp (Unix seconds) must be within `max_age` of now in
// either direction (Sinch retries for ~23 h; a replay is harmless because applying is idempotent).
SignatureCheck verify_webhook_signature(const std::string& secret, const std::string& body, const std::string& nonce,
                                        const std::string& timestamp, const std::string& signature, Instant now,
                                        std::chrono::seconds max_age = std::chrono::hours(26));
const char* to_string(SignatureCheck check) noexcept;

// Equal, in time that does not depend on where they differ.
bool constant_time_equals(const std::string& a, const std::string& b) noexcept;

// The shared callback token; throws std::runtime_error if the schema lacks it (not migrated).
std::string load_callback_token(pqxx::connection& connection);

enum class ApplyOutcome {
    Applied,            // the reminder now shows this status
    Unchanged,          // a duplicate, or older/lower-ranked than what is stored
    UnknownBatch,       // no reminder has this batch id
    RecipientMismatch,  // the report names another number than the appointment's
    Ignored,            // not a delivery report
};
const char* to_string(ApplyOutcome outcome) noexcept;

struct ApplyResult {
    ApplyOutcome outcome = ApplyOutcome::UnknownBatch;
    std::int64_t reminder_id = 0;
    std::string appointment_id;
    std::string reminder_status;  // after applying
    bool needs_attention = false;  // e.g. a cancelled reminder was delivered after all
};

// In one transaction: finds the reminder by batch id, applies the report if it ranks higher, sets the
// reminder 'sent' when a scheduled one was dispatched, flags a cancelled/superseded one that was sent
// after all, and writes an audit row (actor "sinch", from `remote_addr`) for each change.
// `received_at` stands in for a report without its own time. Throws DatabaseUnavailable.
ApplyResult apply_delivery_report(PgLease& lease, const DeliveryReport& report, Instant received_at,
                                  const std::string& remote_addr);

}  // namespace sr
