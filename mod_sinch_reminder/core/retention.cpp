#include "core/retention.hpp"

#include <pqxx/pqxx>

#include <thread>

#include "core/settings.hpp"

namespace sr {

namespace {

long long count_of(const pqxx::field& field) { return field.is_null() ? 0 : field.as<long long>(); }

// One transaction: the next `limit` appointments (from the watermark on, oldest first) whose retention
// has passed. Returns false when there were none.
bool purge_appointment_batch(pqxx::connection& c, std::chrono::seconds retention, int limit,
                             RetentionReport& report) {
    pqxx::work txn(c);
    const pqxx::result watermark =
        txn.exec("SELECT value::double precision FROM module_state WHERE name = 'retention_purged_until'");
    const double from = watermark.empty() ? 0.0 : watermark[0][0].as<double>();
    const pqxx::row row = txn.exec_params1(
        "WITH batch AS (SELECT id, starts_at FROM appointments"
        "  WHERE purged_at IS NULL AND starts_at >= to_timestamp($2)"
        "  AND starts_at < now() - make_interval(secs => $1)"
        "  ORDER BY starts_at LIMIT $3 FOR UPDATE),"
        " a AS (UPDATE appointments p SET patient_name = '(removed)', phone_e164 = '', created_from = NULL,"
        "  submission_key = NULL, purged_at = now() FROM batch WHERE p.id = batch.id RETURNING p.id),"
        " r AS (UPDATE reminders r SET body = '', last_error_text = NULL FROM a"
        "  WHERE r.appointment_id = a.id RETURNING 1),"
        " l AS (UPDATE audit_log l SET details = '{}', remote_addr = NULL FROM a"
        "  WHERE l.appointment_id = a.id RETURNING 1)"
        " SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM r), (SELECT count(*) FROM l),"
        " (SELECT floor(extract(epoch FROM max(starts_at)))::bigint FROM batch)",
        static_cast<double>(retention.count()), from, limit);
    const long long appointments = count_of(row[0]);
    if (appointments > 0) {
        // Everything before the newest one purged is done: the next batch (and tomorrow's) starts there.
        txn.exec_params(
            "INSERT INTO module_state (name, value) VALUES ('retention_purged_until', $1)"
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            std::to_string(row[3].as<long long>()));
    }
    txn.commit();
    report.appointments += appointments;
    report.reminders += count_of(row[1]);
    report.audit_rows += count_of(row[2]);
    ++report.transactions;
    return appointments > 0;
}

// One transaction: audit rows of no appointment (list reads, searches) older than the retention.
long long purge_loose_audit_batch(pqxx::connection& c, std::chrono::seconds retention, int limit) {
    pqxx::work txn(c);
    const pqxx::result rows = txn.exec_params(
        "WITH batch AS (SELECT id FROM audit_log WHERE appointment_id IS NULL"
        "  AND at < now() - make_interval(secs => $1) AND (details <> '{}'::jsonb OR remote_addr IS NOT NULL)"
        "  ORDER BY id LIMIT $2 FOR UPDATE)"
        " UPDATE audit_log l SET details = '{}', remote_addr = NULL FROM batch WHERE l.id = batch.id",
        static_cast<double>(retention.count()), limit);
    txn.commit();
    return static_cast<long long>(rows.affected_rows());
}

void count_only(pqxx::connection& c, std::chrono::seconds retention, RetentionReport& report) {
    pqxx::read_transaction txn(c);
    const pqxx::row row = txn.exec_params1(
        "WITH due AS (SELECT id FROM appointments WHERE purged_at IS NULL"
        "  AND starts_at < now() - make_interval(secs => $1))"
        " SELECT (SELECT count(*) FROM due),"
        " (SELECT count(*) FROM reminders WHERE appointment_id IN (SELECT id FROM due)),"
        " (SELECT count(*) FROM audit_log WHERE appointment_id IN (SELECT id FROM due))"
        " + (SELECT count(*) FROM audit_log WHERE appointment_id IS NULL"
        "  AND at < now() - make_interval(secs => $1) AND (details <> '{}'::jsonb OR remote_addr IS NOT "
        "NULL))",
        static_cast<double>(retention.count()));
    report.appointments = count_of(row[0]);
    report.reminders = count_of(row[1]);
    report.audit_rows = count_of(row[2]);
    ++report.transactions;
}

void housekeeping(pqxx::connection& c, RetentionReport& report) {
    pqxx::nontransaction txn(c);
    report.expired_nonces = static_cast<long long>(
        txn.exec("DELETE FROM callback_nonces WHERE expires_at < now()").affected_rows());
    report.expired_booking_counts = static_cast<long long>(
        txn.exec("DELETE FROM booking_counts WHERE minute < now() - interval '61 minutes'").affected_rows());
    // Nodes silent for a week are gone (node_status.hpp); their heartbeats would only clutter monitoring.
    txn.exec("DELETE FROM dispatcher_heartbeats WHERE last_pass_at < now() - interval '7 days'");
}

}  // namespace

std::string RetentionReport::summary() const {
    return std::to_string(appointments) + " appointment(s), " + std::to_string(reminders) + " reminder(s), " +
           std::to_string(audit_rows) + " audit row(s) in " + std::to_string(transactions) +
           " transaction(s); forgot " + std::to_string(expired_nonces) + " expired callback nonce(s) and " +
           std::to_string(expired_booking_counts) + " old booking count(s)";
}

RetentionReport purge_patient_data(PgPool& database, std::chrono::seconds retention, bool dry_run,
                                   int batch_size) {
    RetentionReport report;
    // A fresh lease per transaction: the connection goes back to the pool between batches.
    auto on_connection = [&](const char* operation, auto&& work) {
        PgLease lease = database.acquire();
        return with_connection(lease, operation, work);
    };
    if (retention.count() > 0) {
        if (dry_run) {
            on_connection("counting expired patient data", [&](pqxx::connection& c) {
                count_only(c, retention, report);
                return 0;
            });
            return report;
        }
        // Paced: after each transaction the purge waits as long as it took, so that on a busy server it
        // takes at most about half of one CPU and bookings meanwhile keep their usual latency.
        for (;;) {
            const auto started = std::chrono::steady_clock::now();
            const bool more = on_connection("anonymising expired appointments", [&](pqxx::connection& c) {
                return purge_appointment_batch(c, retention, batch_size, report);
            });
            if (!more) break;
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                std::chrono::steady_clock::now() - started, std::chrono::seconds(1)));
        }
        for (;;) {
            const long long cleared = on_connection(
                "anonymising expired audit rows",
                [&](pqxx::connection& c) { return purge_loose_audit_batch(c, retention, batch_size); });
            ++report.transactions;
            report.audit_rows += cleared;
            if (cleared < batch_size) break;
        }
    }
    if (!dry_run) {
        on_connection("forgetting expired nonces and booking counts", [&](pqxx::connection& c) {
            housekeeping(c, report);
            return 0;
        });
    }
    return report;
}

std::optional<RetentionReport> purge_patient_data_if_due(PgPool& database, std::chrono::seconds retention,
                                                         Logger& logger) {
    const bool due = [&] {
        PgLease lease = database.acquire();
        // One row for the cluster: the first process after a day has passed takes the run.
        return !run_prepared(
                    lease, "claiming the daily retention run", "sr_claim_retention_run",
                    "INSERT INTO module_state (name, value) VALUES ('retention_last_run', now()::text)"
                    " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()"
                    " WHERE module_state.updated_at < now() - interval '1 day' RETURNING 1")
                    .empty();
    }();
    if (!due) return std::nullopt;
    const RetentionReport report = purge_patient_data(database, retention, false);
    logger.log(report.appointments || report.audit_rows ? LogLevel::Info : LogLevel::Debug, "",
               "retention (" +
                   (retention.count() ? format_duration(retention) + " after the appointment" : "off") +
                   "): anonymised " + report.summary());
    return report;
}

}  // namespace sr
