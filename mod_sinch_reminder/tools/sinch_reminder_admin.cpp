// sinch-reminder-admin: maintenance commands for mod_sinch_reminder's database, built on the module's core.
//
//   sinch-reminder-admin migrate --database CONNINFO [--sql-dir DIR]
//   sinch-reminder-admin schema-version --database CONNINFO [--sql-dir DIR]
//   sinch-reminder-admin tz-recheck --database CONNINFO [--dry-run] [--clinic KEY] [--clinics-file FILE]
//     [--clinic-name X] [--locale L] [--message T] [--lead-time D] [--quiet-hours HH:MM-HH:MM]
//     (each clinic's settings come from the clinics file httpd writes; the flags override them)
//   sinch-reminder-admin grant-runtime --database CONNINFO --role NAME
// (--database-file PATH or $SINCH_REMINDER_DATABASE instead of --database)
//   sinch-reminder-admin purge --database CONNINFO [--retention 180d] [--dry-run]
//   sinch-reminder-admin --version | --help
//
// Exit codes: 0 success, 1 the command failed (database, migration), 2 usage error.
// A new subcommand is one function plus one row in k_commands.
#include "core/clinics_file.hpp"
#include "core/logger.hpp"
#include "core/migrations.hpp"
#include "core/pg_pool.hpp"
#include "core/redact.hpp"
#include "core/retention.hpp"
#include "core/settings.hpp"
#include "core/sms_text.hpp"
#include "core/tz_recheck.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <optional>

#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>

namespace {

constexpr int k_exit_ok = 0;
constexpr int k_exit_failed = 1;
constexpr int k_exit_usage = 2;

const char* const k_usage =
    "usage: sinch-reminder-admin COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  migrate         apply the sql/NNN_*.sql migrations the database does not have yet (safe to run\n"
    "                  again, and from several machines at once)\n"
    "  schema-version  print the database's schema version and the version the sql directory expects\n"
    "  tz-recheck      after a tzdata update: move every future appointment whose UTC time differs under\n"
    "                  the OS's current time-zone rules (the running httpd moves the batches at Sinch)\n"
    "  grant-runtime   let --role (an existing PostgreSQL role) read and write the module's tables and\n"
    "                  nothing more (no DDL); run as the owner that runs migrate; again after new tables\n"
    "                  is not needed (default privileges)\n"
    "  purge           anonymise the patient data of appointments older than the retention (names,\n"
    "                  numbers, SMS texts, audit details; counts are kept), 200 rows per transaction, "
    "paced;\n"
    "                  the dispatcher does the same once a day (SinchReminderRetention)\n"
    "\n"
    "options:\n"
    "  --database CONNINFO  libpq connection string, e.g. \"host=db.example user=reminder dbname=reminder\"\n"
    "                       or postgresql://reminder@db.example/reminder; without it the first line of\n"
    "                       --database-file, else $SINCH_REMINDER_DATABASE (a password kept off the command\n"
    "                       line, where ps shows it; libpq's passfile and service= work too)\n"
    "  --database-file PATH the connection string on the first line of PATH\n"
    "  --role NAME          grant-runtime: the role httpd connects as\n"
    "  --sql-dir DIR        migration directory (default: <prefix>/share/mod_sinch_reminder/sql next to "
    "this\n"
    "                       program, else the source tree's sql/)\n"
    "  --dry-run            tz-recheck: list what would move; purge: count what would be anonymised;\n"
    "                       both change nothing\n"
    "  --retention DURATION purge: as SinchReminderRetention, e.g. 180d (the default), 365d\n"
    "  --clinic KEY         tz-recheck: only this clinic's appointments (SinchReminderClinic), with its\n"
    "                       settings from the clinics file; without it, every clinic in the file, each\n"
    "                       with its own settings\n"
    "  --clinics-file FILE  tz-recheck: the clinics file httpd writes at every start "
    "(SinchReminderClinicsFile);\n"
    "                       default: $SINCH_REMINDER_CLINICS_FILE, else\n"
    "                       /var/run/apache2/sinch-reminder-clinics.json when it exists\n"
    "  --clinic-name, --locale, --message\n"
    "                       tz-recheck: as SinchReminderClinicName/Locale/Message, for the new SMS texts;\n"
    "                       they override the clinics file (without a file: the built-in defaults)\n"
    "  --lead-time DURATION, --quiet-hours HH:MM-HH:MM\n"
    "                       tz-recheck: as SinchReminderLeadTime/QuietHours, for the new send times; they\n"
    "                       override the clinics file (without a file and without either, each reminder\n"
    "                       keeps its distance to the appointment)\n"
    "  -h, --help           show this help\n"
    "  --version            print the version (sinch-reminder-admin VERSION)\n"
    "\n"
    "exit status: 0 ok, 1 failed, 2 usage error\n";

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct Options {
    std::string database;
    std::string sql_dir;
    std::string role;  // grant-runtime
    bool dry_run = false;
    std::vector<std::string> clinics;  // tz-recheck: empty = every clinic
    std::string clinics_file;          // tz-recheck: "" = k_default_clinics_file if it exists
    // tz-recheck: set = given as a flag, which overrides the clinics file
    std::optional<std::string> clinic_name;
    std::optional<std::string> locale;
    std::optional<std::string> message;
    std::chrono::seconds retention = std::chrono::hours(24 * 180);
    std::optional<std::chrono::seconds> lead_time;
    std::optional<sr::QuietHours> quiet_hours;
};

// Prints info and warnings to stderr, so stdout carries only the command's result.
class StderrLogger final : public sr::Logger {
  public:
    bool enabled(sr::LogLevel level) const noexcept override { return level != sr::LogLevel::Debug; }
    void log(sr::LogLevel level, const char* message_id, const std::string& message) noexcept override {
        if (!enabled(level)) return;
        std::cerr << (message_id && *message_id ? std::string(message_id) + ": " : "") << message << '\n';
    }
};

Options parse_options(int argc, char** argv, int first) {
    Options options;
    for (int i = first; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw UsageError(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--database") {
            options.database = value();
        } else if (arg == "--database-file") {
            const std::string path = value();
            std::ifstream file(path);
            if (!file || !std::getline(file, options.database) || options.database.empty())
                throw UsageError("--database-file: cannot read a connection string from the first line of " +
                                 path);
        } else if (arg == "--role") {
            options.role = value();
        } else if (arg == "--sql-dir") {
            options.sql_dir = value();
        } else if (arg == "--dry-run") {
            options.dry_run = true;
        } else if (arg == "--clinic") {
            options.clinics = {value()};
            try {
                sr::pg_clinic_array(options.clinics);
            } catch (const std::exception& e) {
                throw UsageError(std::string("--clinic: ") + e.what());
            }
        } else if (arg == "--clinics-file") {
            options.clinics_file = value();
            if (options.clinics_file.empty()) throw UsageError("--clinics-file needs a file name");
        } else if (arg == "--clinic-name") {
            options.clinic_name = value();
        } else if (arg == "--locale") {
            options.locale = value();
        } else if (arg == "--message") {
            options.message = value();
        } else if (arg == "--lead-time" || arg == "--quiet-hours") {
            const std::string text = value();
            try {
                if (arg == "--lead-time") {
                    options.lead_time = sr::parse_lead_time(text);
                } else {
                    options.quiet_hours = sr::parse_quiet_hours(text);
                }
            } catch (const std::exception& e) {
                throw UsageError(arg + ": " + e.what());
            }
        } else if (arg == "--retention") {
            const std::string duration = value();
            try {
                options.retention = sr::parse_retention(duration);
            } catch (const std::exception& e) {
                throw UsageError("--retention: " + std::string(e.what()));
            }
            if (options.retention.count() == 0) throw UsageError("--retention off: nothing to purge");
        } else {
            throw UsageError("unknown option " + arg);
        }
    }
    if (options.database.empty()) {
        if (const char* from_environment = std::getenv("SINCH_REMINDER_DATABASE"))
            options.database = from_environment;
    }
    if (options.database.empty())
        throw UsageError("--database CONNINFO (or --database-file, or SINCH_REMINDER_DATABASE) is required");
    return options;
}

std::filesystem::path executable_dir() {
    std::error_code error;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    return error ? std::filesystem::path() : self.parent_path();
}

// The installed layout first (<prefix>/sbin/../share/...), then the source tree this was built from
// (__FILE__ is absolute under CMake), so a developer's build works without --sql-dir.
std::string default_sql_dir() {
    const std::filesystem::path installed = executable_dir() / ".." / "share" / "mod_sinch_reminder" / "sql";
    const std::filesystem::path source_tree =
        std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "sql";
    for (const std::filesystem::path& candidate : {installed, source_tree}) {
        std::error_code error;
        if (std::filesystem::is_directory(candidate, error)) return candidate.lexically_normal().string();
    }
    throw UsageError("no sql directory found at " + installed.lexically_normal().string() +
                     "; pass --sql-dir DIR");
}

std::unique_ptr<pqxx::connection> connect(const Options& options) {
    return sr::open_pg_connection(options.database, std::chrono::seconds(10), "sinch-reminder-admin");
}

int run_migrate(const Options& options) {
    const std::string sql_dir = options.sql_dir.empty() ? default_sql_dir() : options.sql_dir;
    StderrLogger logger;
    auto conn = connect(options);
    const sr::MigrationReport report = sr::apply_migrations(*conn, sql_dir, logger);
    if (report.applied_files.empty()) {
        std::cout << "schema is up to date at version " << report.version_after << '\n';
    } else {
        std::cout << "migrated schema from version " << report.version_before << " to "
                  << report.version_after << " (" << report.applied_files.size() << " file(s) from "
                  << sql_dir << ")\n";
    }
    return k_exit_ok;
}

int run_schema_version(const Options& options) {
    auto conn = connect(options);
    const int current = sr::schema_version(*conn);
    std::cout << "database schema version: " << current << '\n';
    // The expected version is extra information; a missing sql directory must not hide the answer above.
    try {
        const std::string sql_dir = options.sql_dir.empty() ? default_sql_dir() : options.sql_dir;
        const int expected = sr::expected_schema_version(sql_dir);
        std::cout << "expected by " << sql_dir << ": " << expected
                  << (current < expected ? " (run: sinch-reminder-admin migrate)" : "") << '\n';
    } catch (const std::exception& e) {
        std::cerr << "cannot tell the expected version: " << e.what() << '\n';
    }
    return k_exit_ok;
}

// What tz-recheck re-renders and re-places one clinic's reminders with.
struct ClinicSettings {
    std::string clinic_name, locale, time_zone;
    std::shared_ptr<const sr::ClinicLanguages> languages;  // each language's text
    std::optional<std::chrono::seconds> lead_time;         // none (and no quiet hours): keep the distance
    std::optional<sr::QuietHours> quiet_hours;
    // The clinic's SinchReminderSchedule (the file's), or one reminder lead_time before (--lead-time, or a
    // file written before schedules existed).
    sr::ReminderSchedule schedule;
};

// The texts: the record's languages (each labelled), --message over the clinic's own language's.
std::shared_ptr<const sr::ClinicLanguages> languages_of(const Options& options,
                                                        const sr::ClinicRecord* record,
                                                        const std::string& locale) {
    std::vector<std::string> offered;
    sr::LanguageMessages messages;
    for (const auto& [code, text] : record ? record->languages : decltype(record->languages){}) {
        offered.push_back(code);
        messages[code] = text;
    }
    std::optional<std::string> own = options.message;
    if (!own && record) own = record->message;
    if (options.message && messages.count(sr::language_of_locale(locale)))
        messages[sr::language_of_locale(locale)] = *options.message;
    return std::make_shared<const sr::ClinicLanguages>(offered, locale, own, messages);
}

sr::ReminderSchedule schedule_of(const Options& options, const sr::ClinicRecord* record) {
    if (!options.lead_time && record && !record->schedule.empty()) return record->schedule;
    const std::chrono::seconds lead =
        options.lead_time.value_or(record ? record->lead_time : std::chrono::seconds(std::chrono::hours(2)));
    return sr::ReminderSchedule{{lead, std::nullopt, 0}};
}

ClinicSettings flags_over(const Options& options, const sr::ClinicRecord* record) {
    const std::string locale = options.locale.value_or(record ? record->locale : "en_US");
    return ClinicSettings{
        options.clinic_name.value_or(record ? record->clinic_name : ""),
        locale,
        record ? record->time_zone : "",
        languages_of(options, record, locale),
        options.lead_time ? options.lead_time
                          : (record ? std::optional<std::chrono::seconds>(record->lead_time) : std::nullopt),
        options.quiet_hours ? options.quiet_hours
                            : (record ? std::optional<sr::QuietHours>(record->quiet_hours) : std::nullopt),
        schedule_of(options, record)};
}

// The clinics file to read: --clinics-file or $SINCH_REMINDER_CLINICS_FILE (which must be readable), else
// the default if it exists.
std::optional<std::vector<sr::ClinicRecord>> read_clinics(const Options& options, std::string& path) {
    const char* from_environment = std::getenv("SINCH_REMINDER_CLINICS_FILE");
    const bool named = !options.clinics_file.empty() || (from_environment && *from_environment);
    path = !options.clinics_file.empty() ? options.clinics_file
           : named                       ? std::string(from_environment)
                                         : std::string(sr::k_default_clinics_file);
    std::error_code error;
    if (!named && !std::filesystem::exists(path, error)) return std::nullopt;
    try {
        return sr::read_clinics_file(path);
    } catch (const sr::ClinicsFileError& e) {
        throw UsageError(std::string("--clinics-file: ") + e.what());
    }
}

int run_tz_recheck(const Options& options) {
    // Each clinic's settings: the clinics file httpd wrote from its configuration, with the flags over them.
    std::string path;
    const std::optional<std::vector<sr::ClinicRecord>> file = read_clinics(options, path);
    const std::string database_name = sr::database_identity(options.database);
    std::map<std::string, ClinicSettings> by_clinic;  // empty: one set of settings (flags) for every clinic
    std::vector<std::string> clinics = options.clinics;
    if (file && !options.clinics.empty()) {
        try {
            const sr::ClinicRecord& record =
                sr::find_clinic(*file, options.clinics.front(), database_name, path);
            if (record.database != database_name) {
                std::cerr << "note: clinic " << record.key << " in " << path
                          << " is configured for database \"" << record.database << "\"; --database names \""
                          << database_name << "\"\n";
            }
            by_clinic.emplace(record.key, flags_over(options, &record));
        } catch (const sr::ClinicsFileError& e) {
            throw UsageError(std::string("--clinic: ") + e.what());
        }
    } else if (file) {
        // Every clinic of this database the file has; other clinics' appointments are left as they are (as
        // the module leaves them to the nodes that have them).
        for (const sr::ClinicRecord& record : *file) {
            if (record.database == database_name) by_clinic.emplace(record.key, flags_over(options, &record));
        }
        if (by_clinic.empty()) {
            std::cerr << "note: " << path << " lists no clinic of database \"" << database_name
                      << "\": every clinic's appointments are checked with the flags (or the built-in "
                         "defaults)\n";
        }
        for (const auto& [key, settings] : by_clinic) clinics.push_back(key);
    } else if (!options.clinics.empty()) {
        std::cerr << "note: no clinics file at " << path
                  << " (httpd writes it at every start; --clinics-file FILE): clinic "
                  << options.clinics.front()
                  << " is re-rendered with --clinic-name, --locale, --message (or their defaults)\n";
    }
    const ClinicSettings flags_only = flags_over(options, nullptr);
    const auto settings_of = [&](const std::string& key) -> const ClinicSettings& {
        const auto found = by_clinic.find(key);
        return found == by_clinic.end() ? flags_only : found->second;
    };
    for (const auto& [key, settings] : by_clinic) {
        std::cout << "clinic " << key << " (settings from " << path << "): time zone " << settings.time_zone
                  << ", name \"" << settings.clinic_name << "\", locale " << settings.locale << ", lead time "
                  << sr::format_duration(settings.lead_time.value_or(std::chrono::seconds(0)))
                  << ", quiet hours "
                  << sr::quiet_hours_setting(settings.quiet_hours.value_or(sr::QuietHours{})) << '\n';
    }

    StderrLogger logger;
    sr::PgPoolConfig config;
    config.conninfo = options.database;
    config.max_connections = 2;
    sr::PgPool database(config, logger);
    const sr::ReminderText text = [&](const std::string& clinic, const std::optional<std::string>& language,
                                      const std::string& doctor, sr::Instant starts_at,
                                      const sr::ClinicZone& zone) {
        const ClinicSettings& settings = settings_of(clinic);
        // In the language it was booked in. One this tool has no text for (no clinics file, only --message):
        // left as it is rather than rewritten in another language (each reschedule is atomic, so what was
        // moved before stays consistent); httpd's start-up recheck knows every language.
        if (language && !settings.languages->find(*language)) {
            throw std::runtime_error("an appointment's reminder is in " + *language +
                                     ", which this tool has no text for (the clinics file httpd writes has "
                                     "every language's: --clinics-file)");
        }
        const sr::ClinicLanguage& written = settings.languages->for_stored(language);
        return sr::reminder_text(written.message, settings.clinic_name, doctor, zone, starts_at,
                                 written.icu_locale);
    };
    const std::string rules = sr::computing_tz_rules_version();
    const sr::ReminderTiming timing = [&](const std::string& clinic, sr::Instant starts_at,
                                          const sr::ClinicZone& zone) {
        const ClinicSettings& settings = settings_of(clinic);
        return sr::reminder_times(starts_at, settings.schedule,
                                  settings.quiet_hours.value_or(sr::QuietHours{}), zone);
    };
    // Without any schedule, lead time or quiet hours (no file, no flag), each reminder keeps its distance.
    const bool places = !by_clinic.empty() || options.lead_time || options.quiet_hours;
    const sr::TzRecheckReport report = sr::recheck_time_zones(
        database, text, options.dry_run, places ? timing : sr::ReminderTiming(), clinics);
    for (const sr::TzChange& change : report.changes) {
        std::cout << change.appointment_id << "  " << change.local_wall_time << " " << change.time_zone
                  << ": " << sr::format_utc_iso_millis(change.old_starts_at) << " -> "
                  << sr::format_utc_iso_millis(change.new_starts_at) << '\n';
    }
    std::cout << (options.dry_run ? "would move " : "moved ") << report.changes.size() << " of "
              << report.checked << " future appointment(s) under time-zone rules " << rules << '\n';
    if (!options.dry_run) sr::record_tz_rules_version(database, rules);
    return k_exit_ok;
}

int run_purge(const Options& options) {
    StderrLogger logger;
    sr::PgPoolConfig config;
    config.conninfo = options.database;
    config.max_connections = 1;
    sr::PgPool database(config, logger);
    const sr::RetentionReport report = sr::purge_patient_data(database, options.retention, options.dry_run);
    std::cout << (options.dry_run ? "would anonymise " : "anonymised ") << report.appointments
              << " appointment(s), " << report.reminders << " reminder(s) and " << report.audit_rows
              << " audit row(s) older than " << sr::format_duration(options.retention)
              << " after their appointment";
    if (!options.dry_run) {
        std::cout << ", in " << report.transactions << " transaction(s); forgot " << report.expired_nonces
                  << " expired callback nonce(s) and " << report.expired_booking_counts
                  << " old booking count(s)";
    }
    std::cout << '\n';
    return k_exit_ok;
}

int run_grant_runtime(const Options& options) {
    if (options.role.empty()) throw UsageError("grant-runtime needs --role NAME");
    auto conn = connect(options);
    sr::grant_runtime_role(*conn, options.role);
    std::cout << "role " << options.role
              << " may now read and write the module's tables (no DDL; schema_migrations read only)\n";
    return k_exit_ok;
}

const std::map<std::string, std::function<int(const Options&)>> k_commands = {
    {"grant-runtime", run_grant_runtime},   {"purge", run_purge},           {"migrate", run_migrate},
    {"schema-version", run_schema_version}, {"tz-recheck", run_tz_recheck},
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << k_usage;
        return k_exit_usage;
    }
    const std::string command = argv[1];
    if (command == "-h" || command == "--help" || command == "help") {
        std::cout << k_usage;
        return k_exit_ok;
    }
    if (command == "--version") {
        std::cout << "sinch-reminder-admin " << SR_MODULE_VERSION << '\n';
        return k_exit_ok;
    }
    const auto found = k_commands.find(command);
    try {
        if (found == k_commands.end()) throw UsageError("unknown command '" + command + "'");
        return found->second(parse_options(argc, argv, 2));
    } catch (const UsageError& e) {
        std::cerr << "sinch-reminder-admin: " << e.what() << "\n\n" << k_usage;
        return k_exit_usage;
    } catch (const std::exception& e) {
        // Messages from the core are already masked; mask again in case libpq echoed the conninfo.
        std::cerr << "sinch-reminder-admin " << command << ": " << sr::mask_conninfo(e.what()) << '\n';
        return k_exit_failed;
    }
}
