// reminder_timing.hpp: when a reminder goes out. The lead time before the appointment, moved out of the
// clinic's quiet hours (SinchReminderQuietHours) to the last minute before they begin, in the clinic's zone
// with the OS's current rules. Moved only ever earlier, so never after the appointment.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace sr {

// A daily period in the clinic's wall time, [start, end) in minutes after midnight; it wraps past midnight
// when end < start (21:00-08:00). start == end: no quiet hours.
struct QuietHours {
    int start = 0;
    int end = 0;

    bool active() const { return start != end; }
    bool contains(int minute_of_day) const;
    std::string text() const;  // "21:00–08:00"
};
bool operator==(const QuietHours& a, const QuietHours& b);
inline bool operator!=(const QuietHours& a, const QuietHours& b) { return !(a == b); }

// "21:00-08:00" (24-hour) or "off"; throws ConfigError.
QuietHours parse_quiet_hours(const std::string& value);

struct ReminderTime {
    Instant send_at;
    bool moved_for_quiet_hours = false;
    Instant lead_time_slot;  // starts_at - lead: where it would have gone without quiet hours
};

ReminderTime reminder_time(Instant starts_at, std::chrono::seconds lead, const QuietHours& quiet,
                           const ClinicZone& zone);

// One entry of SinchReminderSchedule: a duration before the appointment ("2h": elapsed time, like
// SinchReminderLeadTime), or "Nd@HH:MM": N calendar days before the appointment's day (0: that day), at
// that clinic wall time. A wall time in a DST gap or overlap is resolved like every wall time (clock.hpp:
// a gap moves it forward by the gap's length, an overlap takes its first occurrence).
struct ScheduleEntry {
    std::chrono::seconds before{0};  // the duration form (days_before unset)
    std::optional<int> days_before;  // the Nd@HH:MM form: N
    int minute_of_day = 0;           // ... and HH:MM, in minutes after midnight
    std::string text() const;        // as written: "2h", "1d@18:00"
};
bool operator==(const ScheduleEntry& a, const ScheduleEntry& b);
inline bool operator!=(const ScheduleEntry& a, const ScheduleEntry& b) { return !(a == b); }
using ReminderSchedule = std::vector<ScheduleEntry>;
// "1d@18:00 2h": the entries as a SinchReminderSchedule line takes them.
std::string schedule_text(const ReminderSchedule& schedule);
constexpr int k_max_schedule_entries = 10;
constexpr int k_max_schedule_days = 60;

// "1d@18:00", "0d@07:00" (0..60 days, 24-hour time); anything else is a duration as parse_lead_time
// takes it. Throws ConfigError. (settings.cpp)
ScheduleEntry parse_schedule_entry(const std::string& value);

// One reminder of an appointment.
struct PlannedReminder {
    int slot = 1;  // the position of its entry in the schedule, from 1
    ReminderTime time;
    // Every entry fell at or after the appointment (e.g. 0d@07:00 for a 06:00 appointment): this one, the
    // first entry's, is kept so the booking says so, and is never sent.
    bool after_appointment = false;

    // Whether its slot is gone at `now` (or it would go after the appointment): stored too_late.
    bool passed(Instant now) const { return after_appointment || time.send_at <= now; }
};

// The reminders of an appointment at `starts_at`: one per schedule entry, in slot order, each moved out of
// the quiet hours. An entry that falls at or after the appointment is left out; entries that fall into the
// same minute become one reminder (the earlier entry's slot). Never empty for a non-empty schedule (see
// PlannedReminder::after_appointment).
std::vector<PlannedReminder> reminder_times(Instant starts_at, const ReminderSchedule& schedule,
                                            const QuietHours& quiet, const ClinicZone& zone);

}  // namespace sr
