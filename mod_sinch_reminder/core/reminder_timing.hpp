// reminder_timing.hpp: when a reminder goes out. The lead time before the appointment, moved out of the
// clinic's quiet hours (SinchReminderQuietHours) to the last minute before they begin, in the clinic's zone
// with the OS's current rules. Moved only ever earlier, so never after the appointment.
#pragma once

#include <chrono>
#include <string>

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

}  // namespace sr
