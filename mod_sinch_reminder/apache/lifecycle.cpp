// The module's life inside httpd: configuration checks (also run by `apache2 -t`), start-up,
// per-process resources after fork, and the hook registration.
#include <cstring>
#include <string>
#include <vector>

#include <httpd.h>
#include <ap_mpm.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>

#include "apache/barrier.hpp"
#include "apache/config.hpp"
#include "apache/handler.hpp"
#include "apache/module_api.h"
#include "apache/runtime.hpp"
#include "core/clock.hpp"

APLOG_USE_MODULE(sinch_reminder);

namespace sr::apache {

namespace {

constexpr const char* k_handler_name = "sinch-reminder";

// Section arguments keep their closing '>' and quotes: `"/appointment">` -> /appointment
std::string section_argument(const char* args) {
    std::string value = args ? args : "";
    while (!value.empty() && (value.back() == '>' || value.back() == ' ')) value.pop_back();
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
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
        if ((strcasecmp(node->directive, "SetHandler") == 0 || strcasecmp(node->directive, "AddHandler") == 0) &&
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

bool is_in(const ap_directive_t* virtual_host, const server_rec* server) {
    if (!virtual_host) return true;
    return server->is_virtual && server->defn_name && virtual_host->filename &&
           std::strcmp(server->defn_name, virtual_host->filename) == 0 &&
           server->defn_line_number == static_cast<unsigned>(virtual_host->line_num);
}

int pre_config(apr_pool_t*, apr_pool_t*, apr_pool_t*) noexcept { return OK; }

// Cross-directive checks; runs under `apache2 -t` too, so a broken setup never starts.
int check_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* main_server) noexcept {
    return guard_server(main_server, "check_config", HTTP_INTERNAL_SERVER_ERROR, [&] {
        std::vector<Mount> mounts;
        collect_mounts(ap_conftree, nullptr, mounts);
        int status = OK;
        for (server_rec* s = main_server; s; s = s->next) {
            ServerConfig& config = server_config(s);
            config.mounts.clear();
            config.handler_mounted = false;
            for (const Mount& mount : mounts) {
                if (!is_in(mount.virtual_host, s)) continue;
                config.handler_mounted = true;
                if (!mount.path.empty()) config.mounts.push_back(mount.path);
            }
            for (const std::string& problem : cross_directive_problems(config.values, config.handler_mounted)) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "SR0010: %s: %s", describe_server(s).c_str(),
                             problem.c_str());
                status = HTTP_INTERNAL_SERVER_ERROR;
            }
            for (const std::string& warning : cross_directive_warnings(config.values, config.handler_mounted)) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "%s (%s)", warning.c_str(), describe_server(s).c_str());
            }
        }
        return status;
    });
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* main_server) noexcept {
    return guard_server(main_server, "post_config", HTTP_INTERNAL_SERVER_ERROR, [&] {
        init_process_globals(pconf);
        for (server_rec* s = main_server; s; s = s->next) {
            ServerConfig& config = server_config(s);
            config.settings = std::make_shared<const Settings>(Settings::resolve(config.values));
        }
        if (!prepare_handlers(pconf, main_server)) return HTTP_INTERNAL_SERVER_ERROR;
        register_dispatcher(pconf, main_server);
        // httpd runs post_config twice at start-up; say hello once, on the real start.
        if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
            log_startup(main_server);
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
}
