#pragma once
// Cancelling and rescheduling, as database transactions that make the old reminders unable to fire:
// in one transaction the appointment changes and each live reminder of its revision (one per
// SinchReminderSchedule entry) either ends at once (it never reached Sinch) or becomes 'cancelling' (its
// batch must be cancelled at Sinch; the dispatcher keeps trying until Sinch confirms). A reschedule adds a
// new revision with a new set of reminders, each with its own client_reference, so the new and the old
// batches can never be confused.
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/pg_pool.hpp"
#include "core/store.hpp"

namespace sr {

struct Actor {
    std::string
        user;  // who Apache authenticated; "" = nobody (stored as NULL, so no user name can look like it)
    std::string remote_addr;
    // The clinics (SinchReminderClinic keys) whose appointments this actor may change; an appointment of
    // another clinic is NotFound. Empty: any clinic (the tz-recheck, the admin tool).
    std::vector<std::string> clinics = {};
};

enum class ChangeOutcome { Done, NotFound, AlreadyCancelled, Stale };

struct ChangeResult {
    ChangeOutcome outcome = ChangeOutcome::NotFound;
    std::vector<std::int64_t> reminders_to_cancel;    // their batches must be cancelled at Sinch
    std::vector<std::int64_t> reminders_to_schedule;  // the new revision's pending reminders (reschedule)
};

ChangeResult cancel_appointment(PgLease& lease, const std::string& appointment_id, const Actor& actor);

struct NewTime {
    Instant starts_at;
    std::string local_wall_time;  // "YYYY-MM-DDTHH:MM" as entered
    WallTimeResolution resolution = WallTimeResolution::Exact;
    // The new revision's reminders, in slot order. Empty: one, slot 1, at reminder_send_at (too_late when
    // reminder_slot_passed).
    std::vector<NewReminder> reminders;
    Instant reminder_send_at;
    bool reminder_slot_passed = false;
    std::string reminder_body;  // the SMS text for the new time
    // What the new revision's batch asks Sinch for, like NewAppointment's.
    std::string reminder_delivery_report = "none";
    std::string reminder_callback_url;  // "" = none sent
    // Only if the appointment still starts then (a tz re-check racing another node); else Stale.
    std::optional<Instant> only_if_starts_at;
};

ChangeResult reschedule_appointment(PgLease& lease, const std::string& appointment_id, const NewTime& time,
                                    const Actor& actor);

// Reads are audited too: who saw what, when, from where. `appointment_id` is the appointment viewed
// (action "view"), or "" for a list (action "list"). `details_json` is an object that names what was shown
// (ids, which filters were used), never names, numbers or search text. Throws DatabaseUnavailable.
void audit_read(PgLease& lease, const std::string& appointment_id, const char* action, const Actor& actor,
                const std::string& details_json);

// The details of a list read: {"via": via, "filters": [names of the filters used], "shown": [ids],
// "full_numbers": bool}.
std::string list_read_details(const char* via, const std::vector<std::string>& filters,
                              const std::vector<std::string>& shown_ids, bool full_numbers);

}  // namespace sr
