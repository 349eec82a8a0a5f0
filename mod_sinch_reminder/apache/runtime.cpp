#include "apache/runtime.hpp"

#include <curl/curl.h>
#include <unicode/uversion.h>

#include <unistd.h>

#include <algorithm>
#include <map>
#include <pqxx/version>
#include <set>
#include <shared_mutex>
#include <vector>

#include <httpd.h>
#include <ap_mpm.h>
#include <apr_pools.h>
#include <http_log.h>
#include <mod_watchdog.h>

#include "apache/barrier.hpp"
#include "apache/config.hpp"
#include "apache/log.hpp"
#include "apache/module_api.h"
#include "apache/sinch_counters.hpp"
#include "core/curl_transport.hpp"
#include "core/dispatcher.hpp"
#include "core/sms_text.hpp"
#include "core/tz_recheck.hpp"
#include "core/module_secrets.hpp"
#include "core/node_status.hpp"
#include "core/pg_pool.hpp"
#include "core/redact.hpp"
#include "core/reminder_queue.hpp"
#include "core/retention.hpp"
#include "core/sinch_client.hpp"
#include "core/text_join.hpp"

APLOG_USE_MODULE(sinch_reminder);

namespace sr::apache {

std::string node_name() {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    return host;
}

namespace {

// Every request thread may be calling Sinch at once; a handle that is not kept loses its keep-alive
// connection (and its TLS session) to Sinch.
CurlTransportOptions transport_options() {
    CurlTransportOptions options;
    int threads = 0;
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) == APR_SUCCESS && threads > 0) {
        options.max_idle_handles = static_cast<std::size_t>(threads) + 2;  // + the watchdog threads
    }
    return options;
}

// The dispatcher's workers keep their own handles alive too.
void add_dispatcher_handles(CurlTransportOptions& options, const server_rec* main_server) {
    int most_workers = 0;
    for (const server_rec* s = main_server; s; s = s->next) {
        const ServerConfig& config = server_config(s);
        if (config.handler_mounted) most_workers = std::max(most_workers, config.settings->dispatch_workers);
    }
    options.max_idle_handles += static_cast<std::size_t>(most_workers);
}

// True once this child is stopping (graceful or not): the dispatcher starts no new Sinch call.
bool child_stopping() noexcept {
    int state = AP_MPMQ_RUNNING;
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS && state == AP_MPMQ_STOPPING;
}

// Everything one httpd child process owns. Destroyed when the child's pool is cleared.
struct ChildRuntime {
    explicit ChildRuntime(const server_rec* main_server)
        : logger(main_server), transport([&] {
              CurlTransportOptions options = transport_options();
              add_dispatcher_handles(options, main_server);
              // One TLS client per process: check_config makes every virtual host name the same CA file.
              options.ca_file = server_config(main_server).settings->ca_file;
              return options;
          }()) {}
    ApacheLogger logger;
    CurlTransport transport;
    std::map<std::string, std::unique_ptr<PgPool>> pools_by_conninfo;
    std::map<std::string, std::unique_ptr<SinchClient>> clients_by_identity;
    struct DispatcherEntry {
        std::unique_ptr<Dispatcher> dispatcher;
        PgPool* database = nullptr;
        std::vector<std::string> clinics;  // what it hands over (its heartbeat says so)
        std::chrono::seconds interval{30};
        std::chrono::steady_clock::time_point next_pass_at{};  // a pass that left work due sets "now"
    };
    // One per database, sender and Sinch account: the clinics that share them share one dispatcher, which
    // hands over only their reminders.
    std::map<std::string, DispatcherEntry> dispatchers_by_identity;
    // Once per database: the tz-recheck (with each clinic's own text and timing) and the retention purge.
    struct DatabaseEntry {
        PgPool* database = nullptr;
        std::map<std::string, const ServerRuntime*> clinics;  // by key: what this node can re-render
        std::chrono::seconds retention{0};
        std::chrono::seconds horizon{0};
        bool tz_rules_checked = false;
        // SR0028: looked for every 10 seconds, said when it changes and otherwise every 10 minutes.
        std::chrono::steady_clock::time_point next_clinic_check{};
        std::chrono::steady_clock::time_point next_clinic_repeat{};
        std::map<std::string, int> clinics_waiting;  // what was seen last
    };
    std::map<std::string, DatabaseEntry> databases_by_conninfo;
    std::vector<std::unique_ptr<ServerRuntime>> servers;
};

// NB: the dispatcher runs on mod_watchdog's thread; the runtime must not go away under a pass.
std::shared_mutex g_runtime_mutex;
ChildRuntime* g_runtime = nullptr;

apr_status_t destroy_child_runtime(void* runtime) noexcept {
    try {
        std::unique_lock<std::shared_mutex> lock(g_runtime_mutex);
        g_runtime = nullptr;
        delete static_cast<ChildRuntime*>(runtime);
    } catch (...) {
    }
    return APR_SUCCESS;
}

std::string lease_owner() { return node_name() + ":" + std::to_string(getpid()); }

std::string dispatcher_identity(const Settings& s, const std::string& sinch) {
    return s.database + '\n' + sinch + '\n' + std::to_string(s.horizon.count()) + '\n' +
           std::to_string(s.late_grace.count()) + '\n' + std::to_string(s.max_batches_per_second) + '\n' +
           std::to_string(s.retry_delay.count()) + '\n' + std::to_string(s.dispatch_workers) + '\n' +
           std::to_string(s.lease_time.count());
}

// mod_watchdog calls this every second in one child process. A dispatcher's pass runs every
// SinchReminderDispatchInterval, or at once again when the previous pass ended with work still due
// (a backlog drains at the account's rate, not one pass budget per interval).
apr_status_t run_dispatchers(int state, void* data, apr_pool_t*) noexcept {
    if (state != AP_WATCHDOG_STATE_RUNNING || child_stopping()) return APR_SUCCESS;
    const server_rec* main_server = static_cast<const server_rec*>(data);
    try {
        std::shared_lock<std::shared_mutex> lock(g_runtime_mutex);
        if (!g_runtime) return APR_SUCCESS;  // child_init has not run yet, or the child is stopping
        for (auto& [conninfo, entry] : g_runtime->databases_by_conninfo) {
            try {
                if (!entry.tz_rules_checked) {
                    // Once per process start: did a tzdata update move any stored appointment? Each clinic's
                    // appointments get its own text and timing; other clinics' are left to nodes that have
                    // them.
                    const auto& clinics = entry.clinics;
                    std::vector<std::string> keys;
                    for (const auto& [key, clinic] : clinics) keys.push_back(key);
                    recheck_time_zones_if_rules_changed(
                        *entry.database,
                        [&](const std::string& key, const std::optional<std::string>& language_code,
                            const std::string& doctor, Instant starts_at, const ClinicZone& zone) {
                            const ServerRuntime& clinic = *clinics.at(key);
                            const ClinicLanguage& language = clinic.languages->for_stored(language_code);
                            return reminder_text(language.message, clinic.settings->clinic_name, doctor, zone,
                                                 starts_at, language.icu_locale);
                        },
                        g_runtime->logger,
                        [&](const std::string& key, Instant starts_at, const ClinicZone& zone) {
                            const Settings& settings = *clinics.at(key)->settings;
                            return reminder_times(starts_at, settings.schedule, settings.quiet_hours, zone);
                        },
                        keys);
                    entry.tz_rules_checked = true;
                }
            } catch (const std::exception& e) {
                g_runtime->logger.log(LogLevel::Error, "SR0406",
                                      std::string("time-zone recheck failed: ") + loggable_error(e));
            }
            // Reminders of clinics this node lacks wait for a node that has them: say so, now and then.
            if (const auto now = std::chrono::steady_clock::now(); now >= entry.next_clinic_check) {
                entry.next_clinic_check = now + std::chrono::seconds(10);
                try {
                    std::vector<std::string> keys;
                    for (const auto& [key, clinic] : entry.clinics) keys.push_back(key);
                    ReminderQueue queue(*entry.database, "clinic-check");
                    queue.set_clinics(keys);
                    const auto waiting = queue.waiting_in_other_clinics(entry.horizon);
                    const std::map<std::string, int> seen(waiting.begin(), waiting.end());
                    const bool say = seen != entry.clinics_waiting || now >= entry.next_clinic_repeat;
                    entry.clinics_waiting = seen;
                    if (say) entry.next_clinic_repeat = now + std::chrono::minutes(10);
                    for (const auto& [clinic, count] : say ? waiting : decltype(waiting){}) {
                        g_runtime->logger.log(LogLevel::Warn, "SR0028",
                                              std::to_string(count) + " reminder(s) of clinic " + clinic +
                                                  " are due for Sinch and this node's configuration has no "
                                                  "such clinic: they wait "
                                                  "for a node whose configuration has it (every node should "
                                                  "carry the same clinics)");
                    }
                } catch (const std::exception& e) {
                    g_runtime->logger.log(
                        LogLevel::Warn, "SR0028",
                        std::string("cannot look for other clinics' reminders: ") + loggable_error(e));
                }
            }
            // --- retention (issue 12 item 6): once a day per database, whichever node comes first ----
            try {
                purge_patient_data_if_due(*entry.database, entry.retention, g_runtime->logger);
            } catch (const std::exception& e) {
                g_runtime->logger.log(
                    LogLevel::Warn, "SR0701",
                    std::string("daily retention purge failed; tried again after a day: ") + e.what());
            }
        }
        for (auto& [identity, entry] : g_runtime->dispatchers_by_identity) {
            try {
                if (std::chrono::steady_clock::now() < entry.next_pass_at) continue;
                entry.next_pass_at = std::chrono::steady_clock::now() + entry.interval;
                std::string outcome;
                bool failed = false;
                try {
                    const DispatchReport report = entry.dispatcher->run_once(child_stopping);
                    if (report.more_work && !report.account_paused) entry.next_pass_at = {};
                    outcome = report.summary();
                    g_runtime->logger.log(report.idle() ? LogLevel::Debug : LogLevel::Info, "",
                                          "dispatcher pass: " + outcome);
                } catch (const std::exception& e) {
                    failed = true;
                    outcome = loggable_error(e);
                    g_runtime->logger.log(LogLevel::Error, "SR0406", "dispatcher pass failed: " + outcome);
                }
                // What /health and mod_status report as this node's dispatcher (node_status.hpp). A database
                // that is down was logged by the pass already.
                try {
                    record_dispatcher_pass(*entry.database, node_name(), entry.clinics, outcome, failed);
                } catch (const std::exception&) {
                }
            } catch (const std::exception& e) {
                g_runtime->logger.log(LogLevel::Error, "SR0406",
                                      std::string("dispatcher pass failed: ") + loggable_error(e));
            }
        }
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, main_server, "SR0406: dispatcher pass failed");
    }
    return APR_SUCCESS;
}

apr_status_t curl_global_release(void*) noexcept {
    curl_global_cleanup();
    return APR_SUCCESS;
}

const char* auth_name(const std::optional<SinchAuthMode>& auth) {
    if (!auth) return "none";
    return *auth == SinchAuthMode::Project ? "OAuth2 project" : "service plan";
}

}  // namespace

std::string sinch_identity(const Settings& s) {
    return std::to_string(static_cast<int>(*s.auth)) + '\n' + s.project_id + '\n' + s.key_id + '\n' +
           s.service_plan_id + '\n' + s.sms_base_url + '\n' + s.auth_base_url + '\n' + s.from;
}

const FormTokens& ServerRuntime::form_tokens() {
    std::lock_guard<std::mutex> lock(m_tokens_mutex);
    if (!m_tokens) {
        if (!database) throw std::runtime_error("no SinchReminderDatabase");
        PgLease lease = database->acquire();
        // A rendered form stays usable for a whole front-desk shift.
        m_tokens.emplace(load_form_token_key(lease.connection()), std::chrono::hours(12));
    }
    return *m_tokens;
}

void init_process_globals(apr_pool_t* pconf) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        throw std::runtime_error("curl_global_init failed");
    apr_pool_cleanup_register(pconf, nullptr, curl_global_release, apr_pool_cleanup_null);
}

void start_child_runtime(apr_pool_t* pchild, server_rec* main_server) {
    auto runtime = std::make_unique<ChildRuntime>(main_server);
    // The dispatchers are made once every clinic that shares one is known (it hands over all theirs).
    std::map<std::string, std::pair<DispatchSettings, PgPool*>> dispatch_plans;
    std::map<std::string, SinchClient*> clients_of_plan;
    std::vector<std::pair<ServerRuntime*, std::string>> clinic_plans;
    for (server_rec* s = main_server; s; s = s->next) {
        ServerConfig& config = server_config(s);
        config.runtimes.clear();
        for (const auto& [key, clinic] : config.clinics) {
            auto server = std::make_unique<ServerRuntime>();
            server->clinic = key;
            server->settings = clinic.settings;
            server->pages = clinic.pages;
            server->languages = clinic.languages;
            const Settings& settings = *clinic.settings;
            server->visible_clinics = {key};
            for (const std::string& other : settings.see_clinics) {
                if (other != key) server->visible_clinics.push_back(other);
            }
            if (!settings.database.empty()) {
                auto& pool = runtime->pools_by_conninfo[settings.database];
                if (!pool) {
                    PgPoolConfig pool_config;
                    pool_config.conninfo = settings.database;
                    pool_config.max_connections = static_cast<std::size_t>(settings.db_pool_max);
                    // Like mod_dbd's DBDKeep default: connections opened for a burst stay for the next one.
                    pool_config.keep_idle = pool_config.max_connections;
                    pool = std::make_unique<PgPool>(pool_config, runtime->logger);
                    // One connection now surfaces a broken database early; failure is retried lazily.
                    pool->warm_up(1);
                }
                server->database = pool.get();
            }
            if (settings.auth) {
                const std::string identity = sinch_identity(settings);
                auto& client = runtime->clients_by_identity[identity];
                if (!client) {
                    // Its calls are counted in memory every child shares (sinch_counters.hpp, mod_status).
                    client =
                        std::make_unique<SinchClient>(settings.sinch_config(), runtime->transport,
                                                      runtime->logger, nullptr, shared_counters(identity));
                }
                server->sinch = client.get();
            }
            if (server->database && server->sinch) {
                const std::string identity = dispatcher_identity(settings, sinch_identity(settings));
                auto [plan, first] = dispatch_plans.try_emplace(identity);
                if (first) {
                    DispatchSettings& dispatch = plan->second.first;
                    dispatch.horizon = settings.horizon;
                    dispatch.late_grace = settings.late_grace;
                    dispatch.first_retry = settings.retry_delay;
                    dispatch.batches_per_second = settings.max_batches_per_second;
                    dispatch.workers = settings.dispatch_workers;
                    dispatch.lease_for = settings.lease_time;
                    dispatch.owner = lease_owner();
                    plan->second.second = server->database;
                    clients_of_plan[identity] = server->sinch;
                    runtime->dispatchers_by_identity[identity].interval = settings.dispatch_interval;
                }
                auto& keys = plan->second.first.clinics;
                if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
                clinic_plans.emplace_back(server.get(), identity);
                auto& database = runtime->databases_by_conninfo[settings.database];
                database.database = server->database;
                database.retention = settings.retention;
                database.horizon = settings.horizon;
                database.clinics.emplace(key, server.get());
            }
            if (!settings.time_zone.empty()) server->zone = ClinicZone::load(settings.time_zone);
            if (server->database) {
                // The form key now, while PostgreSQL is (usually) up: a child that first needs it during an
                // outage could neither check a submitted form nor give staff their entries back.
                try {
                    server->form_tokens();
                } catch (const std::exception&) {
                    // read again on first use
                }
            }
            config.runtimes[key] = server.get();
            runtime->servers.push_back(std::move(server));
        }
    }
    for (auto& [identity, plan] : dispatch_plans) {
        auto& entry = runtime->dispatchers_by_identity[identity];
        entry.dispatcher = std::make_unique<Dispatcher>(*plan.second, *clients_of_plan[identity],
                                                        runtime->logger, plan.first);
        entry.database = plan.second;
        entry.clinics = plan.first.clinics;
    }
    for (auto& [server, identity] : clinic_plans) {
        server->dispatcher = runtime->dispatchers_by_identity[identity].dispatcher.get();
        for (const auto& [key, clinic] : runtime->databases_by_conninfo[server->settings->database].clinics) {
            server->node_clinics.push_back(key);
        }
    }
    std::unique_lock<std::shared_mutex> lock(g_runtime_mutex);
    g_runtime = runtime.get();
    apr_pool_cleanup_register(pchild, runtime.release(), destroy_child_runtime, apr_pool_cleanup_null);
}

void register_dispatcher(apr_pool_t* pconf, server_rec* main_server) {
    std::chrono::seconds interval{0};
    for (server_rec* s = main_server; s; s = s->next) {
        const ServerConfig& config = server_config(s);
        if (!config.handler_mounted || config.settings->database.empty() || !config.settings->auth) continue;
        if (interval.count() == 0 || config.settings->dispatch_interval < interval) {
            interval = config.settings->dispatch_interval;
        }
    }
    if (interval.count() == 0) return;  // nothing to dispatch in this configuration
    auto get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    auto register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        throw std::runtime_error(
            "mod_watchdog is not loaded; it runs the reminder dispatcher (LoadModule watchdog_module)");
    }
    ap_watchdog_t* watchdog = nullptr;
    // One child process per httpd runs the passes (singleton); nodes coordinate through PostgreSQL.
    // The callback ticks every second; each dispatcher keeps its own interval (see run_dispatchers).
    if (get_instance(&watchdog, "sinch-reminder-dispatcher", 0, 1, pconf) != APR_SUCCESS ||
        register_callback(watchdog, apr_time_from_sec(1), main_server, run_dispatchers) != APR_SUCCESS) {
        throw std::runtime_error("cannot register the reminder dispatcher with mod_watchdog");
    }
}

void log_startup(server_rec* main_server) {
    const std::string os_rules = computing_tz_rules_version();
    const std::string on_disk = os_tz_rules_version();
    const std::string icu_rules = icu_tz_rules_version();
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, main_server,
                 "SR0020: mod_sinch_reminder %s started; time-zone rules %s from %s (ICU %s's built-in %s is "
                 "not used for offsets); libcurl %s, libpqxx %s",
                 SR_VERSION, os_rules.empty() ? "(unknown version)" : os_rules.c_str(),
                 tz_directory().c_str(), U_ICU_VERSION, icu_rules.c_str(),
                 curl_version_info(CURLVERSION_NOW)->version, PQXX_VERSION);
    if (!os_rules.empty() && tz_rules_older(os_rules, on_disk)) {
        // Zones, once loaded, stay in memory: a graceful restart keeps computing with the old rules.
        ap_log_error(
            APLOG_MARK, APLOG_WARNING, 0, main_server,
            "SR0023: the OS time-zone rules were updated to %s, but this httpd still computes with %s: "
            "restart httpd fully (systemctl restart apache2), not gracefully",
            on_disk.c_str(), os_rules.c_str());
    }
    if (os_rules.empty()) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_server,
                     "SR0021: cannot tell the version of the time-zone rules in %s; is the tzdata package "
                     "installed?",
                     tz_directory().c_str());
    }
    for (server_rec* s = main_server; s; s = s->next) {
        const ServerConfig& config = server_config(s);
        for (const auto& [key, clinic] : config.clinics) {
            const Settings& settings = *clinic.settings;
            const std::string mounts = joined(clinic.mounts, " ");
            ap_log_error(
                APLOG_MARK, APLOG_INFO, 0, s,
                "SR0022: %s: clinic %s at %s: time zone %s, lead time %s, sender %s, Sinch %s auth at %s "
                "(region %s), database %s",
                describe_server(s).c_str(), key.c_str(), mounts.empty() ? "/" : mounts.c_str(),
                settings.time_zone.c_str(), schedule_text(settings.schedule).c_str(),
                settings.from.empty() ? "(the service plan's default)" : settings.from.c_str(),
                auth_name(settings.auth), settings.sms_base_url.c_str(), settings.region.c_str(),
                mask_conninfo(settings.database).c_str());
        }
    }
}

}  // namespace sr::apache
