#pragma once
// The module's settings, free of httpd: parsed directive values (SettingValues, every field
// optional so a virtual host can inherit from the main server) and the effective Settings with
// defaults applied. The directive list itself is settings.def.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/languages.hpp"
#include "core/reminder_timing.hpp"
#include "core/sinch_client.hpp"

namespace sr {

// What the configuration files said; unset fields inherit (merge) or take the default (resolve).
struct SettingValues {
#define SR_FIELD(member, type, scope) std::optional<type> member;
#include "core/settings.def"
#undef SR_FIELD
};

// Field by field: a value set in the virtual host (or the <Location>) wins, otherwise the enclosing one's.
SettingValues merge(const SettingValues& base, const SettingValues& overrides);

// The clinic-scoped settings (settings.def scope `clinic`) whose values differ, by member name; the key
// itself is one of them. Two mounts with one SinchReminderClinic key must not differ (apache2 -t says which).
std::vector<std::string> clinic_setting_differences(const SettingValues& a, const SettingValues& b);

// One configuration directive, described without httpd so the adapter can build its table from it.
struct DirectiveSpec {
    const char* name;
    const char* syntax;
    const char* help;
    bool argument_is_path;
    // Parses `argument` and stores it (appends it, for a list); throws ConfigError saying what is wrong.
    void (*apply)(SettingValues& values, const std::string& argument);
    bool takes_list = false;  // several arguments, each parsed and appended (SR_LIST_DIRECTIVE)
    bool clinic_scoped = false;  // also allowed in a mount's <Location> (settings.def scope `clinic`)
    // SR_LABELLED_DIRECTIVE: with two arguments, `apply_labelled(values, label, argument)`.
    void (*apply_labelled)(SettingValues& values, const std::string& label,
                           const std::string& argument) = nullptr;
};
const std::vector<DirectiveSpec>& directive_specs();

// Effective settings of one (virtual) server: defaults applied, hosts derived.
struct Settings {
    std::optional<SinchAuthMode> auth;  // none: no credentials configured
    std::string project_id, key_id, key_secret;
    std::string service_plan_id, api_token;
    std::string region;
    std::string from;
    std::string sms_base_url, auth_base_url;
    std::string ca_file;  // "" = the system's CA bundle (libcurl's default)
    std::string clinics_file;  // "" = sinch-reminder-clinics.json in httpd's DefaultRuntimeDir
    std::string database;
    int db_pool_max = 0;
    std::string time_zone;
    std::string default_country;
    std::chrono::seconds lead_time{0};
    // SinchReminderSchedule; when not set, the one entry SinchReminderLeadTime gives. Never empty.
    ReminderSchedule schedule;
    std::string template_dir;
    std::string clinic = "default";        // SinchReminderClinic: the key stored with each appointment
    std::vector<std::string> see_clinics;  // other clinics this mount lists and changes too
    std::string clinic_name;
    std::string locale;
    std::string message;                     // the clinic's own language's text (built-in when not set)
    std::optional<std::string> own_message;  // SinchReminderMessage "text" as configured (nullopt: not set)
    LanguageMessages messages;               // SinchReminderMessage LANG "text"
    std::vector<std::string> languages;      // SinchReminderLanguages as configured (empty: the own one)
    bool cookie_secure = true;
    std::chrono::seconds horizon{0};
    std::chrono::seconds dispatch_interval{0};
    int max_batches_per_second = 0;
    std::chrono::seconds late_grace{0};
    std::chrono::seconds retry_delay{0};
    std::string public_base_url;                 // "" = none: batches carry no callback_url
    std::string callback_secret;                 // "" = callbacks are authenticated by the token in their URL
    std::string delivery_report;                 // none|summary|full|per_recipient|per_recipient_final
    std::chrono::seconds reconcile_interval{0};  // 0 = off
    int dispatch_workers = 0;
    std::chrono::seconds lease_time{0};
    bool allow_anonymous = false;        // serve staff routes to requests without an authenticated user
    std::string callback_auth;           // hmac (the default) | url-token
    std::chrono::seconds retention{0};   // 0 = off: patient data is kept
    int bookings_per_user_per_hour = 0;  // 0 = no limit
    std::vector<std::string> doctors;    // empty: free text (URLs and markup refused)
    std::vector<std::string> allowed_countries;  // empty: any country
    int max_segments = 2;                        // SMS parts a reminder may need
    QuietHours quiet_hours;                      // inactive: none
    std::vector<std::string> sensitive_words;    // apache2 -t warns when the SMS text or clinic name has one

    static Settings resolve(const SettingValues& values);
    // What the Sinch client needs; call only when auth is set.
    SinchConfig sinch_config() const;
};

// Problems that need several directives to see. `handler_mounted` says whether this server
// serves the sinch-reminder handler (then a database, credentials and a time zone are required).
std::vector<std::string> cross_directive_problems(const SettingValues& values, bool handler_mounted);
// Combinations that work but that a sysadmin should hear about at `apache2 -t` (each starts with its log id).
std::vector<std::string> cross_directive_warnings(const SettingValues& values, bool handler_mounted);

// --- value parsers (each directive names one in settings.def); exposed for unit tests ---------
std::string parse_identifier(const std::string& value);
std::string parse_secret(const std::string& value);
std::string read_secret_file(const std::string& path);
std::string parse_region(const std::string& value);
std::string parse_sender(const std::string& value);
std::string parse_base_url(const std::string& value);
std::string parse_conninfo(const std::string& value);
std::string parse_ca_file(const std::string& path);
std::string parse_clinics_file_setting(const std::string& path);
int parse_pool_max(const std::string& value);
std::string parse_time_zone(const std::string& value);
std::string parse_country(const std::string& value);
std::chrono::seconds parse_lead_time(const std::string& value);
std::string parse_template_dir(const std::string& value);
std::string parse_clinic_key(const std::string& value);
std::string parse_clinic_name(const std::string& value);
std::string parse_locale(const std::string& value);
std::string parse_message_template(const std::string& value);
bool parse_on_off(const std::string& value);
std::chrono::seconds parse_horizon(const std::string& value);
std::chrono::seconds parse_dispatch_interval(const std::string& value);
int parse_batches_per_second(const std::string& value);
std::chrono::seconds parse_late_grace(const std::string& value);
std::chrono::seconds parse_retry_delay(const std::string& value);
std::string parse_public_base_url(const std::string& value);
std::string read_callback_secret_file(const std::string& path);
std::string parse_delivery_report(const std::string& value);
std::chrono::seconds parse_reconcile_interval(const std::string& value);
int parse_dispatch_workers(const std::string& value);
std::chrono::seconds parse_lease_time(const std::string& value);
std::string parse_callback_auth(const std::string& value);
std::chrono::seconds parse_retention(const std::string& value);
int parse_bookings_per_hour(const std::string& value);
int parse_max_segments(const std::string& value);
std::string parse_sensitive_word(const std::string& value);
// SinchReminderSensitiveWords' built-in list.
std::vector<std::string> default_sensitive_words();
std::string parse_doctor_name(const std::string& value);
// Whether a base URL may be used: https://, or http:// to a loopback host (tests, a local proxy).
bool is_https_or_loopback(const std::string& url);
// Where `cmake --install` puts the default templates.
std::string default_template_dir();
// "2h", "90m", "1h30m", "1d", "45s", "3600" (seconds); throws ConfigError.
std::chrono::seconds parse_duration(const std::string& value);
std::string format_duration(std::chrono::seconds duration);

}  // namespace sr
