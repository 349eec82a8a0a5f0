// sinch-reminder-admin: maintenance commands for mod_sinch_reminder's database, built on the module's core.
//
//   sinch-reminder-admin migrate --database CONNINFO [--sql-dir DIR]
//   sinch-reminder-admin schema-version --database CONNINFO [--sql-dir DIR]
//   sinch-reminder-admin tz-recheck --database CONNINFO [--dry-run] [--clinic KEY] [--clinic-name X]
//     [--locale L] [--message T] [--lead-time D] [--quiet-hours HH:MM-HH:MM]
//   sinch-reminder-admin grant-runtime --database CONNINFO --role NAME
// (--database-file PATH or $SINCH_REMINDER_DATABASE instead of --database)
//   sinch-reminder-admin purge --database CONNINFO [--retention 180d] [--dry-run]
//   sinch-reminder-admin --version | --help
//
// Exit codes: 0 success, 1 the command failed (database, migration), 2 usage error.
// A new subcommand is one function plus one row in k_commands.
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
    "  --clinic KEY         tz-recheck: only this clinic's appointments (SinchReminderClinic; with several\n"
    "                       clinics run once per clinic with its own settings below)\n"
    "  --clinic-name, --locale, --message\n"
    "                       tz-recheck: as SinchReminderClinicName/Locale/Message, for the new SMS texts\n"
    "  --lead-time DURATION, --quiet-hours HH:MM-HH:MM\n"
    "                       tz-recheck: as SinchReminderLeadTime/QuietHours, for the new send times "
    "(without\n"
    "                       either, each reminder keeps its distance to the appointment)\n"
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
    std::string clinic_name;
    std::string locale = "en_US";
    std::string message = sr::MessageTemplate::kDefaultText;
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

int run_tz_recheck(const Options& options) {
    StderrLogger logger;
    sr::PgPoolConfig config;
    config.conninfo = options.database;
    config.max_connections = 2;
    sr::PgPool database(config, logger);
    const sr::MessageTemplate message = sr::MessageTemplate::parse(options.message);
    const std::string own_language = sr::language_of_locale(options.locale);
    const sr::ReminderText text = [&](const std::string&, const std::optional<std::string>& language,
                                      const std::string& doctor, sr::Instant starts_at,
                                      const sr::ClinicZone& zone) {
        // Only the clinic's own language's text is given on the command line: another language's appointment
        // is left as it is rather than rewritten in the wrong language (each reschedule is atomic, so what
        // was moved before stays consistent; the module's own start-up recheck knows every language).
        if (language && *language != own_language) {
            throw std::runtime_error("an appointment's reminder is in " + *language +
                                     "; this tool has only the text in " + own_language +
                                     " (--message/--locale): let httpd's start-up recheck move it");
        }
        return sr::reminder_text(message, options.clinic_name, doctor, zone, starts_at, options.locale);
    };
    const std::string rules = sr::computing_tz_rules_version();
    sr::ReminderTiming timing;
    if (options.lead_time || options.quiet_hours) {
        timing = [&](const std::string&, sr::Instant starts_at, const sr::ClinicZone& zone) {
            // One reminder per appointment (--lead-time); without these options each keeps its distance.
            return sr::reminder_times(
                starts_at,
                sr::ReminderSchedule{{options.lead_time.value_or(std::chrono::hours(2)), std::nullopt, 0}},
                options.quiet_hours.value_or(sr::QuietHours{}), zone);
        };
    }
    const sr::TzRecheckReport report =
        sr::recheck_time_zones(database, text, options.dry_run, timing, options.clinics);
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
