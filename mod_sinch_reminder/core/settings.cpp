#include "core/settings.hpp"

#include <libpq-fe.h>
#include <sys/stat.h>
#include <unicode/locid.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <regex>
#include <strings.h>

#include "core/appointment_form.hpp"
#include "core/encoding.hpp"
#include "core/clock.hpp"
#include "core/phone.hpp"
#include "core/sms_text.hpp"

namespace sr {

namespace {

bool has_space_or_control(const std::string& s) {
    return std::any_of(s.begin(), s.end(),
                       [](unsigned char c) { return std::isspace(c) || std::iscntrl(c); });
}

int parse_whole_number(const std::string& value, int low, int high) {
    static const std::regex number("[0-9]{1,6}");
    if (std::regex_match(value, number)) {
        const int n = std::stoi(value);
        if (n >= low && n <= high) return n;
    }
    throw ConfigError("'" + value + "' must be a whole number from " + std::to_string(low) + " to " +
                      std::to_string(high));
}

template <typename T>
void keep_if_set(std::optional<T>& target, const std::optional<T>& overrides) {
    if (overrides) target = overrides;
}

// Labelled values add up: a mount's SinchReminderMessage es keeps the server's SinchReminderMessage fr.
void keep_if_set(std::optional<LanguageMessages>& target, const std::optional<LanguageMessages>& overrides) {
    if (!overrides) return;
    if (!target) target.emplace();
    for (const auto& [label, value] : *overrides) (*target)[label] = value;
}

}  // namespace

SettingValues merge(const SettingValues& base, const SettingValues& overrides) {
    SettingValues merged = base;
#define SR_FIELD(member, type, scope) keep_if_set(merged.member, overrides.member);
#include "core/settings.def"
#undef SR_FIELD
    return merged;
}

namespace {
#define SR_FIELD(member, type, scope) constexpr bool k_clinic_scoped_##member = SR_SCOPE_IS_CLINIC_##scope;
#define SR_SCOPE_IS_CLINIC_server false
#define SR_SCOPE_IS_CLINIC_clinic true
#include "core/settings.def"
#undef SR_SCOPE_IS_CLINIC_clinic
#undef SR_SCOPE_IS_CLINIC_server
#undef SR_FIELD
}  // namespace

std::vector<std::string> clinic_setting_differences(const SettingValues& a, const SettingValues& b) {
    std::vector<std::string> differ;
#define SR_FIELD(member, type, scope) \
    if (k_clinic_scoped_##member && a.member != b.member) differ.push_back(#member);
#include "core/settings.def"
#undef SR_FIELD
    return differ;
}

const std::vector<DirectiveSpec>& directive_specs() {
    static const std::vector<DirectiveSpec> specs = {
#define SR_DIRECTIVE(name, member, parser, is_path, syntax, help)                                  \
    {#name,                                                                                        \
     syntax,                                                                                       \
     help,                                                                                         \
     is_path,                                                                                      \
     [](SettingValues& values, const std::string& argument) { values.member = parser(argument); }, \
     false,                                                                                        \
     k_clinic_scoped_##member},
#include "core/settings.def"
#undef SR_DIRECTIVE
#define SR_LIST_DIRECTIVE(name, member, parser, syntax, help) \
    {#name,                                                   \
     syntax,                                                  \
     help,                                                    \
     false,                                                   \
     [](SettingValues& values, const std::string& argument) { \
         if (!values.member) values.member.emplace();         \
         values.member->push_back(parser(argument));          \
     },                                                       \
     true,                                                    \
     k_clinic_scoped_##member},
#include "core/settings.def"
#undef SR_LIST_DIRECTIVE
#define SR_LABELLED_DIRECTIVE(name, member, labelled_member, label_parser, parser, syntax, help)   \
    {#name,                                                                                        \
     syntax,                                                                                       \
     help,                                                                                         \
     false,                                                                                        \
     [](SettingValues& values, const std::string& argument) { values.member = parser(argument); }, \
     false,                                                                                        \
     k_clinic_scoped_##member,                                                                     \
     [](SettingValues& values, const std::string& label, const std::string& argument) {            \
         if (!values.labelled_member) values.labelled_member.emplace();                            \
         (*values.labelled_member)[label_parser(label)] = parser(argument);                        \
     }},
#include "core/settings.def"
#undef SR_LABELLED_DIRECTIVE
    };
    return specs;
}

// --- defaults: the one place they live ------------------------------------------------------
Settings Settings::resolve(const SettingValues& v) {
    Settings s;
    const bool project = v.project_id && v.key_id && v.key_secret;
    const bool service_plan = v.service_plan_id && v.api_token;
    // Like the official SDK: when both are complete, the service plan (works in every region) wins.
    if (service_plan) {
        s.auth = SinchAuthMode::ServicePlan;
    } else if (project) {
        s.auth = SinchAuthMode::Project;
    }
    s.project_id = v.project_id.value_or("");
    s.key_id = v.key_id.value_or("");
    s.key_secret = v.key_secret.value_or("");
    s.service_plan_id = v.service_plan_id.value_or("");
    s.api_token = v.api_token.value_or("");
    s.region = v.region.value_or("us");
    s.from = v.from.value_or("");
    s.sms_base_url = v.sms_base_url.value_or(
        sinch_default_sms_base_url(s.region, s.auth.value_or(SinchAuthMode::ServicePlan)));
    s.auth_base_url = v.auth_base_url.value_or(sinch_default_auth_base_url());
    s.ca_file = v.ca_file.value_or("");
    s.clinics_file = v.clinics_file.value_or("");
    s.database = v.database.value_or("");
    s.db_pool_max = v.db_pool_max.value_or(10);
    s.time_zone = v.time_zone.value_or("");
    s.default_country = v.default_country.value_or("");
    s.lead_time = v.lead_time.value_or(std::chrono::hours(2));
    s.schedule = v.schedule.value_or(ReminderSchedule{ScheduleEntry{s.lead_time, std::nullopt, 0}});
    s.template_dir = v.template_dir.value_or(default_template_dir());
    s.clinic = v.clinic.value_or("default");
    s.see_clinics = v.see_clinics.value_or(std::vector<std::string>{});
    s.clinic_name = v.clinic_name.value_or("");
    s.locale = v.locale.value_or("en_US");
    s.message = v.message.value_or(MessageTemplate::kDefaultText);
    s.own_message = v.message;
    s.messages = v.messages.value_or(LanguageMessages{});
    s.languages = v.languages.value_or(std::vector<std::string>{});
    s.cookie_secure = v.cookie_secure.value_or(true);
    s.horizon = v.horizon.value_or(std::chrono::hours(24 * 7));
    s.dispatch_interval = v.dispatch_interval.value_or(std::chrono::seconds(30));
    s.max_batches_per_second = v.max_batches_per_second.value_or(10);
    s.late_grace = v.late_grace.value_or(std::chrono::minutes(15));
    s.retry_delay = v.retry_delay.value_or(std::chrono::seconds(30));
    s.public_base_url = v.public_base_url.value_or("");
    s.callback_secret = v.callback_secret.value_or("");
    s.delivery_report =
        v.delivery_report.value_or(s.public_base_url.empty() ? "none" : "per_recipient_final");
    s.reconcile_interval = v.reconcile_interval.value_or(std::chrono::minutes(5));
    s.dispatch_workers = v.dispatch_workers.value_or(4);
    s.lease_time = v.lease_time.value_or(std::chrono::seconds(45));
    s.allow_anonymous = v.allow_anonymous.value_or(false);
    s.callback_auth = v.callback_auth.value_or("hmac");
    s.retention = v.retention.value_or(std::chrono::hours(24 * 180));
    s.bookings_per_user_per_hour = v.bookings_per_user_per_hour.value_or(100);
    s.doctors = v.doctors.value_or(std::vector<std::string>{});
    s.allowed_countries = v.allowed_countries.value_or(std::vector<std::string>{});
    s.max_segments = v.max_segments.value_or(2);
    s.quiet_hours = v.quiet_hours.value_or(QuietHours{});
    s.sensitive_words = v.sensitive_words.value_or(default_sensitive_words());
    if (s.sensitive_words == std::vector<std::string>{"none"}) s.sensitive_words.clear();
    return s;
}

SinchConfig Settings::sinch_config() const {
    SinchConfig config;
    config.mode = auth.value_or(SinchAuthMode::ServicePlan);
    config.project_id = project_id;
    config.key_id = key_id;
    config.key_secret = key_secret;
    config.service_plan_id = service_plan_id;
    config.api_token = api_token;
    config.sms_base_url = sms_base_url;
    config.auth_base_url = auth_base_url;
    config.from = from;
    return config;
}

std::vector<std::string> cross_directive_problems(const SettingValues& v, bool handler_mounted) {
    std::vector<std::string> problems;
    const bool any_project = v.project_id || v.key_id || v.key_secret;
    const bool project = v.project_id && v.key_id && v.key_secret;
    const bool any_plan = v.service_plan_id || v.api_token;
    const bool plan = v.service_plan_id && v.api_token;
    if (any_project && !project) {
        problems.push_back(
            "Sinch project credentials are incomplete: SinchReminderProjectId, SinchReminderKeyId and "
            "SinchReminderKeySecret (or SinchReminderKeySecretFile) must all be set");
    }
    if (any_plan && !plan) {
        problems.push_back(
            "Sinch service plan credentials are incomplete: SinchReminderServicePlanId and "
            "SinchReminderApiToken (or SinchReminderApiTokenFile) must both be set");
    }
    if (project && !plan && v.region && *v.region != "us" && *v.region != "eu" && !v.sms_base_url) {
        problems.push_back("SinchReminderRegion " + *v.region +
                           ": Sinch supports OAuth2 project credentials only in us and eu; use "
                           "SinchReminderServicePlanId and SinchReminderApiToken there");
    }
    if (handler_mounted) {
        // Delivery reports are asked for (explicitly, or by default with a public base URL): their
        // callbacks must be authenticated. HMAC is the default and needs the secret Sinch signs with.
        const std::string reports =
            v.delivery_report.value_or(v.public_base_url ? "per_recipient_final" : "none");
        if (reports != "none" && v.callback_auth.value_or("hmac") == "hmac" && !v.callback_secret) {
            problems.push_back("delivery reports are asked for (SinchReminderDeliveryReport " + reports +
                               "), but their callbacks cannot be authenticated: set "
                               "SinchReminderCallbackSecretFile (the HMAC "
                               "secret Sinch signs callbacks with; SinchReminderCallbackAuth hmac is the "
                               "default), or, only if "
                               "your Sinch account cannot sign callbacks, SinchReminderCallbackAuth "
                               "url-token (keep the token out "
                               "of the access log: see the README), or SinchReminderDeliveryReport none");
        }
        if (!v.database) {
            problems.push_back(
                "SinchReminderDatabase is not set, but the sinch-reminder handler is used here");
        }
        if (!project && !plan && !any_project && !any_plan) {
            problems.push_back(
                "no Sinch credentials, but the sinch-reminder handler is used here: set "
                "SinchReminderServicePlanId + SinchReminderApiToken, or SinchReminderProjectId + "
                "SinchReminderKeyId + SinchReminderKeySecret");
        }
        if (!v.time_zone) {
            problems.push_back(
                "SinchReminderTimeZone is not set, but the sinch-reminder handler is used here: the "
                "clinic's IANA time zone decides when reminders go out");
        }
    }
    if (v.schedule && v.lead_time) {
        problems.push_back(
            "SinchReminderSchedule and SinchReminderLeadTime are both set (for this clinic, "
            "counting what it inherits): a schedule replaces the lead time; remove "
            "SinchReminderLeadTime, or write its duration as a schedule entry (e.g. "
            "SinchReminderSchedule 1d@18:00 " +
            format_duration(*v.lead_time) + ")");
    }
    if (v.schedule && v.schedule->size() > static_cast<std::size_t>(k_max_schedule_entries)) {
        problems.push_back("SinchReminderSchedule has " + std::to_string(v.schedule->size()) +
                           " entries; at most " + std::to_string(k_max_schedule_entries) +
                           " (each is an SMS the patient gets)");
    }
    // Every offered language has a text, every text's language is offered (core/languages.hpp).
    for (std::string& problem :
         language_problems(v.languages.value_or(std::vector<std::string>{}), v.locale.value_or("en_US"),
                           v.message, v.messages.value_or(LanguageMessages{}))) {
        problems.push_back(std::move(problem));
    }
    return problems;
}

std::vector<std::string> cross_directive_warnings(const SettingValues& v, bool handler_mounted) {
    std::vector<std::string> warnings;
    if (!handler_mounted) return warnings;
    const bool reports = v.delivery_report ? *v.delivery_report != "none" : v.public_base_url.has_value();
    if (!v.from && !reports) {
        warnings.push_back(
            "SR0026: neither SinchReminderFrom nor delivery reports (SinchReminderPublicBaseUrl) are "
            "configured: "
            "if the Sinch account has no default originator, Sinch accepts each batch and then aborts it "
            "(code 410); "
            "reminders show 'scheduled' until reconciliation reads the batch's delivery report after its "
            "send time");
    }
    return warnings;
}

// --- parsers --------------------------------------------------------------------------------
std::string parse_identifier(const std::string& value) {
    static const std::regex identifier("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    if (!std::regex_match(value, identifier)) {
        throw ConfigError("'" + value +
                          "' is not a valid ID (letters, digits, '.', '_' and '-', at most 128)");
    }
    return value;
}

std::string parse_secret(const std::string& value) {
    if (value.empty()) throw ConfigError("the secret is empty");
    if (has_space_or_control(value)) throw ConfigError("the secret contains white space");
    return value;
}

std::string read_secret_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError("cannot read '" + path + "'");
    std::string first_line;
    std::getline(in, first_line);
    while (!first_line.empty() && std::isspace(static_cast<unsigned char>(first_line.back()))) {
        first_line.pop_back();
    }
    if (first_line.empty()) throw ConfigError("'" + path + "' is empty");
    if (has_space_or_control(first_line))
        throw ConfigError("the secret in '" + path + "' contains white space");
    return first_line;
}

std::string parse_region(const std::string& value) {
    static const char* const regions[] = {"us", "eu", "au", "br", "ca"};
    for (const char* region : regions) {
        if (value == region) return value;
    }
    throw ConfigError("'" + value + "' is not a Sinch region; use one of us, eu, au, br, ca");
}

std::string parse_sender(const std::string& value) {
    static const std::regex e164(R"(\+[1-9][0-9]{6,14})");
    static const std::regex short_code("[0-9]{3,8}");
    static const std::regex alphanumeric("[A-Za-z0-9 ]{1,11}");
    if (std::regex_match(value, e164) || std::regex_match(value, short_code)) return value;
    if (std::regex_match(value, alphanumeric) && std::any_of(value.begin(), value.end(), ::isalpha))
        return value;
    throw ConfigError("'" + value +
                      "' is not a sender: use an E.164 number like +12025550123, a short code, or an "
                      "alphanumeric sender ID of at most 11 characters");
}

bool is_https_or_loopback(const std::string& url) {
    if (strncasecmp(url.c_str(), "https://", 8) == 0) return true;
    if (strncasecmp(url.c_str(), "http://", 7) != 0) return false;
    // The host: up to the path, then without the port ([v6] keeps its brackets).
    std::string host =
        url.substr(7, url.find('/', 7) == std::string::npos ? std::string::npos : url.find('/', 7) - 7);
    if (!host.empty() && host.front() == '[') {
        host = host.substr(0, host.find(']') + 1);
    } else {
        host = host.substr(0, host.find(':'));
    }
    std::transform(host.begin(), host.end(), host.begin(), ::tolower);
    static const std::regex loopback_v4(R"(127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})");
    return host == "localhost" || host == "[::1]" || std::regex_match(host, loopback_v4);
}

namespace {

void refuse_plain_http(const std::string& value) {
    if (!is_https_or_loopback(value)) {
        throw ConfigError(
            "'" + value +
            "' is plain HTTP: secrets and patient data would cross the network unencrypted; use "
            "https:// (http:// is accepted only for a loopback host such as 127.0.0.1)");
    }
}

}  // namespace

std::string parse_base_url(const std::string& value) {
    static const std::regex url(R"(https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/[^?#\s]*)?)");
    if (!std::regex_match(value, url)) {
        throw ConfigError("'" + value + "' is not an http(s) base URL like https://us.sms.api.sinch.com");
    }
    refuse_plain_http(value);
    std::string trimmed = value;
    while (trimmed.size() > 8 && trimmed.back() == '/') trimmed.pop_back();
    return trimmed;
}

std::string parse_conninfo(const std::string& value) {
    char* error = nullptr;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
        PQconninfoParse(value.c_str(), &error), &PQconninfoFree);
    if (!options) {
        std::string message = error ? error : "out of memory";
        PQfreemem(error);
        while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back())))
            message.pop_back();
        throw ConfigError("not a valid libpq connection string: " + message);
    }
    return value;
}

int parse_pool_max(const std::string& value) { return parse_whole_number(value, 1, 1000); }

std::string parse_time_zone(const std::string& value) {
    try {
        return ClinicZone::load(value).name();
    } catch (const std::exception& e) {
        throw ConfigError(e.what());
    }
}

std::string parse_country(const std::string& value) {
    std::string upper = value;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    if (!is_supported_phone_region(upper)) {
        throw ConfigError("'" + value +
                          "' is not an ISO 3166 alpha-2 country code with a phone numbering plan "
                          "(e.g. US, GB, DE)");
    }
    return upper;
}

std::chrono::seconds parse_duration(const std::string& value) {
    static const std::regex plain_seconds("[0-9]{1,9}");
    static const std::regex parts("(([0-9]{1,6})d)?(([0-9]{1,6})h)?(([0-9]{1,6})m)?(([0-9]{1,9})s)?");
    std::smatch m;
    if (std::regex_match(value, plain_seconds)) return std::chrono::seconds(std::stoll(value));
    if (!value.empty() && std::regex_match(value, m, parts)) {
        long long total = 0;
        if (m[2].matched) total += std::stoll(m[2]) * 86400;
        if (m[4].matched) total += std::stoll(m[4]) * 3600;
        if (m[6].matched) total += std::stoll(m[6]) * 60;
        if (m[8].matched) total += std::stoll(m[8]);
        return std::chrono::seconds(total);
    }
    throw ConfigError("'" + value + "' is not a duration; write e.g. 2h, 90m, 1h30m, 1d or 45s");
}

std::string format_duration(std::chrono::seconds duration) {
    long long s = duration.count();
    if (s == 0) return "0s";
    std::string out;
    const std::pair<long long, const char*> units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
    for (const auto& [size, suffix] : units) {
        if (s >= size) {
            out += std::to_string(s / size) + suffix;
            s %= size;
        }
    }
    return out;
}

namespace {

std::chrono::seconds parse_duration_between(const std::string& value, std::chrono::seconds low,
                                            std::chrono::seconds high) {
    const auto duration = parse_duration(value);
    if (duration < low || duration > high) {
        throw ConfigError("'" + value + "' must be between " + format_duration(low) + " and " +
                          format_duration(high));
    }
    return duration;
}

}  // namespace

std::chrono::seconds parse_lead_time(const std::string& value) {
    return parse_duration_between(value, std::chrono::minutes(1), std::chrono::hours(24 * 30));
}

ScheduleEntry parse_schedule_entry(const std::string& value) {
    static const std::regex wall("([0-9]{1,2})d@([01][0-9]|2[0-3]):([0-5][0-9])");
    std::smatch m;
    if (std::regex_match(value, m, wall)) {
        const int days = std::stoi(m[1]);
        if (days > k_max_schedule_days) {
            throw ConfigError("'" + value + "': at most " + std::to_string(k_max_schedule_days) +
                              " days before the appointment");
        }
        return ScheduleEntry{std::chrono::seconds(0), days, std::stoi(m[2]) * 60 + std::stoi(m[3])};
    }
    if (value.find('@') != std::string::npos) {
        throw ConfigError("'" + value +
                          "' must be Nd@HH:MM (N days before the appointment's day, at that clinic time in "
                          "24-hour form, e.g. 1d@18:00 or 0d@07:00) or a duration before it (2h, 90m, 1d)");
    }
    return ScheduleEntry{parse_lead_time(value), std::nullopt, 0};
}

std::chrono::seconds parse_horizon(const std::string& value) {
    return parse_duration_between(value, std::chrono::minutes(1), std::chrono::hours(24 * 60));
}

std::chrono::seconds parse_dispatch_interval(const std::string& value) {
    return parse_duration_between(value, std::chrono::seconds(1), std::chrono::hours(1));
}

std::chrono::seconds parse_late_grace(const std::string& value) {
    return parse_duration_between(value, std::chrono::seconds(0), std::chrono::hours(24));
}

std::chrono::seconds parse_retry_delay(const std::string& value) {
    return parse_duration_between(value, std::chrono::seconds(1), std::chrono::minutes(30));
}

int parse_batches_per_second(const std::string& value) { return parse_whole_number(value, 1, 1000); }

int parse_dispatch_workers(const std::string& value) { return parse_whole_number(value, 1, 256); }

// Longer than one Sinch call (10 s timeout) plus a lookup, since the lease is extended before each call.
std::chrono::seconds parse_lease_time(const std::string& value) {
    return parse_duration_between(value, std::chrono::seconds(25), std::chrono::hours(1));
}

std::string parse_public_base_url(const std::string& value) {
    static const std::regex url(
        R"(https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/\-]*)?)");
    if (!std::regex_match(value, url)) {
        throw ConfigError(
            "'" + value +
            "' is not a public base URL like https://clinic.example.org (no query, no fragment)");
    }
    refuse_plain_http(value);
    std::string trimmed = value;
    while (trimmed.size() > 8 && trimmed.back() == '/') trimmed.pop_back();
    return trimmed;
}

std::string parse_ca_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError("cannot read '" + path + "'");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("-----BEGIN CERTIFICATE-----", 0) == 0) return path;
    }
    throw ConfigError("'" + path + "' holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
}

std::string parse_clinics_file_setting(const std::string& path) {
    const std::string::size_type slash = path.rfind('/');
    const std::string directory = slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
    struct stat info {};
    if (slash == path.size() - 1) throw ConfigError("'" + path + "' names a directory, not a file");
    if (::stat(directory.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
        throw ConfigError("the directory '" + directory + "' does not exist (httpd writes '" + path +
                          "' at start)");
    return path;
}

std::string read_callback_secret_file(const std::string& path) {
    const std::string secret = read_secret_file(path);
    if (secret.size() < 16) throw ConfigError("the secret in '" + path + "' is shorter than 16 characters");
    return secret;
}

std::string parse_delivery_report(const std::string& value) {
    for (const char* known : {"none", "summary", "full", "per_recipient", "per_recipient_final"}) {
        if (value == known) return value;
    }
    throw ConfigError("'" + value +
                      "' must be one of none, summary, full, per_recipient, per_recipient_final");
}

std::chrono::seconds parse_reconcile_interval(const std::string& value) {
    return parse_duration_between(value, std::chrono::seconds(0), std::chrono::hours(24));
}

std::string parse_callback_auth(const std::string& value) {
    if (value == "hmac" || value == "url-token") return value;
    throw ConfigError("'" + value + "' must be hmac or url-token");
}

std::chrono::seconds parse_retention(const std::string& value) {
    if (strcasecmp(value.c_str(), "off") == 0) return std::chrono::seconds(0);
    return parse_duration_between(value, std::chrono::hours(24), std::chrono::hours(24 * 3660));
}

int parse_bookings_per_hour(const std::string& value) { return parse_whole_number(value, 0, 100000); }

int parse_max_segments(const std::string& value) { return parse_whole_number(value, 1, 10); }

std::string parse_sensitive_word(const std::string& value) {
    const std::string word = trim(value);
    if (word.empty() || word.size() > 100 || word.find_first_of(" \t\r\n") != std::string::npos ||
        !is_valid_utf8(word)) {
        throw ConfigError("'" + value + "' must be one word (at most 100 bytes of UTF-8), or none");
    }
    return word;
}

std::vector<std::string> default_sensitive_words() {
    // Departments and conditions whose name alone tells whoever sees the lock screen too much (peers.md:
    // "no department or diagnosis in the SMS"). English; a clinic adds its own language's words.
    return {"abortion",   "addiction",  "aids",         "biopsy",    "cancer",      "chemotherapy",
            "detox",      "dialysis",   "fertility",    "genetic",   "gynaecology", "gynecology",
            "hepatitis",  "hiv",        "hospice",      "ivf",       "mental",      "methadone",
            "obstetrics", "oncology",   "palliative",   "pregnancy", "prenatal",    "psychiatric",
            "psychiatry", "psychology", "radiotherapy", "rehab",     "sexual",      "std",
            "sti",        "transplant", "tumor",        "tumour",    "urology"};
}

std::string parse_doctor_name(const std::string& value) {
    if (const auto problem = doctor_name_problem(value)) throw ConfigError("'" + value + "': " + *problem);
    return trim(value);  // compared with the form's trimmed entry
}

std::string default_template_dir() {
#ifdef SR_DEFAULT_TEMPLATE_DIR
    return SR_DEFAULT_TEMPLATE_DIR;
#else
    return "/usr/local/share/mod_sinch_reminder/templates";
#endif
}

std::string parse_template_dir(const std::string& value) {
    struct stat info {};
    if (stat(value.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
        throw ConfigError("'" + value + "' is not a directory");
    }
    return value;
}

std::string parse_clinic_key(const std::string& value) {
    static const std::regex key("[a-z0-9][a-z0-9_-]{0,62}");
    if (!std::regex_match(value, key)) {
        throw ConfigError(
            "'" + value +
            "' is not a clinic key: 1 to 63 lower-case letters, digits, '-' or '_', starting with a "
            "letter or digit (it is stored with every appointment, so keep it once chosen)");
    }
    return value;
}

std::string parse_clinic_name(const std::string& value) {
    if (value.size() > 100) throw ConfigError("the name is longer than 100 characters");
    if (std::any_of(value.begin(), value.end(), [](unsigned char c) { return c < 0x20; })) {
        throw ConfigError("the name contains control characters");
    }
    return value;
}

std::string parse_locale(const std::string& value) {
    static const std::regex shape("[a-z]{2,3}(_[A-Z]{2})?");
    if (!std::regex_match(value, shape)) {
        throw ConfigError("'" + value + "' is not a locale like en_US, en_GB, fr_FR or de");
    }
    int32_t count = 0;
    const icu::Locale* available = icu::Locale::getAvailableLocales(count);
    for (int32_t i = 0; i < count; ++i) {
        if (value == available[i].getName() || value == available[i].getLanguage()) return value;
    }
    throw ConfigError("'" + value + "' is not a locale ICU has data for");
}

std::string parse_message_template(const std::string& value) {
    MessageTemplate::parse(value);  // throws ConfigError naming what is wrong
    return value;
}

bool parse_on_off(const std::string& value) {
    if (strcasecmp(value.c_str(), "on") == 0) return true;
    if (strcasecmp(value.c_str(), "off") == 0) return false;
    throw ConfigError("'" + value + "' must be On or Off");
}

}  // namespace sr
