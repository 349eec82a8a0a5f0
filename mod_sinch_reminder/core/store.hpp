#pragma once
// Appointments and their reminders in PostgreSQL (schema: sql/001_initial_schema.sql).
//
// The store works on one leased connection, for one request or one dispatcher step, on one thread. All SQL is
// parameterised. Times cross the boundary as sr::Instant (UTC seconds) and are stored as TIMESTAMPTZ.
// A lost connection, or a COMMIT whose outcome is unknown, invalidates the lease (the pool then closes the
// connection) and is thrown as DatabaseUnavailable. Constraint violations (e.g. a phone that is not E.164)
// are bugs in the caller's validation and propagate as pqxx::sql_error.
#include "core/clock.hpp"
#include "core/pg_pool.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sr {

// The reminder statuses as stored; the schema's CHECK constraint lists the same set.
namespace reminder_status {
constexpr const char* pending = "pending";        // stored, not yet handed to Sinch
constexpr const char* scheduling = "scheduling";  // claimed; one process is calling Sinch now
constexpr const char* scheduled = "scheduled";    // Sinch accepted it; batch_id is set
constexpr const char* retrying = "retrying";      // retryable failure; next_attempt_at says when
constexpr const char* unknown = "unknown";    // outcome unknown: look up client_reference before resending
constexpr const char* failed = "failed";      // Sinch refused it; last_error_* say why
constexpr const char* too_late = "too_late";  // the send slot had already passed; not sent
constexpr const char* cancelling = "cancelling";
constexpr const char* cancel_failed = "cancel_failed";
constexpr const char* cancelled = "cancelled";
constexpr const char* superseded = "superseded";  // a reschedule replaced this revision
constexpr const char* sent = "sent";
}  // namespace reminder_status

// How a new appointment's first reminder starts out.
enum class InitialReminderStatus {
    Pending,  // to be handed to Sinch
    TooLate,  // its slot is already past: never handed to Sinch (Sinch would send it at once)
};

// One reminder of a new appointment (or of a reschedule's new revision).
struct NewReminder {
    int slot = 1;  // its SinchReminderSchedule entry's position; part of its client_reference
    Instant send_at;
    InitialReminderStatus status = InitialReminderStatus::Pending;
};

struct NewAppointment {
    std::string clinic = "default";  // the booking mount's SinchReminderClinic key
    std::string language;            // the SMS's language (ISO 639); "" = the clinic's own (stored NULL)
    std::string patient_name;
    std::string doctor_name;
    std::string phone_e164;       // "+15551234567"
    Instant starts_at;            // UTC
    std::string time_zone;        // IANA, e.g. "America/New_York"
    std::string local_wall_time;  // as entered: "2026-11-28T14:30"
    WallTimeResolution wall_time_resolution = WallTimeResolution::Exact;
    std::string submission_key;  // the form's one-time token; "" = none
    std::string created_by;      // the user httpd authenticated; "" = no login (stored as NULL)
    std::string created_from;    // client address; "" = unknown
    // Every reminder, in slot order (SinchReminderSchedule). Empty: one reminder, slot 1, at
    // reminder_send_at with reminder_status (callers that know only one).
    std::vector<NewReminder> reminders;
    Instant reminder_send_at;    // UTC
    InitialReminderStatus reminder_status = InitialReminderStatus::Pending;
    std::string reminder_body;  // the SMS text, rendered now so every node sends the same
    // What the batch asks Sinch for (SinchReminderDeliveryReport / SinchReminderPublicBaseUrl), decided now
    // for the same reason: "none".."per_recipient_final", and the callback URL ("" = none sent).
    std::string reminder_delivery_report = "none";
    std::string reminder_callback_url;

    // `reminders`, or the one reminder_send_at/reminder_status describe.
    std::vector<NewReminder> planned_reminders() const;
};

struct ReminderRecord {
    std::int64_t id = 0;
    std::string appointment_id;
    int revision = 0;
    int slot = 1;  // the SinchReminderSchedule entry it is for (1: the first, or the only one)
    Instant send_at;
    std::string time_zone;
    std::string status;            // one of reminder_status
    // "sr-<appointment id>-r<revision>" for slot 1, "sr-<appointment id>-r<revision>-s<slot>" for the others
    std::string client_reference;
    std::optional<std::string> batch_id;
    int attempts = 0;  // Sinch calls started (claims)
    std::optional<std::string> last_error_code;
    std::optional<std::string> last_error_text;
    std::optional<int> last_http_status;
    std::optional<Instant> next_attempt_at;
    std::optional<std::string> delivery_status;
    std::optional<int> delivery_code;
    std::optional<Instant> delivery_at;
    Instant created_at;
    Instant updated_at;
    std::string delivery_report = "none";     // what the batch asks Sinch for
    std::optional<std::string> callback_url;  // where Sinch sends delivery reports
    std::optional<std::string> attention;     // a problem staff must look at (reconciliation, reports)
    std::optional<Instant> attention_at;
    std::string body;  // the SMS text ("" once retention anonymised it)
};

struct AppointmentRecord {
    std::string id;  // uuid, lower case
    std::string patient_name;
    std::string doctor_name;
    std::string phone_e164;
    Instant starts_at;
    std::string time_zone;
    std::string local_wall_time;
    std::string wall_time_resolution;  // to_string(WallTimeResolution): "exact", "gap_shifted_forward", ...
    std::string status;                // "active" or "cancelled"
    int revision = 1;
    std::optional<std::string> submission_key;
    std::string created_by;
    std::optional<std::string> created_from;
    Instant created_at;
    Instant updated_at;
    std::string clinic;                     // SinchReminderClinic key of the mount that booked it
    std::optional<std::string>
        language;  // the SMS's language; nullopt: the clinic's own (core/languages.hpp)
    std::vector<ReminderRecord> reminders;  // every revision, oldest first; within one, by slot

    // The reminders of the appointment's current revision (one per SinchReminderSchedule entry), by
    // send_at.
    std::vector<const ReminderRecord*> current_reminders() const;
    // The next of them to go: the first still on its way (pending, scheduling, scheduled, retrying,
    // unknown); when none is, the last of them. nullptr when the revision has none.
    const ReminderRecord* current_reminder() const noexcept;
};

// The booking request hands its own reminder to Sinch at once. Storing it already claimed, as
// ReminderQueue's claims do ('scheduling', lease owner and expiry, one attempt), saves a claim round trip;
// a process that dies before the Sinch call finishes leaves a lease that expires like any other.
struct ReminderClaim {
    std::string owner;               // the dispatcher's lease owner
    std::chrono::seconds lease_for;  // as the dispatcher's claims
    std::chrono::seconds horizon;    // only reminders due within this are claimed
};

struct CreateResult {
    AppointmentRecord appointment;
    bool created = false;  // false: the submission_key was already used; this is the earlier appointment
};

class AppointmentStore {
  public:
    // NB: the lease must outlive the store.
    explicit AppointmentStore(PgLease& lease) : m_lease(lease) {}

    // In one transaction: the appointment, its revision-1 reminders (planned_reminders()) and an audit row.
    // If the submission_key was used before (a double submit, even a concurrent one), nothing is written and
    // the existing appointment is returned with created == false. With a `claim`, a pending reminder inside
    // the claim's horizon is stored claimed for the caller (see ReminderClaim): the earliest such one, only
    // one (a claim is one rate token); hand_over_booked() then offers the others to hand_over_now().
    CreateResult create(const NewAppointment& appointment,
                        const std::optional<ReminderClaim>& claim = std::nullopt);

    // The appointment with all its reminders; nullopt if there is none. Text that is not a uuid is
    // simply not found (it comes from URLs).
    std::optional<AppointmentRecord> find(const std::string& id);
    // The same, only if it belongs to one of `clinics` (SinchReminderClinic keys): a mount sees its own.
    std::optional<AppointmentRecord> find(const std::string& id, const std::vector<std::string>& clinics);

    // Several appointments with their reminders, in the order of `ids` (uuids as the database
    // returns them); ids that do not exist are skipped. One snapshot.
    std::vector<AppointmentRecord> find_many(const std::vector<std::string>& ids);

    // One round trip; throws DatabaseUnavailable if the connection is gone.
    void ping();

  private:
    PgLease& m_lease;
};

// "pending", "too_late".
const char* to_string(InitialReminderStatus status) noexcept;

// The canonical 8-4-4-4-12 form of a uuid, lower-cased; nullopt for anything else (ids come from URLs:
// text that is not a uuid is simply not found, and a valid one is compared as uuid, through the index).
std::optional<std::string> canonical_uuid(const std::string& text);

}  // namespace sr
