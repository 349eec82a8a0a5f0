#include "core/reminder_timing.hpp"

#include <regex>

#include "core/errors.hpp"

namespace sr {

namespace {

std::string hh_mm(int minute_of_day) {
    const int hour = minute_of_day / 60;
    const int minute = minute_of_day % 60;
    return std::string{static_cast<char>('0' + hour / 10), static_cast<char>('0' + hour % 10), ':',
                       static_cast<char>('0' + minute / 10), static_cast<char>('0' + minute % 10)};
}

// The calendar day before `local`'s (time of day kept).
LocalDateTime day_before(LocalDateTime local) {
    if (--local.day >= 1) return local;
    if (--local.month < 1) {
        local.month = 12;
        --local.year;
    }
    local.day = 31;
    while (!is_valid(local)) --local.day;
    return local;
}

}  // namespace

bool QuietHours::contains(int minute_of_day) const {
    if (!active()) return false;
    if (start < end) return minute_of_day >= start && minute_of_day < end;
    return minute_of_day >= start || minute_of_day < end;
}

std::string QuietHours::text() const { return active() ? hh_mm(start) + "\u2013" + hh_mm(end) : "off"; }

bool operator==(const QuietHours& a, const QuietHours& b) { return a.start == b.start && a.end == b.end; }

QuietHours parse_quiet_hours(const std::string& value) {
    if (value == "off") return QuietHours{};
    static const std::regex form("([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])");
    std::smatch m;
    if (!std::regex_match(value, m, form)) {
        throw ConfigError("'" + value +
                          "' must be HH:MM-HH:MM in 24-hour clinic time (e.g. 21:00-08:00), or off");
    }
    QuietHours quiet{std::stoi(m[1]) * 60 + std::stoi(m[2]), std::stoi(m[3]) * 60 + std::stoi(m[4])};
    if (!quiet.active()) throw ConfigError("'" + value + "' is empty: start and end are the same; use off");
    return quiet;
}

ReminderTime reminder_time(Instant starts_at, std::chrono::seconds lead, const QuietHours& quiet,
                           const ClinicZone& zone) {
    ReminderTime time;
    time.lead_time_slot = starts_at - lead;
    time.send_at = time.lead_time_slot;
    if (!quiet.active()) return time;
    const LocalDateTime local = zone.to_local(time.lead_time_slot);
    const int minute = local.hour * 60 + local.minute;
    if (!quiet.contains(minute)) return time;
    // The quiet period this minute is in began today, or yesterday for the early-morning part of a period
    // that wraps past midnight; the reminder goes one minute before that.
    LocalDateTime began = (quiet.start > quiet.end && minute < quiet.end) ? day_before(local) : local;
    began.hour = quiet.start / 60;
    began.minute = quiet.start % 60;
    LocalDateTime last_allowed = began;
    if (began.hour == 0 && began.minute == 0) {
        last_allowed = day_before(began);
        last_allowed.hour = 23;
        last_allowed.minute = 59;
    } else if (began.minute == 0) {
        --last_allowed.hour;
        last_allowed.minute = 59;
    } else {
        --last_allowed.minute;
    }
    time.send_at = zone.to_utc(last_allowed, WallTimePolicy::Lenient).utc;
    time.moved_for_quiet_hours = true;
    return time;
}

}  // namespace sr
