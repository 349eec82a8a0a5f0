#include "core/node_status.hpp"
#include "core/text_join.hpp"

#include <pqxx/pqxx>

namespace sr {

namespace {

Instant instant_of(const pqxx::field& field) { return Instant(std::chrono::seconds(field.as<long long>())); }

}  // namespace

void record_dispatcher_pass(PgPool& database, const std::string& node,
                            const std::vector<std::string>& clinics, const std::string& outcome,
                            bool failed) {
    PgLease lease = database.acquire();
    run_prepared(
        lease, "recording a dispatcher pass", "sr_record_dispatcher_pass",
        "INSERT INTO dispatcher_heartbeats (node, clinics, last_pass_at, outcome, failed)"
        " VALUES ($1, $2, now(), left($3, 500), $4)"
        " ON CONFLICT (node, clinics) DO UPDATE SET last_pass_at = now(), outcome = excluded.outcome,"
        " failed = excluded.failed, passes = dispatcher_heartbeats.passes + 1",
        node, joined(clinics, ","), outcome, failed);
}

namespace {
DispatcherHeartbeat heartbeat_from(const pqxx::row& row) {
    return {row[0].as<std::string>(), row[1].as<std::string>(), instant_of(row[2]),
            row[3].as<std::string>(), row[4].as<bool>(),        row[5].as<long long>()};
}
}  // namespace

std::optional<DispatcherHeartbeat> dispatcher_heartbeat(PgLease& lease, const std::string& node,
                                                        const std::string& clinic) {
    const pqxx::result rows = run_prepared(
        lease, "reading this node's dispatcher heartbeat", "sr_dispatcher_heartbeat_of_node",
        "SELECT node, clinics, floor(extract(epoch FROM last_pass_at))::bigint, outcome, failed, passes"
        " FROM dispatcher_heartbeats WHERE node = $1 AND $2 = ANY(string_to_array(clinics, ','))"
        " ORDER BY last_pass_at DESC LIMIT 1",
        node, clinic);
    if (rows.empty()) return std::nullopt;
    return heartbeat_from(rows[0]);
}

std::vector<DispatcherHeartbeat> dispatcher_heartbeats(PgLease& lease) {
    const pqxx::result rows = run_prepared(
        lease, "reading dispatcher heartbeats", "sr_dispatcher_heartbeats",
        "SELECT node, clinics, floor(extract(epoch FROM last_pass_at))::bigint, outcome, failed, passes"
        " FROM dispatcher_heartbeats ORDER BY last_pass_at DESC LIMIT 100");
    std::vector<DispatcherHeartbeat> out;
    for (const auto& row : rows) out.push_back(heartbeat_from(row));
    return out;
}

Backlog due_backlog(PgLease& lease, const std::vector<std::string>& clinics, std::chrono::seconds horizon) {
    // A range of reminders_due_idx (pending / retrying / unknown by send_at): few rows in a healthy system,
    // since reminders inside the horizon are handed over within a pass.
    const pqxx::result rows = run_prepared(
        lease, "reading the backlog", "sr_due_backlog",
        "SELECT count(*)::integer, count(*) FILTER (WHERE r.send_at < now())::integer,"
        " floor(extract(epoch FROM min(r.send_at)))::bigint FROM reminders r"
        " WHERE r.status IN ('pending', 'retrying', 'unknown') AND r.send_at <= now() + make_interval(secs "
        "=> $1)"
        " AND (cardinality($2::text[]) = 0 OR (SELECT a.clinic = ANY($2::text[]) FROM appointments a"
        "      WHERE a.id = r.appointment_id))",
        static_cast<double>(horizon.count()), pg_clinic_array(clinics));
    Backlog backlog;
    backlog.due = rows[0][0].as<int>();
    backlog.overdue = rows[0][1].as<int>();
    if (!rows[0][2].is_null()) backlog.oldest_send_at = instant_of(rows[0][2]);
    return backlog;
}

std::map<std::string, std::map<std::string, int>> reminders_by_clinic_and_status(
    PgLease& lease, const std::vector<std::string>& clinics, Instant since) {
    const pqxx::result rows = run_prepared(
        lease, "counting reminders", "sr_reminders_by_clinic_and_status",
        "SELECT a.clinic, r.status, count(*)::integer FROM reminders r JOIN appointments a ON a.id = "
        "r.appointment_id"
        " WHERE r.send_at >= to_timestamp($1) AND (cardinality($2::text[]) = 0 OR a.clinic = ANY($2::text[]))"
        " GROUP BY a.clinic, r.status",
        static_cast<double>(since.time_since_epoch().count()), pg_clinic_array(clinics));
    std::map<std::string, std::map<std::string, int>> out;
    for (const auto& row : rows) out[row[0].as<std::string>()][row[1].as<std::string>()] = row[2].as<int>();
    return out;
}

}  // namespace sr
