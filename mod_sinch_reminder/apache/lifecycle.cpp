// The module's life inside httpd: configuration checks (also run by `apache2 -t`), start-up,
// per-process resources after fork, and the hook registration.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <httpd.h>
#include <ap_mpm.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>

#include "apache/barrier.hpp"
#include "apache/config.hpp"
#include "apache/handler.hpp"
#include "apache/module_api.h"
#include "apache/runtime.hpp"
#include "apache/sinch_counters.hpp"
#include "apache/status.hpp"
#include "core/clinics_file.hpp"
#include "core/clock.hpp"
#include "core/message_check.hpp"
#include "core/templates.hpp"
#include "core/text_join.hpp"

APLOG_USE_MODULE(sinch_reminder);

namespace sr::apache {

namespace {

constexpr const char* k_handler_name = "sinch-reminder";

// Section arguments keep their closing '>' and quotes: `"/appointment">` -> /appointment
std::string section_argument(const char* args) {
    std::string value = args ? args : "";
    while (!value.empty() && (value.back() == '>' || value.back() == ' ')) value.pop_back();
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
        value = value.substr(1, value.size() - 2);
    }
    return value;
}

bool names_our_handler(const char* args) {
    std::string value = section_argument(args);
    return strcasecmp(value.c_str(), k_handler_name) == 0;
}

struct Mount {
    const ap_directive_t* virtual_host;  // nullptr: main server level (inherited by every vhost)
    std::string path;
};

// Where is the handler mounted? SetHandler belongs to httpd's core, so the parsed configuration
// tree is the only place that says so.
void collect_mounts(const ap_directive_t* node, const ap_directive_t* virtual_host, std::vector<Mount>& out) {
    for (; node; node = node->next) {
        const ap_directive_t* scope = virtual_host;
        if (strcasecmp(node->directive, "<VirtualHost") == 0) scope = node;
        if ((strcasecmp(node->directive, "SetHandler") == 0 ||
             strcasecmp(node->directive, "AddHandler") == 0) &&
            names_our_handler(node->args)) {
            std::string path;
            for (const ap_directive_t* parent = node->parent; parent; parent = parent->parent) {
                if (strcasecmp(parent->directive, "<Location") == 0) {
                    path = section_argument(parent->args);
                    break;
                }
            }
            out.push_back({virtual_host, path});
        }
        if (node->first_child) collect_mounts(node->first_child, scope, out);
    }
}

// Does this section (or a <RequireAll>/<RequireAny> in it) authenticate or restrict anyone? An AuthType
// other than None, or a Require other than `Require all granted`.
bool has_access_control(const ap_directive_t* node) {
    for (; node; node = node->next) {
        std::string args = node->args ? node->args : "";
        for (char& c : args) c = static_cast<char>(apr_tolower(c));
        while (!args.empty() && args.back() == ' ') args.pop_back();
        if (strcasecmp(node->directive, "AuthType") == 0 && args != "none") return true;
        if (strcasecmp(node->directive, "Require") == 0 && args.rfind("all granted", 0) != 0) return true;
        if (node->first_child && has_access_control(node->first_child)) return true;
    }
    return false;
}

// The <Location> sections with access control (has_access_control), where they apply.
void collect_protected_locations(const ap_directive_t* node, const ap_directive_t* virtual_host,
                                 std::vector<Mount>& out) {
    for (; node; node = node->next) {
        const ap_directive_t* scope = virtual_host;
        if (strcasecmp(node->directive, "<VirtualHost") == 0) scope = node;
        if (strcasecmp(node->directive, "<Location") == 0 && has_access_control(node->first_child)) {
            out.push_back({virtual_host, section_argument(node->args)});
        } else if (node->first_child) {
            collect_protected_locations(node->first_child, scope, out);
        }
    }
}

// Whether a <Location path> applies to the whole mount (the mount itself or a parent of it).
bool covers(const std::string& location, const std::string& mount) {
    std::string prefix = location;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    return prefix.empty() || mount == prefix || mount.rfind(prefix + "/", 0) == 0;
}

bool is_in(const ap_directive_t* virtual_host, const server_rec* server) {
    if (!virtual_host) return true;
    return server->is_virtual && server->defn_name && virtual_host->filename &&
           std::strcmp(server->defn_name, virtual_host->filename) == 0 &&
           server->defn_line_number == static_cast<unsigned>(virtual_host->line_num);
}

int pre_config(apr_pool_t*, apr_pool_t*, apr_pool_t*) noexcept { return OK; }

// The clinic a mount serves: the server's settings, then every <Location> section that covers the mount, in
// the order httpd merges them for a request there. Refuses clinic settings in <LocationMatch>, whose
// requests cannot be told apart here.
SettingValues clinic_values_of(const server_rec* s, const std::string& mount,
                               std::vector<std::string>& problems) {
    SettingValues section_values;
    const auto* core = static_cast<const core_server_config*>(ap_get_core_module_config(s->module_config));
    for (int i = 0; core && core->sec_url && i < core->sec_url->nelts; ++i) {
        const auto* section = reinterpret_cast<ap_conf_vector_t**>(core->sec_url->elts)[i];
        const DirConfig* ours = dir_config(section);
        const auto* where = static_cast<const core_dir_config*>(ap_get_core_module_config(section));
        if (!ours || !where || !where->d) continue;
        if (where->r) {
            if (!clinic_setting_differences(ours->values, SettingValues{}).empty()) {
                problems.push_back(std::string("<LocationMatch ") + where->d +
                                   ">: a clinic's settings belong in a plain <Location> of its mount");
            }
            continue;
        }
        if (covers(where->d, mount)) section_values = merge(section_values, ours->values);
    }
    return merge(server_config(s).values, section_values);
}

// Cross-directive checks; runs under `apache2 -t` too, so a broken setup never starts.
int check_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* main_server) noexcept {
    return guard_server(main_server, "check_config", HTTP_INTERNAL_SERVER_ERROR, [&] {
        std::vector<Mount> mounts, protected_locations;
        collect_mounts(ap_conftree, nullptr, mounts);
        collect_protected_locations(ap_conftree, nullptr, protected_locations);
        int status = OK;
        // Each distinct template directory is compiled once and shared by the clinics that use it.
        std::map<std::string, std::shared_ptr<const PageTemplates>> pages_by_directory;
        // One key, one clinic, across every virtual host on one database: its appointments are one set there.
        std::map<std::pair<std::string, std::string>, std::pair<SettingValues, std::string>> clinic_by_key;
        for (server_rec* s = main_server; s; s = s->next) {
            ServerConfig& config = server_config(s);
            config.mounts.clear();
            config.clinics.clear();
            config.handler_mounted = false;
            std::vector<std::string> problems, warnings;
            for (const Mount& mount : mounts) {
                if (!is_in(mount.virtual_host, s)) continue;
                config.handler_mounted = true;
                if (!mount.path.empty()) config.mounts.push_back(mount.path);
                const SettingValues values = clinic_values_of(s, mount.path, problems);
                const std::string key = values.clinic.value_or("default");
                const std::string where =
                    describe_server(s) + " <Location \"" + (mount.path.empty() ? "/" : mount.path) + "\">";
                auto [known, first] = clinic_by_key.emplace(std::make_pair(values.database.value_or(""), key),
                                                            std::make_pair(values, where));
                if (!first) {
                    const std::vector<std::string> differ =
                        clinic_setting_differences(known->second.first, values);
                    if (!differ.empty()) {
                        problems.push_back(
                            "SinchReminderClinic " + key + " is served by " + known->second.second + " and " +
                            where + " with different settings (" + joined(differ) +
                            "): one clinic, one set of settings; give one of them another key");
                    }
                }
                ClinicConfig& clinic = config.clinics[key];
                clinic.values = values;
                if (!mount.path.empty()) clinic.mounts.push_back(mount.path);
                // A warning, not an error: <Directory>, <LocationMatch> or a proxy in front may protect it in
                // ways this check cannot see; the handler itself refuses unauthenticated requests (SR0095).
                bool protected_here = false;
                for (const Mount& location : protected_locations) {
                    protected_here = protected_here ||
                                     (is_in(location.virtual_host, s) && covers(location.path, mount.path));
                }
                if (!protected_here && !values.allow_anonymous.value_or(false)) {
                    ap_log_error(
                        APLOG_MARK, APLOG_WARNING, 0, s,
                        "SR0012: %s: no AuthType or Require protects <Location \"%s\">: its pages and API "
                        "will answer 500 (SR0095) to every request no Apache authentication identified. "
                        "Add AuthType and Require valid-user (or similar), or SinchReminderAllowAnonymous "
                        "On if it is protected another way",
                        describe_server(s).c_str(), mount.path.empty() ? "/" : mount.path.c_str());
                }
            }
            // Each process has one TLS client for Sinch (shared keep-alive connections), so one CA bundle.
            if (config.values.ca_file.value_or("") !=
                server_config(main_server).values.ca_file.value_or("")) {
                problems.push_back(
                    "SinchReminderCaFile differs from the main server's: every virtual host "
                    "must use the same one (set it once, outside <VirtualHost>)");
            }
            // One httpd, one clinics file: it lists the clinics of every virtual host.
            if (config.values.clinics_file.value_or("") !=
                server_config(main_server).values.clinics_file.value_or("")) {
                problems.push_back(
                    "SinchReminderClinicsFile differs from the main server's: one file lists the clinics of "
                    "every virtual host (set it once, outside <VirtualHost>)");
            }
            const auto add_unique = [](std::vector<std::string>& to, const std::vector<std::string>& from) {
                for (const std::string& item : from) {
                    if (std::find(to.begin(), to.end(), item) == to.end()) to.push_back(item);
                }
            };
            if (!config.handler_mounted) {
                add_unique(problems, cross_directive_problems(config.values, false));
                add_unique(warnings, cross_directive_warnings(config.values, false));
            }
            for (auto& [key, clinic] : config.clinics) {
                const std::string clinic_name = config.clinics.size() > 1 ? "clinic " + key + ": " : "";
                std::vector<std::string> clinic_problems = cross_directive_problems(clinic.values, true);
                const std::vector<std::string> clinic_warnings =
                    cross_directive_warnings(clinic.values, true);
                add_unique(warnings, clinic_warnings);
                if (clinic_problems.empty()) {
                    // What post_config would trip over, checked here: apache2 -t never reaches post_config,
                    // and a reload that fails there stops the whole server (every site on it).
                    const Settings settings = Settings::resolve(clinic.values);
                    const MessageCheck message = check_reminder_message(settings);
                    clinic_problems.insert(clinic_problems.end(), message.problems.begin(),
                                           message.problems.end());
                    add_unique(warnings, message.warnings);
                    try {
                        auto& pages = pages_by_directory[settings.template_dir];
                        if (!pages)
                            pages = std::make_shared<const PageTemplates>(
                                PageTemplates::load(settings.template_dir));
                        clinic.pages = pages;  // post_config uses these
                    } catch (const std::exception& e) {
                        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                                     "SR0011: %s: %sSinchReminderTemplateDir: %s", describe_server(s).c_str(),
                                     clinic_name.c_str(), e.what());
                        status = HTTP_INTERNAL_SERVER_ERROR;
                    }
                }
                for (const std::string& problem : clinic_problems)
                    add_unique(problems, {clinic_name + problem});
            }
            for (const std::string& problem : problems) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "SR0010: %s: %s", describe_server(s).c_str(),
                             problem.c_str());
                status = HTTP_INTERNAL_SERVER_ERROR;
            }
            for (const std::string& warning : warnings) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "%s (%s)", warning.c_str(),
                             describe_server(s).c_str());
            }
        }
        return status;
    });
}

// What sinch-reminder-admin tz-recheck needs of every clinic (core/clinics_file.hpp), from the resolved
// settings of each virtual host's clinics; one record per clinic key and database.
std::vector<ClinicRecord> clinic_records(const server_rec* main_server) {
    std::vector<ClinicRecord> records;
    for (const server_rec* s = main_server; s; s = s->next) {
        for (const auto& [key, clinic] : server_config(s).clinics) {
            const Settings& settings = *clinic.settings;
            const std::string database = database_identity(settings.database);
            auto same = std::find_if(records.begin(), records.end(), [&](const ClinicRecord& r) {
                return r.key == key && r.database == database;
            });
            if (same == records.end()) {
                records.push_back({key,
                                   database,
                                   describe_server(s),
                                   {},
                                   settings.clinic_name,
                                   settings.time_zone,
                                   settings.locale,
                                   settings.message,
                                   settings.lead_time,
                                   settings.quiet_hours,
                                   {},
                                   settings.schedule});
                same = records.end() - 1;
                const ClinicLanguages languages(settings.languages, settings.locale, settings.own_message,
                                                settings.messages);
                for (const ClinicLanguage& language : languages.all())
                    same->languages.emplace_back(language.code, language.message.text());
            }
            for (const std::string& mount : clinic.mounts) {
                if (std::find(same->mounts.begin(), same->mounts.end(), mount) == same->mounts.end())
                    same->mounts.push_back(mount);
            }
        }
    }
    return records;
}

// Not fatal: the module works without it; only the admin tool then needs the clinic's settings as flags.
void write_clinics_file_of(apr_pool_t* pconf, const server_rec* main_server) {
    const std::string& configured = server_config(main_server).settings->clinics_file;
    const char* path =
        configured.empty() ? ap_runtime_dir_relative(pconf, k_clinics_file_name) : configured.c_str();
    if (!path) return;
    try {
        const std::vector<ClinicRecord> records = clinic_records(main_server);
        write_clinics_file(path, records, std::string("mod_sinch_reminder ") + SR_VERSION);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, main_server,
                     "wrote the settings of %s clinic(s) to %s for sinch-reminder-admin",
                     std::to_string(records.size()).c_str(), path);
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_server,
                     "SR0029: %s; sinch-reminder-admin tz-recheck then needs each clinic's settings as flags "
                     "(SinchReminderClinicsFile names another place)",
                     e.what());
    }
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* main_server) noexcept {
    return guard_server(main_server, "post_config", HTTP_INTERNAL_SERVER_ERROR, [&] {
        init_process_globals(pconf);
        for (server_rec* s = main_server; s; s = s->next) {
            ServerConfig& config = server_config(s);
            config.settings = std::make_shared<const Settings>(Settings::resolve(config.values));
            for (auto& [key, clinic] : config.clinics) {
                clinic.settings = std::make_shared<const Settings>(Settings::resolve(clinic.values));
            }
        }
        if (!prepare_handlers(pconf, main_server)) return HTTP_INTERNAL_SERVER_ERROR;
        // In the parent, before any child forks: the children share the Sinch counters (mod_status).
        create_shared_counters(main_server);
        register_dispatcher(pconf, main_server);
        // httpd runs post_config twice at start-up; say hello once, on the real start.
        if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
            log_startup(main_server);
            write_clinics_file_of(pconf, main_server);
        }
        return OK;
    });
}

void child_init(apr_pool_t* pchild, server_rec* main_server) noexcept {
    guard_server(main_server, "child_init", 0, [&] {
        start_child_runtime(pchild, main_server);
        return 0;
    });
}

int handler(request_rec* request) noexcept {
    if (!request->handler || std::strcmp(request->handler, k_handler_name) != 0) return DECLINED;
    return handle_request(request);
}

}  // namespace

}  // namespace sr::apache

extern "C" void sr_register_hooks(apr_pool_t*) noexcept {
    ap_hook_pre_config(sr::apache::pre_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_check_config(sr::apache::check_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_post_config(sr::apache::post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_init(sr::apache::child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_handler(sr::apache::handler, nullptr, nullptr, APR_HOOK_MIDDLE);
    sr::apache::register_status_hook();
}
