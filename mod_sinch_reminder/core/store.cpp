#include <algorithm>
#include "core/store.hpp"

#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <cctype>
#include <map>

namespace sr {
namespace {

// TIMESTAMPTZ <-> Instant as whole epoch seconds: exact, and independent of the session's TimeZone.
#define SR_EPOCH(column) "floor(extract(epoch FROM " column "))::bigint"

// The columns appointment_from() and reminder_from() read, in their order.
#define SR_APPOINTMENT_COLUMNS \
    "id::text, patient_name, doctor_name, phone_e164, " SR_EPOCH("starts_at") ", time_zone, local_wall_time," \
    " wall_time_resolution, status, revision, submission_key, created_by, created_from, " SR_EPOCH(          \
        "created_at") ", " SR_EPOCH("updated_at") ", clinic, language"
#define SR_REMINDER_COLUMNS \
    "id, appointment_id::text, revision, " SR_EPOCH("send_at") ", time_zone, status, client_reference,"       \
    " batch_id, attempts, last_error_code, last_error_text, last_http_status, " SR_EPOCH("next_attempt_at")   \
    ", delivery_status, delivery_code, " SR_EPOCH("delivery_at") ", " SR_EPOCH("created_at") ", " SR_EPOCH(  \
        "updated_at") ", delivery_report, callback_url, attention, " SR_EPOCH("attention_at") ", body, slot"

const char* const k_select_appointment =
    "SELECT " SR_APPOINTMENT_COLUMNS " FROM appointments WHERE id = $1::uuid";

const char* const k_select_reminders =
    "SELECT " SR_REMINDER_COLUMNS " FROM reminders WHERE appointment_id = $1::uuid ORDER BY revision, slot";

// The same for several appointments ($1: a uuid[] literal).
const char* const k_select_appointments =
    "SELECT " SR_APPOINTMENT_COLUMNS " FROM appointments WHERE id = ANY($1::uuid[])";

const char* const k_select_reminders_of_many =
    "SELECT " SR_REMINDER_COLUMNS
    " FROM reminders WHERE appointment_id = ANY($1::uuid[]) ORDER BY appointment_id, revision, slot";

// Appointment, revision-1 reminders and audit row in one statement. The reminders come as arrays, one
// element per reminder: $11 send_at (epoch seconds), $12 initial status, $21 slot. The earliest pending one
// inside the horizon ($18 seconds) is stored already claimed ('scheduling', with the caller's lease) when $16
// names an owner, so the booking request can hand it to Sinch without a separate claim; only one, since the
// caller took one rate token for it.
// Returns k_select_appointment's columns followed by k_select_reminders', a row per reminder in slot order
// (no row: the key was used before).
const char* const k_create_appointment =
    "WITH a AS ("
    " INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone,"
    " local_wall_time, wall_time_resolution, submission_key, created_by, created_from, clinic, language)"
    " VALUES ($1, $2, $3, to_timestamp($4), $5, $6, $7, $8, $9, $10, $19, $20)"
    " ON CONFLICT (submission_key) DO NOTHING"
    " RETURNING " SR_APPOINTMENT_COLUMNS
    ", id AS uuid),"
    " planned AS (SELECT p.send_at, p.status, p.slot, (p.status = 'pending' AND $16 <> ''"
    " AND to_timestamp(p.send_at) <= now() + make_interval(secs => $18)) AS claimable"
    " FROM unnest($11::bigint[], $12::text[], $21::smallint[]) AS p(send_at, status, slot)),"
    " plan AS (SELECT send_at, status, slot, claimable AND row_number() OVER"
    " (ORDER BY claimable DESC, send_at, slot) = 1 AS now_ FROM planned),"
    " r AS ("
    " INSERT INTO reminders (appointment_id, revision, slot, send_at, time_zone, status, body, "
    "delivery_report,"
    " callback_url, attempts, lease_owner, lease_until)"
    " SELECT a.uuid, 1, plan.slot, to_timestamp(plan.send_at), $5,"
    " CASE WHEN plan.now_ THEN 'scheduling' ELSE plan.status END, $13, $14,"
    " $15, CASE WHEN plan.now_ THEN 1 ELSE 0 END, CASE WHEN plan.now_ THEN $16 END,"
    " CASE WHEN plan.now_ THEN now() + make_interval(secs => $17) END FROM a, plan"
    " RETURNING " SR_REMINDER_COLUMNS
    "),"
    // No phone number or names in the audit details: the appointment row holds those.
    " audit AS ("
    " INSERT INTO audit_log (appointment_id, action, actor, remote_addr, details)"
    " SELECT a.uuid, 'create', $9, $10, jsonb_build_object('revision', 1, 'starts_at', to_timestamp($4),"
    " 'time_zone', $5::text, 'local_wall_time', $6::text,"
    " 'reminder_send_at', (SELECT to_timestamp(send_at) FROM plan ORDER BY slot LIMIT 1),"
    " 'reminder_status', (SELECT status FROM plan ORDER BY slot LIMIT 1),"
    " 'reminders', (SELECT jsonb_agg(jsonb_build_object('slot', slot, 'send_at', to_timestamp(send_at),"
    " 'status', status) ORDER BY slot) FROM plan)) FROM a)"
    " SELECT a.*, r.* FROM a, r ORDER BY r.slot";
constexpr pqxx::row::size_type k_appointment_columns = 18;  // a.* above: SR_APPOINTMENT_COLUMNS + the uuid

#undef SR_REMINDER_COLUMNS
#undef SR_APPOINTMENT_COLUMNS
#undef SR_EPOCH

long long epoch_seconds(Instant instant) { return instant.time_since_epoch().count(); }

Instant instant_from(const pqxx::field& field) {
    return Instant(std::chrono::seconds(field.as<long long>()));
}

template <class T>
std::optional<T> optional_from(const pqxx::field& field) {
    if (field.is_null()) return std::nullopt;
    return field.as<T>();
}

std::optional<Instant> optional_instant_from(const pqxx::field& field) {
    if (field.is_null()) return std::nullopt;
    return instant_from(field);
}

std::optional<std::string> null_if_empty(const std::string& text) {
    if (text.empty()) return std::nullopt;
    return text;
}

// The columns of k_select_reminders, starting at column `first`.
ReminderRecord reminder_from(const pqxx::row& row, pqxx::row::size_type first = 0) {
    const auto column = [&row, first](pqxx::row::size_type index) { return row[first + index]; };
    ReminderRecord reminder;
    reminder.id = column(0).as<std::int64_t>();
    reminder.appointment_id = column(1).as<std::string>();
    reminder.revision = column(2).as<int>();
    reminder.send_at = instant_from(column(3));
    reminder.time_zone = column(4).as<std::string>();
    reminder.status = column(5).as<std::string>();
    reminder.client_reference = column(6).as<std::string>();
    reminder.batch_id = optional_from<std::string>(column(7));
    reminder.attempts = column(8).as<int>();
    reminder.last_error_code = optional_from<std::string>(column(9));
    reminder.last_error_text = optional_from<std::string>(column(10));
    reminder.last_http_status = optional_from<int>(column(11));
    reminder.next_attempt_at = optional_instant_from(column(12));
    reminder.delivery_status = optional_from<std::string>(column(13));
    reminder.delivery_code = optional_from<int>(column(14));
    reminder.delivery_at = optional_instant_from(column(15));
    reminder.created_at = instant_from(column(16));
    reminder.updated_at = instant_from(column(17));
    reminder.delivery_report = column(18).as<std::string>();
    reminder.callback_url = optional_from<std::string>(column(19));
    reminder.attention = optional_from<std::string>(column(20));
    reminder.attention_at = optional_instant_from(column(21));
    reminder.body = column(22).as<std::string>();
    reminder.slot = column(23).as<int>();
    return reminder;
}

AppointmentRecord appointment_from(const pqxx::row& row) {
    AppointmentRecord appointment;
    appointment.id = row[0].as<std::string>();
    appointment.patient_name = row[1].as<std::string>();
    appointment.doctor_name = row[2].as<std::string>();
    appointment.phone_e164 = row[3].as<std::string>();
    appointment.starts_at = instant_from(row[4]);
    appointment.time_zone = row[5].as<std::string>();
    appointment.local_wall_time = row[6].as<std::string>();
    appointment.wall_time_resolution = row[7].as<std::string>();
    appointment.status = row[8].as<std::string>();
    appointment.revision = row[9].as<int>();
    appointment.submission_key = optional_from<std::string>(row[10]);
    appointment.created_by = row[11].is_null() ? std::string() : row[11].as<std::string>();  // NULL: no login
    appointment.created_from = optional_from<std::string>(row[12]);
    appointment.created_at = instant_from(row[13]);
    appointment.updated_at = instant_from(row[14]);
    appointment.clinic = row[15].as<std::string>();
    appointment.language = optional_from<std::string>(row[16]);
    return appointment;
}

std::optional<AppointmentRecord> load(pqxx::transaction_base& txn, const std::string& id) {
    const pqxx::result rows = txn.exec_params(k_select_appointment, id);
    if (rows.empty()) return std::nullopt;
    AppointmentRecord appointment = appointment_from(rows[0]);
    for (const pqxx::row& reminder_row : txn.exec_params(k_select_reminders, id)) {
        appointment.reminders.push_back(reminder_from(reminder_row));
    }
    return appointment;
}

}  // namespace

std::optional<std::string> canonical_uuid(const std::string& text) {
    if (text.size() != 36) return std::nullopt;
    std::string lower = text;
    for (std::size_t i = 0; i < lower.size(); ++i) {
        const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        const unsigned char c = static_cast<unsigned char>(lower[i]);
        if (dash_position ? c != '-' : !std::isxdigit(c)) return std::nullopt;
        lower[i] = static_cast<char>(std::tolower(c));
    }
    return lower;
}

std::vector<NewReminder> NewAppointment::planned_reminders() const {
    if (!reminders.empty()) return reminders;
    return {NewReminder{1, reminder_send_at, reminder_status}};
}

std::vector<const ReminderRecord*> AppointmentRecord::current_reminders() const {
    std::vector<const ReminderRecord*> current;
    for (const ReminderRecord& reminder : reminders) {
        if (reminder.revision == revision) current.push_back(&reminder);
    }
    std::stable_sort(current.begin(), current.end(), [](const ReminderRecord* a, const ReminderRecord* b) {
        return a->send_at != b->send_at ? a->send_at < b->send_at : a->slot < b->slot;
    });
    return current;
}

const ReminderRecord* AppointmentRecord::current_reminder() const noexcept {
    try {
        const std::vector<const ReminderRecord*> current = current_reminders();
        for (const ReminderRecord* reminder : current) {
            const std::string& s = reminder->status;
            if (s == reminder_status::pending || s == reminder_status::scheduling ||
                s == reminder_status::scheduled || s == reminder_status::retrying ||
                s == reminder_status::unknown) {
                return reminder;
            }
        }
        return current.empty() ? nullptr : current.back();
    } catch (...) {  // bad_alloc
        return nullptr;
    }
}

const char* to_string(InitialReminderStatus status) noexcept {
    switch (status) {
        case InitialReminderStatus::Pending:
            return reminder_status::pending;
        case InitialReminderStatus::TooLate:
            return reminder_status::too_late;
    }
    return reminder_status::pending;
}

CreateResult AppointmentStore::create(const NewAppointment& appointment,
                                      const std::optional<ReminderClaim>& claim) {
    return with_connection(m_lease, "storing an appointment", [&](pqxx::connection& conn) {
        // One statement, so one round trip and atomic without BEGIN/COMMIT. NB: a concurrent double submit
        // with the same key makes ON CONFLICT wait for the other one to commit, and then insert nothing.
        // The reminders as array literals: numbers and fixed status words only, so nothing needs quoting.
        std::string send_ats = "{", statuses = "{", slots = "{";
        for (const NewReminder& reminder : appointment.planned_reminders()) {
            const char* comma = send_ats.size() > 1 ? "," : "";
            send_ats += comma + std::to_string(epoch_seconds(reminder.send_at));
            statuses += comma + std::string(to_string(reminder.status));
            slots += comma + std::to_string(reminder.slot);
        }
        send_ats += "}";
        statuses += "}";
        slots += "}";
        const pqxx::result inserted = [&] {
            pqxx::nontransaction txn(conn, "create_appointment");  // gone before any other transaction
            return exec_prepared(
                txn, "sr_create_appointment", k_create_appointment, appointment.patient_name,
                appointment.doctor_name, appointment.phone_e164, epoch_seconds(appointment.starts_at),
                appointment.time_zone, appointment.local_wall_time,
                std::string(to_string(appointment.wall_time_resolution)),
                null_if_empty(appointment.submission_key), null_if_empty(appointment.created_by),
                null_if_empty(appointment.created_from), send_ats, statuses, appointment.reminder_body,
                appointment.reminder_delivery_report, null_if_empty(appointment.reminder_callback_url),
                claim ? claim->owner : std::string(),
                static_cast<double>(claim ? claim->lease_for.count() : 0),
                static_cast<double>(claim ? claim->horizon.count() : 0), appointment.clinic,
                null_if_empty(appointment.language), slots);
        }();
        CreateResult result;
        if (!inserted.empty()) {
            result.created = true;
            result.appointment = appointment_from(inserted[0]);
            for (const pqxx::row& row : inserted) {
                result.appointment.reminders.push_back(reminder_from(row, k_appointment_columns));
            }
            return result;
        }
        // The key was used before: the earlier appointment, as it is now.
        pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> read(conn, "find_submission");
        const std::string id =
            read.exec_params1("SELECT id::text FROM appointments WHERE submission_key = $1",
                              appointment.submission_key)[0]
                .as<std::string>();
        result.appointment = *load(read, id);
        return result;
    });
}

std::optional<AppointmentRecord> AppointmentStore::find(const std::string& id) {
    const std::optional<std::string> uuid = canonical_uuid(id);
    if (!uuid) return std::nullopt;
    return with_connection(m_lease, "reading an appointment", [&](pqxx::connection& conn) {
        // One snapshot for the appointment and its reminders.
        pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn, "find_appointment");
        return load(txn, *uuid);
    });
}

std::optional<AppointmentRecord> AppointmentStore::find(const std::string& id,
                                                        const std::vector<std::string>& clinics) {
    std::optional<AppointmentRecord> found = find(id);
    if (found && std::find(clinics.begin(), clinics.end(), found->clinic) == clinics.end())
        return std::nullopt;
    return found;
}

std::vector<AppointmentRecord> AppointmentStore::find_many(const std::vector<std::string>& ids) {
    std::string array = "{";
    for (const std::string& id : ids) {
        const std::optional<std::string> uuid = canonical_uuid(id);
        if (!uuid) continue;
        array += (array.size() > 1 ? "," : "") + *uuid;
    }
    array += "}";
    if (array == "{}") return {};
    return with_connection(m_lease, "reading appointments", [&](pqxx::connection& conn) {
        pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn, "find_appointments");
        std::map<std::string, AppointmentRecord> by_id;
        for (const pqxx::row& row : txn.exec_params(k_select_appointments, array)) {
            AppointmentRecord appointment = appointment_from(row);
            by_id.emplace(appointment.id, std::move(appointment));
        }
        for (const pqxx::row& row : txn.exec_params(k_select_reminders_of_many, array)) {
            ReminderRecord reminder = reminder_from(row);
            const auto it = by_id.find(reminder.appointment_id);
            if (it != by_id.end()) it->second.reminders.push_back(std::move(reminder));
        }
        std::vector<AppointmentRecord> ordered;
        for (const std::string& id : ids) {
            const auto it = by_id.find(id);
            if (it != by_id.end()) ordered.push_back(it->second);
        }
        return ordered;
    });
}

void AppointmentStore::ping() {
    with_connection(m_lease, "checking the database", [](pqxx::connection& conn) {
        pqxx::nontransaction txn(conn, "ping");
        txn.exec("SELECT 1");
    });
}

}  // namespace sr
