#include "core/appointment_changes.hpp"

#include <jansson.h>
#include <pqxx/pqxx>

#include <cstdlib>
#include <memory>

namespace sr {

namespace {

// Ends the live reminders of a locked appointment's revision (every slot). Reminders that never reached
// Sinch end at once; the others wait for the dispatcher to cancel their batch. `ended` is cancelled or
// superseded. Returns the ids of the reminders that need a cancel at Sinch.
std::vector<std::int64_t> end_live_reminders(pqxx::work& txn, const std::string& appointment_id, int revision,
                                             const char* ended) {
    const pqxx::result rows = txn.exec_params(
        "UPDATE reminders SET"
        " status = CASE WHEN status IN ('pending', 'retrying', 'failed', 'too_late') THEN $3 ELSE 'cancelling' END,"
        " next_attempt_at = NULL"
        " WHERE appointment_id = $1::uuid AND revision = $2"
        " AND status IN ('pending', 'retrying', 'failed', 'too_late', 'scheduling', 'scheduled', 'unknown')"
        " RETURNING id, status",
        appointment_id, revision, std::string(ended));
    std::vector<std::int64_t> to_cancel;
    for (const pqxx::row& row : rows) {
        if (row[1].as<std::string>() == "cancelling") to_cancel.push_back(row[0].as<std::int64_t>());
    }
    return to_cancel;
}

void audit(pqxx::work& txn, const std::string& appointment_id, const char* action, const Actor& actor,
           const std::string& details_json) {
    txn.exec_params(
        "INSERT INTO audit_log (appointment_id, action, actor, remote_addr, details)"
        " VALUES ($1::uuid, $2, nullif($3, ''), nullif($4, ''), $5::jsonb)",  // actor NULL: no login
        appointment_id, std::string(action), actor.user, actor.remote_addr, details_json);
}

// Locks the appointment; nullopt if there is none (or the id is not a uuid). Returns (status, revision,
// starts_at, local_wall_time). By uuid, so through the primary key (never `id::text = $1`: a table scan).
std::optional<pqxx::row> lock_appointment(pqxx::work& txn, const std::string& appointment_id,
                                          const std::vector<std::string>& clinics) {
    if (!canonical_uuid(appointment_id)) return std::nullopt;
    const pqxx::result rows = txn.exec_params(
        "SELECT status, revision, to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " local_wall_time FROM appointments WHERE id = $1::uuid"
        " AND (cardinality($2::text[]) = 0 OR clinic = ANY($2::text[])) FOR UPDATE",
        appointment_id, pg_clinic_array(clinics));
    if (rows.empty()) return std::nullopt;
    return rows[0];
}

}  // namespace

ChangeResult cancel_appointment(PgLease& lease, const std::string& appointment_id, const Actor& actor) {
    return with_connection(lease, "cancel appointment", [&](pqxx::connection& c) {
        ChangeResult result;
        pqxx::work txn(c);
        const auto appointment = lock_appointment(txn, appointment_id, actor.clinics);
        if (!appointment) return result;
        if ((*appointment)[0].as<std::string>() == "cancelled") {
            result.outcome = ChangeOutcome::AlreadyCancelled;
            return result;
        }
        txn.exec_params("UPDATE appointments SET status = 'cancelled' WHERE id = $1::uuid", appointment_id);
        result.reminders_to_cancel =
            end_live_reminders(txn, appointment_id, (*appointment)[1].as<int>(), "cancelled");
        audit(txn, appointment_id, "cancel", actor,
              "{\"status\":{\"from\":\"active\",\"to\":\"cancelled\"}}");
        txn.commit();
        result.outcome = ChangeOutcome::Done;
        return result;
    });
}

ChangeResult reschedule_appointment(PgLease& lease, const std::string& appointment_id, const NewTime& time,
                                    const Actor& actor) {
    return with_connection(lease, "reschedule appointment", [&](pqxx::connection& c) {
        ChangeResult result;
        pqxx::work txn(c);
        const auto appointment = lock_appointment(txn, appointment_id, actor.clinics);
        if (!appointment) return result;
        if ((*appointment)[0].as<std::string>() == "cancelled") {
            result.outcome = ChangeOutcome::AlreadyCancelled;
            return result;
        }
        const int revision = (*appointment)[1].as<int>();
        if (time.only_if_starts_at &&
            (*appointment)[2].as<std::string>() != format_utc_iso_millis(*time.only_if_starts_at).substr(0, 19) + "Z") {
            result.outcome = ChangeOutcome::Stale;
            return result;
        }
        result.reminders_to_cancel = end_live_reminders(txn, appointment_id, revision, "superseded");
        txn.exec_params(
            "UPDATE appointments SET starts_at = to_timestamp($2), local_wall_time = $3, wall_time_resolution = $4,"
            " revision = revision + 1 WHERE id = $1::uuid",
            appointment_id, static_cast<double>(time.starts_at.time_since_epoch().count()), time.local_wall_time,
            std::string(to_string(time.resolution)));
        std::vector<NewReminder> reminders = time.reminders;
        if (reminders.empty()) {
            reminders.push_back({1, time.reminder_send_at,
                                 time.reminder_slot_passed ? InitialReminderStatus::TooLate
                                                           : InitialReminderStatus::Pending});
        }
        std::string send_ats = "{", statuses = "{", slots = "{";
        for (const NewReminder& reminder : reminders) {
            const char* comma = send_ats.size() > 1 ? "," : "";
            send_ats += comma + std::to_string(reminder.send_at.time_since_epoch().count());
            statuses += comma + std::string(to_string(reminder.status));
            slots += comma + std::to_string(reminder.slot);
        }
        const pqxx::result inserted = txn.exec_params(
            "INSERT INTO reminders (appointment_id, revision, slot, send_at, time_zone, status, body,"
            " delivery_report, callback_url)"
            " SELECT a.id, a.revision, p.slot, to_timestamp(p.send_at), a.time_zone, p.status, $2, $3,"
            " nullif($4, '') FROM appointments a,"
            " unnest($5::bigint[], $6::text[], $7::smallint[]) AS p(send_at, status, slot)"
            " WHERE a.id = $1::uuid ORDER BY p.send_at, p.slot RETURNING id, status",
            appointment_id, time.reminder_body, time.reminder_delivery_report, time.reminder_callback_url,
            send_ats + "}", statuses + "}", slots + "}");
        for (const pqxx::row& row : inserted) {
            if (row[1].as<std::string>() == "pending")
                result.reminders_to_schedule.push_back(row[0].as<std::int64_t>());
        }
        const std::string details =
            "{\"starts_at\":{\"from\":\"" + (*appointment)[2].as<std::string>() + "\",\"to\":\"" +
            format_utc_iso_millis(time.starts_at) + "\"},\"local_wall_time\":{\"from\":\"" +
            (*appointment)[3].as<std::string>() + "\",\"to\":\"" + time.local_wall_time + "\"},\"revision\":" +
            std::to_string(revision + 1) + "}";
        audit(txn, appointment_id, "reschedule", actor, details);
        txn.commit();
        result.outcome = ChangeOutcome::Done;
        return result;
    });
}

void audit_read(PgLease& lease, const std::string& appointment_id, const char* action, const Actor& actor,
                const std::string& details_json) {
    with_connection(lease, "auditing a read", [&](pqxx::connection& c) {
        pqxx::work txn(c);
        txn.exec_params(
            "INSERT INTO audit_log (appointment_id, action, actor, remote_addr, details)"
            " VALUES (nullif($1, '')::uuid, $2, nullif($3, ''), nullif($4, ''), $5::jsonb)",
            appointment_id, std::string(action), actor.user, actor.remote_addr, details_json);
        txn.commit();
    });
}

std::string list_read_details(const char* via, const std::vector<std::string>& filters,
                              const std::vector<std::string>& shown_ids, bool full_numbers) {
    const std::unique_ptr<json_t, void (*)(json_t*)> details(json_object(),
                                                             [](json_t* j) { json_decref(j); });
    json_object_set_new(details.get(), "via", json_string(via));
    json_t* used = json_array();
    for (const std::string& name : filters) json_array_append_new(used, json_string(name.c_str()));
    json_object_set_new(details.get(), "filters", used);
    json_t* shown = json_array();
    for (const std::string& id : shown_ids) json_array_append_new(shown, json_string(id.c_str()));
    json_object_set_new(details.get(), "shown", shown);
    json_object_set_new(details.get(), "full_numbers", json_boolean(full_numbers));
    char* text = json_dumps(details.get(), JSON_COMPACT);
    std::string out = text ? text : "{}";
    free(text);
    return out;
}

}  // namespace sr
