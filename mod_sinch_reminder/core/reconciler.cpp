#include "core/reconciler.hpp"

#include <pqxx/pqxx>

#include <optional>
#include <vector>

#include "core/appointment_view.hpp"
#include "core/clock.hpp"
#include "core/reminder_queue.hpp"

namespace sr {

namespace {

struct Claimed {
    std::int64_t id = 0;
    std::string appointment_id;
    std::string status;
    std::string batch_id;
    Instant send_at;
    std::string client_reference;
};

std::vector<Claimed> claim(PgLease& lease, const ReconcileSettings& settings) {
    return with_connection(lease, "claiming reminders to reconcile", [&](pqxx::connection& c) {
        pqxx::work txn(c);
        const pqxx::result rows = txn.exec_params(
            "WITH due AS (SELECT r.id FROM reminders r"
            " WHERE r.batch_id IS NOT NULL AND NOT r.reconcile_done"
            " AND r.status IN ('scheduled', 'cancelled', 'superseded', 'sent')"
            " AND r.send_at > now() - make_interval(secs => $1)"
            " AND (r.reconciled_at IS NULL OR r.reconciled_at < now() - make_interval(secs => $2)"
            // Once its send time has passed, a scheduled reminder is read again (then every 2 minutes
            // until Sinch's delivery report says what happened): 'sent' means Sinch said so.
            "  OR (r.status = 'scheduled' AND r.send_at <= now()"
            "      AND r.reconciled_at < greatest(r.send_at, now() - interval '2 minutes')))"
            " AND coalesce(r.lease_until, now()) <= now()"
            " AND (cardinality($4::text[]) = 0 OR (SELECT a.clinic = ANY($4::text[]) FROM appointments a"
            "      WHERE a.id = r.appointment_id))"
            " ORDER BY r.reconciled_at NULLS FIRST, r.send_at LIMIT $3 FOR UPDATE OF r SKIP LOCKED)"
            " UPDATE reminders r SET reconciled_at = now() FROM due WHERE r.id = due.id"
            " RETURNING r.id, r.appointment_id::text, r.status, r.batch_id,"
            " floor(extract(epoch FROM r.send_at))::bigint, r.client_reference",
            static_cast<double>(settings.window.count()), static_cast<double>(settings.recheck_after.count()),
            settings.limit, pg_clinic_array(settings.clinics));
        txn.commit();
        std::vector<Claimed> claimed;
        for (const pqxx::row& row : rows) {
            Claimed r;
            r.id = row[0].as<std::int64_t>();
            r.appointment_id = row[1].as<std::string>();
            r.status = row[2].as<std::string>();
            r.batch_id = row[3].as<std::string>();
            r.send_at = Instant(std::chrono::seconds(row[4].as<long long>()));
            r.client_reference = row[5].as<std::string>();
            claimed.push_back(std::move(r));
        }
        return claimed;
    });
}

class Actions {
  public:
    Actions(PgLease& lease, Logger& logger, ReconcileReport& report) : m_lease(lease), m_logger(logger), m_report(report) {}

    void settle(const Claimed& r) {
        exec("settling a reconciled reminder", "UPDATE reminders SET reconcile_done = true WHERE id = $1", r.id);
        ++m_report.settled;
    }

    // Asked Sinch and got no answer: look again next pass.
    void retry_later(const Claimed& r) {
        exec("releasing a reconciliation claim", "UPDATE reminders SET reconciled_at = NULL WHERE id = $1", r.id);
        ++m_report.errors;
    }

    void flag(const Claimed& r, const std::string& note) {
        const bool changed = with_connection(m_lease, "flagging a reminder", [&](pqxx::connection& c) {
            pqxx::work txn(c);
            const pqxx::result rows = txn.exec_params(
                "UPDATE reminders SET attention = $2, attention_at = now()"
                " WHERE id = $1 AND attention IS DISTINCT FROM $2 RETURNING id",
                r.id, note);
            if (!rows.empty()) audit(txn, r, "attention", note);
            txn.commit();
            return !rows.empty();
        });
        if (changed) {
            ++m_report.flagged;
            m_logger.log(LogLevel::Warn, "SR0601", "reconciliation: reminder " + r.client_reference + ": " + note);
        }
    }

    // `expected`: the status the reminder must still have.
    bool mark_sent(const Claimed& r, const std::string& note) {
        const bool changed = with_connection(m_lease, "marking a reminder sent", [&](pqxx::connection& c) {
            pqxx::work txn(c);
            const pqxx::result rows = txn.exec_params(
                "UPDATE reminders SET status = 'sent' WHERE id = $1 AND status = $2 RETURNING id", r.id, r.status);
            if (!rows.empty()) audit(txn, r, "reconcile", note);
            txn.commit();
            return !rows.empty();
        });
        if (changed) ++m_report.marked_sent;
        return changed;
    }

    // Sinch accepted the batch but could not send it (e.g. code 410: no sender and no default originator).
    bool mark_failed(const Claimed& r, int code, const std::string& text) {
        const bool changed = with_connection(m_lease, "marking a reminder failed", [&](pqxx::connection& c) {
            pqxx::work txn(c);
            const pqxx::result rows = txn.exec_params(
                "UPDATE reminders SET status = 'failed', last_error_code = $2, last_error_text = left($3, 1000)"
                " WHERE id = $1 AND status = 'scheduled' RETURNING id",
                r.id, "delivery_" + std::to_string(code), text);
            if (!rows.empty()) audit(txn, r, "reconcile", text);
            txn.commit();
            return !rows.empty();
        });
        if (changed) ++m_report.marked_failed;
        return changed;
    }

    // Looked at, nothing settled yet: look again later (the claim already moved reconciled_at).
    void later(const Claimed&) {}

    void note(const Claimed& r, const std::string& text) {
        with_connection(m_lease, "auditing reconciliation", [&](pqxx::connection& c) {
            pqxx::work txn(c);
            audit(txn, r, "reconcile", text);
            txn.commit();
        });
    }

  private:
    template <class... Params>
    void exec(const char* operation, const char* sql, Params&&... params) {
        with_connection(m_lease, operation, [&](pqxx::connection& c) {
            pqxx::work txn(c);
            txn.exec_params(sql, std::forward<Params>(params)...);
            txn.commit();
        });
    }

    static void audit(pqxx::work& txn, const Claimed& r, const char* action, const std::string& note) {
        txn.exec_params(
            "INSERT INTO audit_log (appointment_id, action, actor, details)"
            " VALUES ($1::uuid, $2, 'reconciler', jsonb_build_object('note', $3::text, 'batch_id', $4::text,"
            " 'client_reference', $5::text))",
            r.appointment_id, std::string(action), note, r.batch_id, r.client_reference);
    }

    PgLease& m_lease;
    Logger& m_logger;
    ReconcileReport& m_report;
};

constexpr std::chrono::seconds k_send_at_tolerance{60};

// Statuses Sinch uses once a message has left it, and once it can no longer be sent (contract §6.2).
bool reached_the_network(const std::string& status) { return status == "Dispatched" || status == "Delivered"; }
bool never_sent(const std::string& status) {
    return status == "Aborted" || status == "Rejected" || status == "Failed" || status == "Expired" ||
           status == "Deleted";
}

// The batch's send time has passed: 'sent' only when Sinch's delivery report says it left, 'failed' (flagged for
// staff) when Sinch says it could not send it; otherwise (still queued) look again later.
void settle_by_delivery_report(const Claimed& r, SinchClient& sinch, Actions& act, Logger& logger) {
    const SinchResult report = sinch.get_delivery_report(r.batch_id);
    if (!report.ok()) {
        logger.log(LogLevel::Warn, "SR0603",
                   "reconciliation: could not read the delivery report of batch " + r.batch_id + " (" +
                       to_string(report.outcome) + ", HTTP " + std::to_string(report.http_status) + " " +
                       report.error_code + "); tried again next pass");
        act.retry_later(r);
        return;
    }
    for (const DeliveryStatusCount& line : report.statuses) {
        if (line.count > 0 && reached_the_network(line.status)) {
            act.mark_sent(r, "Sinch reports batch " + r.batch_id + " " + line.status + ".");
            act.settle(r);
            return;
        }
    }
    for (const DeliveryStatusCount& line : report.statuses) {
        if (line.count > 0 && never_sent(line.status)) {
            const std::string why = "Sinch could not send the reminder: " + line.status + ", code " +
                                    std::to_string(line.code) +
                                    (line.code == 410 ? " (no sender: set SinchReminderFrom, or a default originator "
                                                        "on the Sinch account)"
                                                      : "") +
                                    ".";
            if (act.mark_failed(r, line.code, why)) {
                logger.log(LogLevel::Error, "SR0606", "reconciliation: reminder " + r.client_reference + ": " + why);
                act.flag(r, why + " Tell the patient another way, or reschedule to try again.");
            }
            act.settle(r);
            return;
        }
    }
    act.later(r);  // still queued at Sinch
}

void reconcile_one(const Claimed& r, SinchClient& sinch, Actions& act, Logger& logger, ReconcileReport& report) {
    const bool ended = r.status == "cancelled" || r.status == "superseded";
    const SinchResult result = sinch.get_batch(r.batch_id);
    if (result.outcome == SinchOutcome::NotFound) {
        if (r.status == "scheduled") {
            act.flag(r, "Sinch does not know batch " + r.batch_id +
                            ", so no reminder SMS will be sent. Reschedule the appointment to send a new one, or "
                            "tell the patient directly.");
        }
        act.settle(r);
        return;
    }
    if (!result.ok() || !result.batch) {
        logger.log(LogLevel::Warn, "SR0603",
                   "reconciliation: could not read batch " + r.batch_id + " of reminder " + r.client_reference +
                       " (" + to_string(result.outcome) + ", HTTP " + std::to_string(result.http_status) + " " +
                       result.error_code + "); tried again next pass");
        act.retry_later(r);
        return;
    }
    const Batch& batch = *result.batch;
    const Instant now = now_utc();
    const std::optional<Instant> sinch_send_at = batch.send_at ? batch.send_at : batch.created_at;
    const bool dispatched = !batch.canceled && sinch_send_at && *sinch_send_at <= now;

    if (ended) {
        if (batch.canceled) {
            act.settle(r);
        } else if (!dispatched) {
            // Cancelled here, live at Sinch: the cancel never arrived (or the batch was found too late).
            const SinchResult cancel = sinch.cancel_batch(r.batch_id);
            if (cancel.ok() || cancel.outcome == SinchOutcome::NotFound) {
                ++report.cancelled_at_sinch;
                logger.log(LogLevel::Warn, "SR0602",
                           "reconciliation: batch " + r.batch_id + " of " + r.status + " reminder " +
                               r.client_reference + " was still live at Sinch; cancelled it now");
                act.note(r, "Batch " + r.batch_id + " was still live at Sinch although this reminder is " + r.status +
                                "; reconciliation cancelled it.");
                act.settle(r);
            } else if (cancel.error_code == "batch_already_dispatched") {
                act.mark_sent(r, "Sinch had already sent batch " + r.batch_id + ".");
                act.flag(r, "The reminder SMS was sent although the appointment was " +
                                std::string(r.status == "superseded" ? "rescheduled" : "cancelled") +
                                ": tell the patient.");
                act.settle(r);
            } else {
                logger.log(LogLevel::Warn, "SR0603",
                           "reconciliation: cancelling live batch " + r.batch_id + " of " + r.status + " reminder " +
                               r.client_reference + " failed (" + to_string(cancel.outcome) + ", HTTP " +
                               std::to_string(cancel.http_status) + " " + cancel.error_code + "); tried again next pass");
                act.retry_later(r);
            }
        } else {
            act.mark_sent(r, "Sinch sent batch " + r.batch_id + " at " + format_utc_for_people(*sinch_send_at) +
                                 " although the reminder was " + r.status + ".");
            act.flag(r, "The reminder SMS was sent although the appointment was " +
                            std::string(r.status == "superseded" ? "rescheduled" : "cancelled") + ": tell the patient.");
            act.settle(r);
        }
        return;
    }
    if (r.status == "scheduled") {
        if (batch.canceled) {
            act.flag(r, "Batch " + r.batch_id +
                            " was cancelled at Sinch outside this module (e.g. in the Sinch dashboard), so no reminder "
                            "SMS will be sent. Reschedule the appointment to send a new one, or tell the patient.");
            act.settle(r);
        } else if (batch.send_at &&
                   (*batch.send_at > r.send_at + k_send_at_tolerance || *batch.send_at + k_send_at_tolerance < r.send_at)) {
            act.flag(r, "Sinch will send batch " + r.batch_id + " at " + format_utc_for_people(*batch.send_at) +
                            ", but this reminder is due at " + format_utc_for_people(r.send_at) +
                            ". Reschedule the appointment to correct it.");
        } else if (dispatched) {
            settle_by_delivery_report(r, sinch, act, logger);
        }
        return;
    }
    act.settle(r);  // sent: nothing more to learn from the batch; delivery reports say the rest
}

}  // namespace

std::string ReconcileReport::summary() const {
    std::string out = std::to_string(checked) + " checked";
    auto add = [&](int n, const char* what) {
        if (n) out += ", " + std::to_string(n) + " " + what;
    };
    add(cancelled_at_sinch, "cancelled at Sinch");
    add(marked_sent, "marked sent");
    add(marked_failed, "marked failed (Sinch could not send)");
    add(flagged, "flagged for staff");
    add(settled, "settled");
    add(errors, "to retry");
    return out;
}

ReconcileReport reconcile(PgPool& database, SinchClient& sinch, Logger& logger, const ReconcileSettings& settings) {
    ReconcileReport report;
    PgLease lease = database.acquire();
    const std::vector<Claimed> claimed = claim(lease, settings);
    Actions act(lease, logger, report);
    ReminderQueue account(lease, "reconciler");
    for (const Claimed& r : claimed) {
        if (account.account_state().paused(now_utc())) {
            // Nobody calls Sinch while the account is paused (429 / refused credentials): look again later.
            act.retry_later(r);
            --report.errors;
            continue;
        }
        ++report.checked;
        reconcile_one(r, sinch, act, logger, report);
    }
    return report;
}

}  // namespace sr
