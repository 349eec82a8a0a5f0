#include "core/tz_recheck.hpp"

#include <map>
#include <pqxx/pqxx>

namespace sr {

namespace {

const Actor k_recheck_actor{"tz-recheck", ""};

struct FutureAppointment {
    std::string id, time_zone, local_wall_time, doctor, clinic;
    Instant starts_at;
    std::vector<std::pair<int, Instant>> reminders;  // (slot, send_at) of the current revision
    std::string delivery_report, callback_url;  // kept for the new revision
    std::optional<std::string> language;        // NULL: the clinic's own
};

std::vector<FutureAppointment> future_appointments(PgPool& database,
                                                   const std::vector<std::string>& clinics) {
    PgLease lease = database.acquire();
    return with_connection(lease, "reading future appointments", [&](pqxx::connection& c) {
        pqxx::read_transaction txn(c);
        // The future is a range of appointments_starts_at_id_idx; each one's current reminders are then
        // looked up by (appointment_id, revision), a row per slot. OFFSET 0 keeps the lookup per appointment:
        // joined as a set, the planner would read every reminder ever stored (years of them) to find the few
        // future ones.
        const pqxx::result rows = txn.exec_params(
            "SELECT a.id::text, a.time_zone, a.local_wall_time, a.doctor_name, a.clinic,"
            " floor(extract(epoch FROM a.starts_at))::bigint, floor(extract(epoch FROM r.send_at))::bigint,"
            " r.delivery_report, coalesce(r.callback_url, ''), a.language, r.slot"
            " FROM appointments a CROSS JOIN LATERAL (SELECT send_at, delivery_report, callback_url, slot "
            "FROM "
            "reminders"
            " WHERE appointment_id = a.id AND revision = a.revision OFFSET 0) r"
            " WHERE a.status = 'active' AND a.starts_at > now()"
            " AND (cardinality($1::text[]) = 0 OR a.clinic = ANY($1::text[])) ORDER BY a.starts_at, a.id, "
            "r.slot",
            pg_clinic_array(clinics));
        std::vector<FutureAppointment> out;
        for (const auto& row : rows) {
            const std::pair<int, Instant> reminder{row[10].as<int>(),
                                                   Instant(std::chrono::seconds(row[6].as<long long>()))};
            if (!out.empty() && out.back().id == row[0].as<std::string>()) {
                out.back().reminders.push_back(reminder);  // another slot of the same appointment
                continue;
            }
            out.push_back(
                {row[0].as<std::string>(),
                 row[1].as<std::string>(),
                 row[2].as<std::string>(),
                 row[3].as<std::string>(),
                 row[4].as<std::string>(),
                 Instant(std::chrono::seconds(row[5].as<long long>())),
                 {reminder},
                 row[7].as<std::string>(),
                 row[8].as<std::string>(),
                 row[9].is_null() ? std::nullopt : std::optional<std::string>(row[9].as<std::string>())});
        }
        return out;
    });
}

}  // namespace

TzRecheckReport recheck_time_zones(PgPool& database, const ReminderText& text, bool dry_run,
                                   const ReminderTiming& timing, const std::vector<std::string>& clinics) {
    TzRecheckReport report;
    std::map<std::string, ClinicZone> zones;
    for (const FutureAppointment& a : future_appointments(database, clinics)) {
        ++report.checked;
        auto zone = zones.find(a.time_zone);
        if (zone == zones.end()) zone = zones.emplace(a.time_zone, ClinicZone::load(a.time_zone)).first;
        const auto local =
            parse_local_date_time(a.local_wall_time.substr(0, 10), a.local_wall_time.substr(11, 5));
        if (!local) continue;
        const ResolvedTime now_means = zone->second.to_utc(*local);
        if (now_means.utc == a.starts_at) continue;
        report.changes.push_back(
            {a.id, a.clinic, a.time_zone, a.local_wall_time, a.starts_at, now_means.utc});
        if (dry_run) continue;
        NewTime time;
        time.starts_at = now_means.utc;
        time.local_wall_time = a.local_wall_time;
        time.resolution = now_means.resolution;
        const Instant now = now_utc();
        if (timing) {
            for (const PlannedReminder& planned : timing(a.clinic, now_means.utc, zone->second)) {
                time.reminders.push_back(
                    {planned.slot, planned.time.send_at,
                     planned.passed(now) ? InitialReminderStatus::TooLate : InitialReminderStatus::Pending});
            }
        } else {
            for (const auto& [slot, send_at] : a.reminders) {  // each keeps its distance
                const Instant moved = now_means.utc - (a.starts_at - send_at);
                time.reminders.push_back(
                    {slot, moved,
                     moved <= now ? InitialReminderStatus::TooLate : InitialReminderStatus::Pending});
            }
        }
        time.reminder_body = text(a.clinic, a.language, a.doctor, now_means.utc, zone->second);
        time.reminder_delivery_report = a.delivery_report;
        time.reminder_callback_url = a.callback_url;
        time.only_if_starts_at = a.starts_at;  // another node may have moved it meanwhile
        PgLease lease = database.acquire();
        reschedule_appointment(lease, a.id, time, k_recheck_actor);
    }
    return report;
}

std::string recorded_tz_rules_version(PgPool& database) {
    PgLease lease = database.acquire();
    return with_connection(lease, "reading the recorded tz rules", [](pqxx::connection& c) {
        pqxx::read_transaction txn(c);
        const pqxx::result rows = txn.exec("SELECT value FROM module_state WHERE name = 'tz_rules_version'");
        return rows.empty() ? std::string() : rows[0][0].as<std::string>();
    });
}

void record_tz_rules_version(PgPool& database, const std::string& version) {
    PgLease lease = database.acquire();
    with_connection(lease, "recording the tz rules", [&](pqxx::connection& c) {
        pqxx::work txn(c);
        txn.exec_params(
            "INSERT INTO module_state (name, value) VALUES ('tz_rules_version', $1)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()",
            version);
        txn.commit();
    });
}

void recheck_time_zones_if_rules_changed(PgPool& database, const ReminderText& text, Logger& logger,
                                         const ReminderTiming& timing,
                                         const std::vector<std::string>& clinics) {
    const std::string mine = computing_tz_rules_version();
    if (mine.empty()) return;  // SR0021 already said why
    const std::string recorded = recorded_tz_rules_version(database);
    if (recorded == mine) return;
    if (!recorded.empty() && tz_rules_older(mine, recorded)) {
        logger.log(
            LogLevel::Warn, "SR0024",
            "this node computes with time-zone rules " + mine + ", older than the " + recorded +
                " the stored appointments were computed with: update the tzdata package and restart httpd");
        return;
    }
    if (!recorded.empty()) {
        const TzRecheckReport report = recheck_time_zones(database, text, false, timing, clinics);
        logger.log(report.changes.empty() ? LogLevel::Info : LogLevel::Warn, "SR0025",
                   "time-zone rules changed from " + recorded + " to " + mine + ": checked " +
                       std::to_string(report.checked) + " future appointment(s), moved " +
                       std::to_string(report.changes.size()));
        for (const TzChange& change : report.changes) {
            logger.log(LogLevel::Info, "",
                       "appointment " + change.appointment_id + " (" + change.local_wall_time + " " +
                           change.time_zone + ") moved from " + format_utc_iso_millis(change.old_starts_at) +
                           " to " + format_utc_iso_millis(change.new_starts_at));
        }
    }
    record_tz_rules_version(database, mine);
}

}  // namespace sr
