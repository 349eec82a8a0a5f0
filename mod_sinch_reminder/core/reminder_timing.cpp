#include "core/reminder_timing.hpp"

#include <regex>

#include "core/errors.hpp"
#include "core/settings.hpp"

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

LocalDateTime days_before(LocalDateTime local, int days) {
    for (int i = 0; i < days; ++i) local = day_before(local);
    return local;
}

// The schedule entry's instant before quiet hours: elapsed time, or a wall time on an earlier day.
Instant entry_instant(Instant starts_at, const ScheduleEntry& entry, const ClinicZone& zone) {
    if (!entry.days_before) return starts_at - entry.before;
    LocalDateTime local = days_before(zone.to_local(starts_at), *entry.days_before);
    local.hour = entry.minute_of_day / 60;
    local.minute = entry.minute_of_day % 60;
    return zone.to_utc(local, WallTimePolicy::Lenient).utc;
}

// reminder_time() for any first slot: moved out of the quiet hours, to the last minute before them.
ReminderTime out_of_quiet_hours(Instant slot, const QuietHours& quiet, const ClinicZone& zone);

}  // namespace

std::string ScheduleEntry::text() const {
    if (days_before) return std::to_string(*days_before) + "d@" + hh_mm(minute_of_day);
    return format_duration(before);
}

std::string schedule_text(const ReminderSchedule& schedule) {
    std::string out;
    for (const ScheduleEntry& entry : schedule) out += (out.empty() ? "" : " ") + entry.text();
    return out;
}

bool operator==(const ScheduleEntry& a, const ScheduleEntry& b) {
    return a.before == b.before && a.days_before == b.days_before && a.minute_of_day == b.minute_of_day;
}

std::vector<PlannedReminder> reminder_times(Instant starts_at, const ReminderSchedule& schedule,
                                            const QuietHours& quiet, const ClinicZone& zone) {
    std::vector<PlannedReminder> planned;
    for (std::size_t i = 0; i < schedule.size(); ++i) {
        PlannedReminder p;
        p.slot = static_cast<int>(i) + 1;
        p.time = out_of_quiet_hours(entry_instant(starts_at, schedule[i], zone), quiet, zone);
        if (p.time.send_at >= starts_at) continue;  // never at or after the appointment
        const auto minute = [](Instant t) { return std::chrono::floor<std::chrono::minutes>(t); };
        bool same_minute = false;
        for (const PlannedReminder& earlier : planned) {
            same_minute = same_minute || minute(earlier.time.send_at) == minute(p.time.send_at);
        }
        if (!same_minute) planned.push_back(p);
    }
    if (planned.empty() && !schedule.empty()) {
        PlannedReminder p;
        p.time = out_of_quiet_hours(entry_instant(starts_at, schedule.front(), zone), quiet, zone);
        p.after_appointment = true;
        planned.push_back(p);
    }
    return planned;
}

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
    return out_of_quiet_hours(starts_at - lead, quiet, zone);
}

namespace {

ReminderTime out_of_quiet_hours(Instant slot, const QuietHours& quiet, const ClinicZone& zone) {
    ReminderTime time;
    time.lead_time_slot = slot;
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

}  // namespace

}  // namespace sr
