// sr_schedule_cases: sr::reminder_times() for the cases schedule_cases.py sends on stdin, one per line:
//   ZONE STARTS_AT_EPOCH QUIET_HOURS ENTRY [ENTRY ...]      e.g. America/New_York 1805115600 off 1d@18:00 2h
// answered on stdout, one line each: SLOT:SEND_AT_EPOCH[:after] ... (in slot order).
#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "core/reminder_timing.hpp"

int main() {
    std::map<std::string, sr::ClinicZone> zones;
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream fields(line);
        std::string zone_name, quiet_text, entry;
        long long starts_at = 0;
        fields >> zone_name >> starts_at >> quiet_text;
        sr::ReminderSchedule schedule;
        while (fields >> entry) schedule.push_back(sr::parse_schedule_entry(entry));
        auto zone = zones.find(zone_name);
        if (zone == zones.end()) zone = zones.emplace(zone_name, sr::ClinicZone::load(zone_name)).first;
        const auto planned = sr::reminder_times(sr::Instant(std::chrono::seconds(starts_at)), schedule,
                                                sr::parse_quiet_hours(quiet_text), zone->second);
        std::string out;
        for (const sr::PlannedReminder& p : planned) {
            out += (out.empty() ? "" : " ") + std::to_string(p.slot) + ":" +
                   std::to_string(p.time.send_at.time_since_epoch().count()) +
                   (p.after_appointment ? ":after" : "");
        }
        std::cout << out << '\n';
    }
    return EXIT_SUCCESS;
}
