// The module's section of mod_status (/server-status, and its ?auto lines for monitoring): per clinic of the
// server that answers, the reminders of the last day and the coming ones by status and the backlog not yet
// with Sinch; every node's dispatcher heartbeat; this process's PostgreSQL pool. Read from PostgreSQL, so
// any node's page shows the cluster (node_status.hpp); nothing here holds a patient's data. Then this httpd's
// own Sinch counters, summed over its child processes (sinch_counters.hpp).
#include "apache/status.hpp"

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <httpd.h>
#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <mod_status.h>

#include "apache/config.hpp"
#include "apache/log.hpp"
#include "apache/module_api.h"
#include "apache/runtime.hpp"
#include "apache/sinch_counters.hpp"
#include "core/metrics.hpp"
#include "core/node_status.hpp"
#include "core/pg_pool.hpp"
#include "core/redact.hpp"

APLOG_USE_MODULE(sinch_reminder);

namespace sr::apache {

namespace {

// ?auto keys are "SinchReminder" + words; clinic keys and node names may hold '-' and '.', kept as they are.
// NB: numbers go through std::to_string: ap_rprintf (apr_vformatter) has no %lld or %zu.
void auto_line(request_rec* r, const std::string& key, long long value) {
    ap_rputs(("SinchReminder" + key + ": " + std::to_string(value) + "\n").c_str(), r);
}

std::string html(request_rec* r, const std::string& text) { return ap_escape_html(r->pool, text.c_str()); }

void clinic_section(request_rec* r, bool short_report, const std::string& key, const ClinicConfig& clinic,
                    const std::map<std::string, int>& by_status, const Backlog& backlog) {
    if (short_report) {
        for (const auto& [status, count] : by_status)
            auto_line(r, "Clinic_" + key + "_Reminders_" + status, count);
        auto_line(r, "Clinic_" + key + "_BacklogDue", backlog.due);
        auto_line(r, "Clinic_" + key + "_BacklogOverdue", backlog.overdue);
        return;
    }
    std::string mounts;
    for (const std::string& mount : clinic.mounts) mounts += (mounts.empty() ? "" : " ") + mount;
    ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>", html(r, key).c_str(),
               html(r, mounts.empty() ? "/" : mounts).c_str());
    std::string counts;
    for (const auto& [status, count] : by_status)
        counts += (counts.empty() ? "" : ", ") + status + " " + std::to_string(count);
    ap_rputs((html(r, counts.empty() ? "none" : counts) + "</td><td>" + std::to_string(backlog.due) +
              " due, " + std::to_string(backlog.overdue) + " overdue</td></tr>\n")
                 .c_str(),
             r);
}

// The Sinch counters of every identity of this httpd, summed over all its child processes (shared memory,
// sinch_counters.hpp): per operation, each answer class; and the dispatchers' waits for a rate token.
void sinch_counters_section(request_rec* r, bool short_report) {
    const std::vector<CountedIdentity> identities = counted_identities();
    if (identities.empty()) return;
    if (!short_report) {
        ap_rputs(
            "<h3>Sinch calls (every child process of this httpd, since it started)</h3>\n<table "
            "border=\"0\"><tr><th>clinics</th><th>call</th>",
            r);
        for (std::size_t a = 0; a < k_sinch_answers; ++a)
            ap_rprintf(r, "<th>%s</th>", metric_name(static_cast<SinchAnswer>(a)));
        ap_rputs("</tr>\n", r);
    }
    for (const CountedIdentity& identity : identities) {
        const SinchCounters& counters = *identity.counters;
        for (std::size_t o = 0; o < k_sinch_operations; ++o) {
            const auto operation = static_cast<SinchOperation>(o);
            if (!short_report)
                ap_rprintf(r, "<tr><td>%s</td><td>%s</td>", html(r, identity.label).c_str(),
                           metric_name(operation));
            for (std::size_t a = 0; a < k_sinch_answers; ++a) {
                const auto answer = static_cast<SinchAnswer>(a);
                const auto count = static_cast<long long>(counters.calls_of(operation, answer));
                if (short_report) {
                    auto_line(
                        r,
                        "Sinch_" + identity.label + "_" + metric_name(operation) + "_" + metric_name(answer),
                        count);
                } else {
                    ap_rputs(("<td>" + std::to_string(count) + "</td>").c_str(), r);
                }
            }
            if (!short_report) ap_rputs("</tr>\n", r);
        }
        const auto waits = static_cast<long long>(counters.rate_waits.load(std::memory_order_relaxed));
        const auto wait_ms = static_cast<long long>(counters.rate_wait_ms.load(std::memory_order_relaxed));
        if (short_report) {
            auto_line(r, "Sinch_" + identity.label + "_RateWaits", waits);
            auto_line(r, "Sinch_" + identity.label + "_RateWaitMs", wait_ms);
        } else {
            ap_rputs(("<tr><td>" + html(r, identity.label) + "</td><td colspan=\"" +
                      std::to_string(k_sinch_answers + 1) + "\">waited for a rate token " +
                      std::to_string(waits) + " times, " + std::to_string(wait_ms) + " ms in all</td></tr>\n")
                         .c_str(),
                     r);
        }
    }
    if (!short_report) ap_rputs("</table>\n", r);
}

int status_section(request_rec* r, int flags) {
    const ServerConfig& config = server_config(r->server);
    if (config.clinics.empty() || config.runtimes.empty()) return OK;
    const bool short_report = (flags & AP_STATUS_SHORT) != 0;
    const ServerRuntime* any = config.runtimes.begin()->second;
    if (!any->database) return OK;
    std::vector<std::string> keys;
    for (const auto& [key, clinic] : config.clinics) keys.push_back(key);
    const Instant now = now_utc();
    try {
        PgLease lease = any->database->acquire();
        const auto by_clinic = reminders_by_clinic_and_status(lease, keys, now - std::chrono::hours(24));
        const std::vector<DispatcherHeartbeat> beats = dispatcher_heartbeats(lease);
        if (!short_report) {
            ap_rputs(
                "<hr />\n<h2>mod_sinch_reminder</h2>\n<h3>Clinics</h3>\n<table "
                "border=\"0\"><tr><th>clinic</th>"
                "<th>mount</th><th>reminders since 24 h ago, by status</th><th>not yet with "
                "Sinch</th></tr>\n",
                r);
        }
        for (const auto& [key, clinic] : config.clinics) {
            const auto found = by_clinic.find(key);
            const Backlog backlog = due_backlog(lease, {key}, config.settings->horizon);
            clinic_section(r, short_report, key, clinic,
                           found == by_clinic.end() ? std::map<std::string, int>{} : found->second, backlog);
        }
        if (!short_report) {
            ap_rputs(
                "</table>\n<h3>Dispatchers (every node on this database)</h3>\n<table border=\"0\"><tr>"
                "<th>node</th><th>clinics</th><th>last pass</th><th>outcome</th><th>passes</th></tr>\n",
                r);
        }
        for (const DispatcherHeartbeat& beat : beats) {
            const long long ago = (now - beat.last_pass_at).count();
            if (short_report) {
                auto_line(r, "Dispatcher_" + beat.node + "_" + beat.clinics + "_SecondsSinceLastPass", ago);
                auto_line(r, "Dispatcher_" + beat.node + "_" + beat.clinics + "_LastPassFailed",
                          beat.failed ? 1 : 0);
                continue;
            }
            ap_rputs(("<tr><td>" + html(r, beat.node) + "</td><td>" + html(r, beat.clinics) + "</td><td>" +
                      std::to_string(ago) + " s ago</td><td>" + (beat.failed ? "failed: " : "") +
                      html(r, beat.outcome) + "</td><td>" + std::to_string(beat.passes) + "</td></tr>\n")
                         .c_str(),
                     r);
        }
        const PgPool::Stats pool = any->database->stats();
        if (short_report) {
            auto_line(r, "DbPoolOpen", static_cast<long long>(pool.open));
            auto_line(r, "DbPoolLeased", static_cast<long long>(pool.leased));
        } else {
            ap_rputs(("</table>\n<p>This process's PostgreSQL pool: " + std::to_string(pool.open) +
                      " open, " + std::to_string(pool.leased) + " in use, " + std::to_string(pool.idle) +
                      " idle (at most " + std::to_string(config.settings->db_pool_max) + ").</p>\n")
                         .c_str(),
                     r);
        }
    } catch (const std::exception& e) {
        ApacheLogger(r).log(LogLevel::Warn, "SR0032", "status section: " + loggable_error(e));
        if (short_report) {
            ap_rputs("SinchReminderDatabase: unavailable\n", r);
        } else {
            ap_rputs("<hr />\n<h2>mod_sinch_reminder</h2><p>PostgreSQL is unavailable (SR0032).</p>\n", r);
        }
    }
    sinch_counters_section(r, short_report);
    return OK;
}

int status_hook(request_rec* r, int flags) noexcept {
    try {
        return status_section(r, flags);
    } catch (...) {
        return OK;  // the rest of the status page still shows
    }
}

}  // namespace

void register_status_hook() {
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace sr::apache
