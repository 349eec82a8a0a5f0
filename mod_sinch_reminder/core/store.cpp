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
        "updated_at") ", delivery_report, callback_url, attention, " SR_EPOCH("attention_at") ", body"

const char* const k_select_appointment =
    "SELECT " SR_APPOINTMENT_COLUMNS " FROM appointments WHERE id = $1::uuid";

const char* const k_select_reminders =
    "SELECT " SR_REMINDER_COLUMNS " FROM reminders WHERE appointment_id = $1::uuid ORDER BY revision";

// The same for several appointments ($1: a uuid[] literal).
const char* const k_select_appointments =
    "SELECT " SR_APPOINTMENT_COLUMNS " FROM appointments WHERE id = ANY($1::uuid[])";

const char* const k_select_reminders_of_many =
    "SELECT " SR_REMINDER_COLUMNS
    " FROM reminders WHERE appointment_id = ANY($1::uuid[]) ORDER BY appointment_id, revision";

// Appointment, revision-1 reminder and audit row in one statement. The reminder is stored already claimed
// ('scheduling', with the caller's lease) when $16 names an owner and it is pending and inside the horizon
// ($18 seconds), so the booking request can hand it to Sinch without a separate claim.
// Returns k_select_appointment's columns followed by k_select_reminders' (no row: the key was used before).
const char* const k_create_appointment =
    "WITH a AS ("
    " INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone,"
    " local_wall_time, wall_time_resolution, submission_key, created_by, created_from, clinic, language)"
    " VALUES ($1, $2, $3, to_timestamp($4), $5, $6, $7, $8, $9, $10, $19, $20)"
    " ON CONFLICT (submission_key) DO NOTHING"
    " RETURNING " SR_APPOINTMENT_COLUMNS
    ", id AS uuid),"
    " claim AS (SELECT ($12 = 'pending' AND $16 <> ''"
    " AND to_timestamp($11) <= now() + make_interval(secs => $18)) AS now_),"
    " r AS ("
    " INSERT INTO reminders (appointment_id, revision, send_at, time_zone, status, body, delivery_report,"
    " callback_url, attempts, lease_owner, lease_until)"
    " SELECT a.uuid, 1, to_timestamp($11), $5, CASE WHEN claim.now_ THEN 'scheduling' ELSE $12 END, $13, $14,"
    " $15, CASE WHEN claim.now_ THEN 1 ELSE 0 END, CASE WHEN claim.now_ THEN $16 END,"
    " CASE WHEN claim.now_ THEN now() + make_interval(secs => $17) END FROM a, claim"
    " RETURNING " SR_REMINDER_COLUMNS
    "),"
    // No phone number or names in the audit details: the appointment row holds those.
    " audit AS ("
    " INSERT INTO audit_log (appointment_id, action, actor, remote_addr, details)"
    " SELECT a.uuid, 'create', $9, $10, jsonb_build_object('revision', 1, 'starts_at', to_timestamp($4),"
    " 'time_zone', $5::text, 'local_wall_time', $6::text, 'reminder_send_at', to_timestamp($11),"
    " 'reminder_status', $12::text) FROM a)"
    " SELECT a.*, r.* FROM a, r";
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

const ReminderRecord* AppointmentRecord::current_reminder() const noexcept {
    for (const ReminderRecord& reminder : reminders) {
        if (reminder.revision == revision) return &reminder;
    }
    return nullptr;
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
        const char* reminder_status = to_string(appointment.reminder_status);
        const pqxx::result inserted = [&] {
            pqxx::nontransaction txn(conn, "create_appointment");  // gone before any other transaction
            return exec_prepared(
                txn, "sr_create_appointment", k_create_appointment, appointment.patient_name,
                appointment.doctor_name, appointment.phone_e164, epoch_seconds(appointment.starts_at),
                appointment.time_zone, appointment.local_wall_time,
                std::string(to_string(appointment.wall_time_resolution)),
                null_if_empty(appointment.submission_key), null_if_empty(appointment.created_by),
                null_if_empty(appointment.created_from), epoch_seconds(appointment.reminder_send_at),
                std::string(reminder_status), appointment.reminder_body, appointment.reminder_delivery_report,
                null_if_empty(appointment.reminder_callback_url), claim ? claim->owner : std::string(),
                static_cast<double>(claim ? claim->lease_for.count() : 0),
                static_cast<double>(claim ? claim->horizon.count() : 0), appointment.clinic,
                null_if_empty(appointment.language));
        }();
        CreateResult result;
        if (!inserted.empty()) {
            result.created = true;
            result.appointment = appointment_from(inserted[0]);
            result.appointment.reminders.push_back(reminder_from(inserted[0], k_appointment_columns));
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
