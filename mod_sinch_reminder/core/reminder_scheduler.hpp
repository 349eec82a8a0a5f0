#pragma once
// Hands one stored reminder to Sinch, exactly once, and records what happened.
//
// NB: the reminder is claimed in PostgreSQL first ('pending' -> 'scheduling'), so of any number of
// racing requests or processes only one calls Sinch. A call whose outcome is unknown (timeout, lost
// response) is never repeated blindly: the batch is looked up by its client_reference, adopted if
// Sinch has it, and otherwise the reminder is left 'unknown' for a later lookup.
#include <string>

#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/sinch_client.hpp"
#include "core/store.hpp"

namespace sr {

struct ScheduleAttempt {
    bool attempted = false;  // false: another request or process had already claimed it
    std::string status;      // the reminder's status afterwards (reminder_status::*)
    std::string batch_id;    // when scheduled
    SinchResult sinch;       // what Sinch answered to the create call
};

ScheduleAttempt schedule_reminder(AppointmentStore& store, SinchClient& sinch, const ReminderRecord& reminder,
                                  const std::string& to_e164, const std::string& body, Logger& logger, Instant now);

}  // namespace sr
