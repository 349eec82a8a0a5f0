#pragma once
// The clinics file (SinchReminderClinicsFile): what httpd's configuration says about each clinic that
// `sinch-reminder-admin tz-recheck --clinic KEY` needs to re-render a clinic's SMS texts and re-place its
// reminders exactly as the module would. The module writes it at every start and reload (post_config, in the
// parent, after check_config passed); the admin tool reads it. It holds no secrets: no credentials, no
// password, no user name of the database.
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/reminder_timing.hpp"

namespace sr {

struct ClinicRecord {
    std::string key;                  // SinchReminderClinic
    std::string database;             // database_identity() of its SinchReminderDatabase
    std::string server;               // where it is configured ("host (file:line)"), for people
    std::vector<std::string> mounts;  // its <Location> paths
    std::string clinic_name, time_zone, locale, message;
    std::chrono::seconds lead_time{0};
    QuietHours quiet_hours;
    // SinchReminderLanguages with each language's text, as the module resolved them (core/languages.hpp);
    // `message` is the clinic's own language's. Empty in a file of a module before languages: `message` only.
    std::vector<std::pair<std::string, std::string>> languages;
    // SinchReminderSchedule as the module resolved it (never empty in a file that has it; empty in a file of
    // a module before schedules: one reminder lead_time before).
    ReminderSchedule schedule;
};

// The file name the module uses in httpd's DefaultRuntimeDir when SinchReminderClinicsFile is not set.
constexpr const char* k_clinics_file_name = "sinch-reminder-clinics.json";
// Debian's DefaultRuntimeDir (${APACHE_RUN_DIR}) plus that name: where the admin tool looks by default.
constexpr const char* k_default_clinics_file = "/var/run/apache2/sinch-reminder-clinics.json";

class ClinicsFileError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Which database a conninfo names, without secrets: "host=H port=P dbname=D" (the parts it sets; libpq's
// keyword and URI forms alike). Two connection strings as different roles to one database compare equal.
std::string database_identity(const std::string& conninfo);

// "21:00-08:00", or "off" (parse_quiet_hours reads both back).
std::string quiet_hours_setting(const QuietHours& quiet);

std::string clinics_file_json(const std::vector<ClinicRecord>& clinics, const std::string& written_by);
std::vector<ClinicRecord> parse_clinics_file(const std::string& json, const std::string& path);

// Atomically (a temporary file in the same directory, then rename), mode 0644. Throws ClinicsFileError.
void write_clinics_file(const std::string& path, const std::vector<ClinicRecord>& clinics,
                        const std::string& written_by);
// Throws ClinicsFileError saying what is wrong (missing, unreadable, not a clinics file).
std::vector<ClinicRecord> read_clinics_file(const std::string& path);

// The record of clinic `key`. When the file has the key for several databases, the one whose database is
// `database` (database_identity). Throws ClinicsFileError naming the clinics the file does have.
const ClinicRecord& find_clinic(const std::vector<ClinicRecord>& clinics, const std::string& key,
                                const std::string& database, const std::string& path);

}  // namespace sr
