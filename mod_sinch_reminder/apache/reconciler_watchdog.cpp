#include "apache/reconciler_watchdog.hpp"

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <httpd.h>
#include <apr_pools.h>
#include <http_log.h>
#include <mod_watchdog.h>

#include "apache/config.hpp"
#include "apache/log.hpp"
#include "apache/module_api.h"
#include "core/curl_transport.hpp"
#include "core/pg_pool.hpp"
#include "core/reconciler.hpp"
#include "core/redact.hpp"
#include "core/sinch_client.hpp"
#include "apache/runtime.hpp"

APLOG_USE_MODULE(sinch_reminder);

namespace sr::apache {

namespace {

// Everything the reconciler thread uses. Only ever touched on that thread.
struct ReconcilerRuntime {
    explicit ReconcilerRuntime(const server_rec* main_server)
        : logger(main_server), transport([&] {
              CurlTransportOptions options;
              options.ca_file = server_config(main_server).settings->ca_file;  // SinchReminderCaFile
              return options;
          }()) {}
    ApacheLogger logger;
    CurlTransport transport;
    std::map<std::string, std::unique_ptr<PgPool>> pools;
    std::map<std::string, std::unique_ptr<SinchClient>> clients;
    struct Job {
        PgPool* database = nullptr;
        SinchClient* sinch = nullptr;
        ReconcileSettings settings;  // with the clinics that share this database and Sinch account
    };
    std::map<std::string, Job> jobs;  // one per (database, Sinch account)
};

ReconcilerRuntime* g_reconciler = nullptr;

bool reconciles(const ServerConfig& config) {
    return config.handler_mounted && config.settings && !config.settings->database.empty() &&
           config.settings->auth && config.settings->reconcile_interval.count() > 0;
}

std::unique_ptr<ReconcilerRuntime> build(const server_rec* main_server) {
    auto runtime = std::make_unique<ReconcilerRuntime>(main_server);
    for (const server_rec* s = main_server; s; s = s->next) {
        const ServerConfig& config = server_config(s);
        if (!reconciles(config)) continue;
        for (const auto& [key, clinic] : config.clinics) {
            const Settings& settings = *clinic.settings;
            auto& pool = runtime->pools[settings.database];
            if (!pool) {
                PgPoolConfig pool_config;
                pool_config.conninfo = settings.database;
                pool_config.max_connections = 1;
                pool_config.keep_idle = 1;
                pool = std::make_unique<PgPool>(pool_config, runtime->logger);
            }
            const std::string identity = sinch_identity(settings);
            auto& client = runtime->clients[identity];
            if (!client)
                client = std::make_unique<SinchClient>(settings.sinch_config(), runtime->transport,
                                                       runtime->logger);
            auto& job = runtime->jobs[settings.database + '\n' + identity];
            job.database = pool.get();
            job.sinch = client.get();
            job.settings.clinics.push_back(key);
        }
    }
    return runtime;
}

apr_status_t run_reconciliation(int state, void* data, apr_pool_t*) noexcept {
    const server_rec* main_server = static_cast<const server_rec*>(data);
    try {
        if (state == AP_WATCHDOG_STATE_STOPPING) {
            delete g_reconciler;
            g_reconciler = nullptr;
            return APR_SUCCESS;
        }
        if (state != AP_WATCHDOG_STATE_RUNNING) return APR_SUCCESS;
        if (!g_reconciler) g_reconciler = build(main_server).release();
        for (auto& [identity, job] : g_reconciler->jobs) {
            try {
                const ReconcileReport report =
                    reconcile(*job.database, *job.sinch, g_reconciler->logger, job.settings);
                g_reconciler->logger.log(report.idle() ? LogLevel::Debug : LogLevel::Info, "",
                                         "reconciliation pass: " + report.summary());
            } catch (const std::exception& e) {
                g_reconciler->logger.log(LogLevel::Error, "SR0604",
                                         std::string("reconciliation pass failed: ") + loggable_error(e));
            }
        }
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, main_server, "SR0604: reconciliation pass failed");
    }
    return APR_SUCCESS;
}

}  // namespace

void register_reconciler(apr_pool_t* pconf, server_rec* main_server) {
    apr_interval_time_t interval = 0;
    for (server_rec* s = main_server; s; s = s->next) {
        const ServerConfig& config = server_config(s);
        if (!reconciles(config)) continue;
        const apr_interval_time_t mine = apr_time_from_sec(config.settings->reconcile_interval.count());
        if (interval == 0 || mine < interval) interval = mine;
    }
    if (interval == 0) return;
    auto get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    auto register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        throw std::runtime_error(
            "mod_watchdog is not loaded; it runs the reconciliation (LoadModule watchdog_module)");
    }
    ap_watchdog_t* watchdog = nullptr;
    // Its own thread, so slow Sinch lookups never delay the dispatcher's passes.
    if (get_instance(&watchdog, "sinch-reminder-reconciler", 0, 1, pconf) != APR_SUCCESS ||
        register_callback(watchdog, interval, main_server, run_reconciliation) != APR_SUCCESS) {
        throw std::runtime_error("cannot register the reconciliation with mod_watchdog");
    }
}

}  // namespace sr::apache
