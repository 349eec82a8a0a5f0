#include "apache/handler.hpp"

#include <jansson.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <httpd.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <scoreboard.h>

#include "apache/api.hpp"
#include "apache/appointment_pages.hpp"
#include "apache/callbacks.hpp"
#include "apache/reconciler_watchdog.hpp"
#include "apache/staff_pages.hpp"
#include "apache/config.hpp"
#include "apache/log.hpp"
#include "apache/module_api.h"
#include "apache/runtime.hpp"
#include "core/dispatcher.hpp"
#include "apache/staff_common.hpp"
#include "core/api_json.hpp"
#include "core/migrations.hpp"
#include "core/node_status.hpp"
#include "core/pg_pool.hpp"
#include "core/redact.hpp"
#include "core/reminder_queue.hpp"
#include "core/sms_text.hpp"
#include "core/templates.hpp"
#include "core/text_join.hpp"

APLOG_USE_MODULE(sinch_reminder);

namespace sr::apache {

namespace {

struct JsonDeleter {
    void operator()(json_t* json) const noexcept { json_decref(json); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

// The part of the URI below the mount point: "" for the mount itself, "/health", ...
std::string route_of(const request_rec* r, const ServerConfig& config) {
    const std::string uri = r->uri ? r->uri : "";
    std::string best;
    for (const std::string& mount : config.mounts) {
        std::string prefix = mount;
        while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
        if (uri.compare(0, prefix.size(), prefix) == 0 &&
            (uri.size() == prefix.size() || uri[prefix.size()] == '/') && prefix.size() > best.size()) {
            best = prefix;
        }
    }
    std::string route = uri.substr(best.size());
    while (!route.empty() && route.back() == '/') route.pop_back();
    return route;
}

void send_json(request_rec* r, int status, json_t* document) {
    char* text = json_dumps(document, JSON_COMPACT | JSON_ENSURE_ASCII);
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    ap_rputs(text ? text : "{}", r);
    free(text);
}

// This node's dispatcher as its last pass left it (node_status.hpp). Not alive: no pass for three intervals
// (at least 90 s) although httpd has run that long; then the node is degraded.
JsonPtr dispatcher_health(const ServerRuntime& runtime, PgLease& lease, bool& healthy) {
    JsonPtr out(json_object());
    const std::string node = node_name();
    json_object_set_new(out.get(), "node", json_string(node.c_str()));
    const auto allowed =
        std::max<std::chrono::seconds>(3 * runtime.settings->dispatch_interval, std::chrono::seconds(90));
    const Instant now = now_utc();
    // This runtime's dispatcher: the one of this node naming this runtime's clinic.
    const std::optional<DispatcherHeartbeat> mine = dispatcher_heartbeat(lease, node, runtime.clinic);
    const Instant started(std::chrono::seconds(apr_time_sec(ap_scoreboard_image->global->restart_time)));
    bool alive = mine && now - mine->last_pass_at <= allowed;
    if (mine) {
        json_object_set_new(out.get(), "last_pass_at",
                            json_string(format_utc_iso_millis(mine->last_pass_at).c_str()));
        json_object_set_new(out.get(), "seconds_since_last_pass",
                            json_integer((now - mine->last_pass_at).count()));
        json_object_set_new(out.get(), "last_outcome", json_string(mine->outcome.c_str()));
        json_object_set_new(out.get(), "last_pass_failed", json_boolean(mine->failed));
    }
    const bool starting = !alive && now - started <= allowed;  // the first pass comes within seconds of start
    json_object_set_new(out.get(), "state", json_string(alive ? "alive" : starting ? "starting" : "stalled"));
    if (!alive && !starting) healthy = false;
    return out;
}

// GET {mount}/health: what an operator or a load balancer needs to know, no secrets.
int handle_health(request_rec* r, const ServerRuntime& runtime) {
    JsonPtr body(json_object());
    bool healthy = true;
    json_object_set_new(body.get(), "module_version", json_string(SR_VERSION));
    json_object_set_new(body.get(), "clinic", json_string(runtime.clinic.c_str()));
    json_object_set_new(body.get(), "time_zone", json_string(runtime.settings->time_zone.c_str()));
    json_object_set_new(body.get(), "tz_rules", json_string(computing_tz_rules_version().c_str()));
    json_object_set_new(body.get(), "lead_time_seconds", json_integer(runtime.settings->lead_time.count()));
    json_t* schedule = json_array();
    for (const ScheduleEntry& entry : runtime.settings->schedule)
        json_array_append_new(schedule, json_string(entry.text().c_str()));
    json_object_set_new(body.get(), "reminder_schedule", schedule);
    json_object_set_new(body.get(), "default_country",
                        json_string(runtime.settings->default_country.c_str()));
    json_object_set_new(body.get(), "region", json_string(runtime.settings->region.c_str()));
    json_object_set_new(body.get(), "sinch_auth",
                        json_string(!runtime.settings->auth                             ? "none"
                                    : *runtime.settings->auth == SinchAuthMode::Project ? "project"
                                                                                        : "service_plan"));
    json_object_set_new(body.get(), "sinch_sms_base_url",
                        json_string(runtime.settings->sms_base_url.c_str()));
    // Rules updated on disk but not yet in use: httpd must be restarted fully (SR0023).
    const std::string rules_on_disk = os_tz_rules_version();
    json_object_set_new(body.get(), "tz_rules_on_disk", json_string(rules_on_disk.c_str()));
    json_object_set_new(body.get(), "tz_rules_restart_needed",
                        json_boolean(tz_rules_older(computing_tz_rules_version(), rules_on_disk)));
    json_object_set_new(body.get(), "schema_expected", json_integer(SR_SCHEMA_VERSION));
    if (runtime.database) {
        try {
            PgLease lease = runtime.database->acquire();
            const int applied = schema_version(lease.connection());
            json_object_set_new(body.get(), "schema_version", json_integer(applied));
            json_object_set_new(body.get(), "database", json_string("ok"));
            if (applied < SR_SCHEMA_VERSION) {
                // Statements of this module would fail on tables or columns the database lacks.
                healthy = false;
                json_object_set_new(body.get(), "schema",
                                    json_string("behind this module: run sinch-reminder-admin migrate"));
            }
            if (runtime.dispatcher) {
                json_object_set_new(body.get(), "dispatcher",
                                    dispatcher_health(runtime, lease, healthy).release());
                const Backlog backlog = due_backlog(lease, runtime.node_clinics, runtime.settings->horizon);
                JsonPtr waiting(json_object());
                json_object_set_new(waiting.get(), "due", json_integer(backlog.due));
                json_object_set_new(waiting.get(), "overdue", json_integer(backlog.overdue));
                json_object_set_new(waiting.get(), "oldest_send_at",
                                    backlog.oldest_send_at
                                        ? json_string(format_utc_iso_millis(*backlog.oldest_send_at).c_str())
                                        : json_null());
                json_object_set_new(body.get(), "backlog", waiting.release());
            }
        } catch (const std::exception& e) {
            healthy = false;
            json_object_set_new(body.get(), "database", json_string("unavailable"));
            ApacheLogger(r).log(LogLevel::Error, "SR0030", "health check: " + loggable_error(e));
        }
    }
    if (runtime.dispatcher && healthy) {
        // A paused Sinch account (429 / refused credentials) is shared by every node: say so here too.
        try {
            const AccountState account = runtime.dispatcher->account_state();
            JsonPtr sinch(json_object());
            const bool paused = account.paused(now_utc());
            json_object_set_new(sinch.get(), "paused", json_boolean(paused));
            if (paused) {
                json_object_set_new(sinch.get(), "paused_until",
                                    json_string(format_utc_iso_millis(*account.paused_until).c_str()));
            }
            if (!account.pause_reason.empty()) {
                json_object_set_new(sinch.get(), "problem", json_string(account.pause_reason.c_str()));
                json_object_set_new(sinch.get(), "detail", json_string(account.pause_detail.c_str()));
            }
            json_object_set_new(sinch.get(), "refused_credentials_in_a_row",
                                json_integer(account.auth_failures));
            json_object_set_new(body.get(), "sinch_account", sinch.release());
            // Reminders of clinics no clinic of this node is: they wait for a node that has them (README
            // "Several clinics"). Reported, not a failure of this node.
            ReminderQueue queue(*runtime.database, "health");
            queue.set_clinics(runtime.node_clinics);
            JsonPtr waiting(json_object());
            for (const auto& [clinic, count] : queue.waiting_in_other_clinics(runtime.settings->horizon)) {
                json_object_set_new(waiting.get(), clinic.c_str(), json_integer(count));
            }
            json_object_set_new(body.get(), "reminders_of_clinics_not_here", waiting.release());
            if (account.pause_reason == "credentials_rejected") healthy = false;
        } catch (const std::exception& e) {
            healthy = false;
            ApacheLogger(r).log(LogLevel::Error, "SR0030", "health check: " + loggable_error(e));
        }
    }
    json_object_set_new(body.get(), "status", json_string(healthy ? "ok" : "degraded"));
    send_json(r, healthy ? HTTP_OK : HTTP_SERVICE_UNAVAILABLE, body.get());
    return OK;
}

std::string mount_of(const request_rec* r, const std::string& route) {
    std::string uri = r->uri ? r->uri : "";
    while (uri.size() > 1 && uri.back() == '/') uri.pop_back();
    return uri.substr(0, uri.size() - route.size());
}

int method_not_allowed(request_rec* r, bool post_too) {
    r->allowed = (AP_METHOD_BIT << M_GET) | (post_too ? (AP_METHOD_BIT << M_POST) : 0);
    return HTTP_METHOD_NOT_ALLOWED;
}

bool is_api(const std::string& route) { return route == "/api" || route.rfind("/api/", 0) == 0; }

// Fail closed: the pages and the API show and change patient data, so they are served only to a request
// some Apache authentication identified (r->user), unless the admin said SinchReminderAllowAnonymous On
// (e.g. access by `Require ip` or client certificates alone). A mount nobody protected otherwise serves
// every patient to anyone who finds it. /health (no patient data) and the callbacks (their own token or
// HMAC) are exempt. Returns nothing, or the handler's result after the refusal was sent.
std::optional<int> refuse_unauthenticated(PageRequest& p, const std::string& route) {
    if (route == "/health" || route == "/callbacks/sinch" || route.rfind("/callbacks/sinch/", 0) == 0)
        return {};
    if ((p.r->user && *p.r->user) || p.runtime.settings->allow_anonymous) return {};
    const char* auth_type = ap_auth_type(p.r);
    p.log.log(
        LogLevel::Error, "SR0095",
        std::string("refused to serve ") + (p.r->uri ? p.r->uri : "") +
            ": no Apache authentication identified a user (AuthType " + (auth_type ? auth_type : "none") +
            ", and no Require needed a user). Protect the mount with AuthType and Require valid-user (or "
            "similar), or set "
            "SinchReminderAllowAnonymous On if it is protected another way.");
    const char* message =
        "This service is not set up safely: it is not protected by a login, so it does not show or "
        "change appointments. Tell IT (the server's error log says what to change: SR0095).";
    if (is_api(route)) return send_json_text(p.r, HTTP_INTERNAL_SERVER_ERROR, error_json(message));
    return show_error(p, HTTP_INTERNAL_SERVER_ERROR, "Not available", message);
}

// The runtime of the clinic this request's mount serves (SinchReminderClinic in its <Location>, or the
// server's), or nullptr.
ServerRuntime* clinic_runtime(const request_rec* r, const ServerConfig& config) {
    const DirConfig* here = dir_config(r->per_dir_config);
    std::string key = config.values.clinic.value_or("default");
    if (here && here->values.clinic) key = *here->values.clinic;
    const auto found = config.runtimes.find(key);
    return found == config.runtimes.end() ? nullptr : found->second;
}

int route_request(request_rec* r) {
    const ServerConfig& config = server_config(r->server);
    const std::string route = route_of(r, config);
    ServerRuntime* const clinic = clinic_runtime(r, config);
    if (!clinic) {
        ApacheLogger(r).log(
            LogLevel::Error, "SR0031",
            config.runtimes.empty()
                ? "the module did not initialise in this process"
                : "this request's <Location> names a SinchReminderClinic that no mount serves: put "
                  "a clinic's settings in the <Location> of its mount");
        if (is_api(route)) {
            return send_json_text(r, HTTP_SERVICE_UNAVAILABLE,
                                  error_json("The service did not start properly (SR0031); retry later."));
        }
        return HTTP_SERVICE_UNAVAILABLE;
    }
    ServerRuntime& runtime = *clinic;
    PageRequest page{r, runtime, mount_of(r, route), ApacheLogger(r)};
    if (const std::optional<int> refused = refuse_unauthenticated(page, route)) return *refused;
    const bool get = r->method_number == M_GET;
    if (route.empty()) {
        if (get) return show_form(page);
        if (r->method_number == M_POST) return create_appointment(page);
        return method_not_allowed(r, true);
    }
    if (route == "/health") return get ? handle_health(r, runtime) : method_not_allowed(r, false);
    if (route.rfind("/a/", 0) == 0 && route.find('/', 3) == std::string::npos) {
        return get ? show_confirmation(page, route.substr(3)) : method_not_allowed(r, false);
    }
    // Staff operations (staff_pages.cpp, api.cpp, callbacks.cpp).
    const bool post = r->method_number == M_POST;
    if (route == "/list") return get ? show_list(page) : method_not_allowed(r, false);
    if (route.rfind("/a/", 0) == 0) {
        const std::size_t slash = route.find('/', 3);
        const std::string id = route.substr(3, slash - 3);
        const std::string action = route.substr(slash);
        if (action == "/cancel" || action == "/reschedule") {
            if (!post) {
                r->allowed = AP_METHOD_BIT << M_POST;
                return HTTP_METHOD_NOT_ALLOWED;
            }
            return action == "/cancel" ? cancel_from_page(page, id) : reschedule_from_page(page, id);
        }
    }
    if (is_api(route)) return handle_api(page, route);
    if (route == "/callbacks/sinch") return handle_delivery_callback(page, "");
    if (route.rfind("/callbacks/sinch/", 0) == 0 && route.find('/', 17) == std::string::npos) {
        return handle_delivery_callback(page, route.substr(17));
    }
    return show_error(page, HTTP_NOT_FOUND, "Page not found", "There is no page at this address.");
}

}  // namespace

bool prepare_handlers(apr_pool_t* pconf, server_rec* main_server) {
    for (server_rec* s = main_server; s; s = s->next) {
        ServerConfig& config = server_config(s);
        for (auto& [key, clinic] : config.clinics) {
            // The page templates were compiled by check_config (which refuses a configuration without them).
            try {
                if (!clinic.pages)
                    throw std::logic_error("the page templates were not compiled by check_config");
                const Settings& s = *clinic.settings;
                clinic.languages =
                    std::make_shared<const ClinicLanguages>(s.languages, s.locale, s.own_message, s.messages);
            } catch (const std::exception& e) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "SR0011: %s: clinic %s: %s",
                             describe_server(s).c_str(), key.c_str(), e.what());
                return false;
            }
        }
    }
    // Staff operations: the background reconciliation (reconciler_watchdog.cpp); post_config like the
    // handlers.
    try {
        register_reconciler(pconf, main_server);
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_server, "SR0605: %s", e.what());
        return false;
    }
    return true;
}

int handle_request(request_rec* r) noexcept {
    try {
        return route_request(r);
    } catch (const std::exception& e) {
        ApacheLogger(r).log(LogLevel::Error, "SR0090", "request failed: " + loggable_error(e));
    } catch (...) {
        ApacheLogger(r).log(LogLevel::Error, "SR0091", "request failed with a non-standard exception");
    }
    // API clients get JSON even here (httpd's own 500 page is HTML), unless part of an answer went out.
    try {
        if (is_api(route_of(r, server_config(r->server))) && r->bytes_sent == 0 && !r->sent_bodyct) {
            return send_json_text(r, HTTP_INTERNAL_SERVER_ERROR,
                                  error_json("The request failed on the server (logged as SR0090)."));
        }
    } catch (...) {
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace sr::apache
