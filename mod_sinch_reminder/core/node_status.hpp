#pragma once
// What monitoring reads (/health and the mod_status section): each node's dispatcher heartbeat, the
// reminders waiting to be handed to Sinch, and the reminders of the coming days by status, per clinic.
// Every query is bounded by an index range, so monitoring can poll it every few seconds on years of data.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/pg_pool.hpp"

namespace sr {

struct DispatcherHeartbeat {
    std::string node;     // host name
    std::string clinics;  // comma-separated keys
    Instant last_pass_at;
    std::string outcome;
    bool failed = false;
    long long passes = 0;
};

// After each dispatcher pass (one statement). Throws DatabaseUnavailable.
void record_dispatcher_pass(PgPool& database, const std::string& node,
                            const std::vector<std::string>& clinics, const std::string& outcome, bool failed);
// Every node's, newest first (the daily retention purge removes those silent for a week).
std::vector<DispatcherHeartbeat> dispatcher_heartbeats(PgLease& lease);
// The newest of `node`'s dispatchers serving `clinic` (a range of the (node, clinics) key), or nullopt.
std::optional<DispatcherHeartbeat> dispatcher_heartbeat(PgLease& lease, const std::string& node,
                                                        const std::string& clinic);

struct Backlog {
    int due = 0;      // pending, retrying or unknown with send_at inside the horizon: not yet with Sinch
    int overdue = 0;  // ... of which the send time has passed
    std::optional<Instant> oldest_send_at;
};
// For `clinics` (empty: every clinic).
Backlog due_backlog(PgLease& lease, const std::vector<std::string>& clinics, std::chrono::seconds horizon);

// Reminders whose send time is from `since` on, counted by clinic and status (the current revision's and
// older ones alike): what the coming days hold, and what the last day did.
std::map<std::string, std::map<std::string, int>> reminders_by_clinic_and_status(
    PgLease& lease, const std::vector<std::string>& clinics, Instant since);

}  // namespace sr
