#pragma once
// After a tzdata update, future appointments whose stored UTC time no longer matches their local
// wall time under the new rules are moved — through the same path as a reschedule, so a batch
// already at Sinch is cancelled and a new one made for the right instant. The local time staff
// booked ("14:30 in America/Mexico_City") is what counts; UTC follows the rules.
#include <functional>
#include <string>
#include <vector>

#include "core/appointment_changes.hpp"
#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/pg_pool.hpp"
#include "core/reminder_timing.hpp"

namespace sr {

// Renders the SMS text for a doctor and an appointment instant in a zone (the clinic's template).
// `language`: the appointment's (nullopt: the clinic's own, core/languages.hpp).
using ReminderText =
    std::function<std::string(const std::string& clinic, const std::optional<std::string>& language,
                              const std::string& doctor, Instant starts_at, const ClinicZone& zone)>;
// When the reminders of an appointment at `starts_at` go (the clinic's SinchReminderSchedule and quiet
// hours: reminder_times(), reminder_timing.hpp). Empty: each reminder (slot) keeps its distance to the
// appointment.
using ReminderTiming = std::function<std::vector<PlannedReminder>(const std::string& clinic,
                                                                  Instant starts_at, const ClinicZone& zone)>;

struct TzChange {
    std::string appointment_id;
    std::string clinic;
    std::string time_zone;
    std::string local_wall_time;
    Instant old_starts_at;
    Instant new_starts_at;
};

struct TzRecheckReport {
    int checked = 0;
    std::vector<TzChange> changes;  // applied unless dry_run
};

// Checks every active future appointment of `clinics` (SinchReminderClinic keys; empty: every clinic's)
// against the rules this process computes with.
TzRecheckReport recheck_time_zones(PgPool& database, const ReminderText& text, bool dry_run,
                                   const ReminderTiming& timing = {},
                                   const std::vector<std::string>& clinics = {});

// What the cluster's stored times were computed with ("" if never recorded).
std::string recorded_tz_rules_version(PgPool& database);
void record_tz_rules_version(PgPool& database, const std::string& version);

// The start-up check: re-checks only when this node's rules are newer than the recorded ones, and
// records them; warns when this node's rules are older. Logs what it changed.
// `clinics`: those this node's configuration has (their texts and timings); others are left as they are.
void recheck_time_zones_if_rules_changed(PgPool& database, const ReminderText& text, Logger& logger,
                                         const ReminderTiming& timing = {},
                                         const std::vector<std::string>& clinics = {});

}  // namespace sr
