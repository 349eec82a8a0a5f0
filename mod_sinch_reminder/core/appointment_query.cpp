#include "core/appointment_query.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "core/appointment_form.hpp"
#include "core/phone.hpp"

namespace sr {

namespace {

// The reminder statuses staff can filter by, with labels (store.hpp has the meanings).
const char* const k_reminder_statuses[][2] = {
    {"pending", "Waiting to be handed to Sinch"},
    {"scheduled", "Scheduled with Sinch"},
    {"sent", "Sent"},
    {"retrying", "Retrying"},
    {"unknown", "Outcome unknown"},
    {"failed", "Refused by Sinch"},
    {"too_late", "Too late to send"},
    {"cancelling", "Being cancelled"},
    {"cancel_failed", "Cancel failed"},
    {"cancelled", "Reminder cancelled"},
    {"superseded", "Replaced by a reschedule"},
};

bool is_reminder_status(const std::string& value) {
    for (const auto& entry : k_reminder_statuses) {
        if (value == entry[0]) return true;
    }
    return false;
}

// Constant SQL per filter value: user input never becomes SQL text.
const char* status_condition(const std::string& status) {
    if (status == "problem") {
        return "(r.status IN ('retrying', 'unknown', 'failed', 'too_late', 'cancel_failed')"
               " OR r.attention IS NOT NULL"
               " OR r.delivery_status IN ('Failed', 'Aborted', 'Rejected', 'Expired', 'Deleted', 'Unknown'))";
    }
    if (status == "active") return "a.status = 'active'";
    if (status == "cancelled") return "a.status = 'cancelled'";
    if (status == "delivered") return "r.delivery_status = 'Delivered'";
    if (status == "not_delivered") {
        return "r.delivery_status IN ('Failed', 'Aborted', 'Rejected', 'Expired', 'Deleted', 'Unknown')";
    }
    if (status == "attention") return "r.attention IS NOT NULL";
    return "TRUE";  // "" or a reminder status ($8)
}

std::string like_escaped(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

std::optional<long long> epoch_or_null(const std::optional<Instant>& instant) {
    if (!instant) return std::nullopt;
    return instant->time_since_epoch().count();
}

std::optional<int> whole_number(const std::string& text, int low, int high) {
    if (text.empty() || text.size() > 9) return std::nullopt;
    for (char c : text) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    }
    const int n = std::stoi(text);
    if (n < low || n > high) return std::nullopt;
    return n;
}

LocalDateTime next_day(const LocalDateTime& day) {
    std::tm tm{};
    tm.tm_year = day.year - 1900;
    tm.tm_mon = day.month - 1;
    tm.tm_mday = day.day + 1;
    tm.tm_hour = 12;
    const time_t t = timegm(&tm);  // normalises the 32nd into the next month
    std::tm out{};
    gmtime_r(&t, &out);
    return {out.tm_year + 1900, out.tm_mon + 1, out.tm_mday, 0, 0};
}

std::string date_text(const LocalDateTime& day) { return to_iso_string(day).substr(0, 10); }

bool looks_like_phone(const std::string& q) {
    int digits = 0;
    for (unsigned char c : q) {
        if (std::isdigit(c)) {
            ++digits;
        } else if (!(c == '+' || c == ' ' || c == '(' || c == ')' || c == '-' || c == '.' || c == '/')) {
            return false;
        }
    }
    return digits >= 3;
}

std::string digits_of(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (std::isdigit(static_cast<unsigned char>(c))) out += c;
    }
    return out;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& status_filter_options() {
    static const std::vector<std::pair<std::string, std::string>> options = [] {
        std::vector<std::pair<std::string, std::string>> list = {
            {"", "Any status"},
            {"problem", "Needs attention (any problem)"},
            {"active", "Appointment active"},
            {"cancelled", "Appointment cancelled"},
            {"delivered", "SMS delivered"},
            {"not_delivered", "SMS not delivered (failed, expired ...)"},
            {"attention", "Flagged by reconciliation or Sinch"},
        };
        // "cancelled" is the appointment's (above): a cancelled appointment's reminder may also be 'sent'.
        for (const auto& entry : k_reminder_statuses) {
            if (std::string(entry[0]) != "cancelled") list.emplace_back(entry[0], entry[1]);
        }
        return list;
    }();
    return options;
}

bool is_status_filter(const std::string& value) {
    for (const auto& option : status_filter_options()) {
        if (option.first == value) return true;
    }
    return false;
}

Instant local_day_start(const ClinicZone& zone, const LocalDateTime& day) {
    return zone.to_utc(LocalDateTime{day.year, day.month, day.day, 0, 0}, WallTimePolicy::Lenient).utc;
}

ParsedListQuery parse_list_query(const ListQuery& query, const ClinicZone& zone, const std::string& default_country,
                                 Instant now, bool default_from_today, int page_size) {
    ParsedListQuery parsed;
    ListFilter& f = parsed.filter;
    f.limit = page_size;

    std::optional<LocalDateTime> from_day, to_day;
    const std::string from = trim(query.from), to = trim(query.to);
    if (!from.empty()) {
        from_day = parse_local_date_time(from, "00:00");
        if (!from_day) parsed.errors["from"] = "The start date is not a date; use YYYY-MM-DD.";
    }
    if (!to.empty()) {
        to_day = parse_local_date_time(to, "00:00");
        if (!to_day) parsed.errors["to"] = "The end date is not a date; use YYYY-MM-DD.";
    }
    if (from.empty() && to.empty() && default_from_today) {
        const LocalDateTime today = zone.to_local(now);
        from_day = LocalDateTime{today.year, today.month, today.day, 0, 0};
    }
    if (from_day && to_day && to_iso_string(*to_day) < to_iso_string(*from_day)) {
        parsed.errors["to"] = "The end date is before the start date.";
    }
    if (from_day) {
        f.from = local_day_start(zone, *from_day);
        parsed.from = date_text(*from_day);
    }
    if (to_day) {
        f.to = local_day_start(zone, next_day(*to_day));
        parsed.to = date_text(*to_day);
    }

    const std::string q = trim(query.q);
    if (q.size() > 200 || !is_valid_utf8(q)) {
        parsed.errors["q"] = "The search text is too long or not valid text.";
    } else if (!q.empty()) {
        if (looks_like_phone(q)) {
            f.phone_digits = digits_of(q);
            const PhoneResult phone = normalize_phone(q, default_country);
            if (phone.check != PhoneCheck::Invalid) f.phone_e164 = phone.e164;
        } else {
            f.name_contains = q;
        }
    }
    const std::string phone = trim(query.phone);
    if (!phone.empty()) {
        const PhoneResult normalized = normalize_phone(phone, default_country);
        if (normalized.check == PhoneCheck::Invalid) {
            parsed.errors["phone"] = normalized.problem;
        } else {
            f.phone_e164 = normalized.e164;
        }
    }

    f.status = trim(query.status);
    if (!is_status_filter(f.status)) {
        parsed.errors["status"] = "Unknown status filter '" + f.status + "'.";
        f.status.clear();
    }

    if (!query.page.empty()) {
        if (const auto page = whole_number(query.page, 1, 100000)) {
            parsed.page = *page;
        } else {
            parsed.errors["page"] = "The page must be a whole number from 1.";
        }
    }
    f.offset = (parsed.page - 1) * page_size;
    if (!query.limit.empty()) {
        if (const auto limit = whole_number(query.limit, 1, 200)) {
            f.limit = *limit;
        } else {
            parsed.errors["limit"] = "limit must be a whole number from 1 to 200.";
        }
    }
    if (!query.offset.empty()) {
        if (const auto offset = whole_number(query.offset, 0, 10000000)) {
            f.offset = *offset;
        } else {
            parsed.errors["offset"] = "offset must be a whole number from 0.";
        }
    }
    return parsed;
}

ListPage list_appointments(PgLease& lease, const ListFilter& filter) {
    const std::string reminder_status =
        is_reminder_status(filter.status) && filter.status != "cancelled" ? filter.status : "";
    const std::string sql =
        std::string(
            "SELECT a.id::text FROM appointments a"
            " LEFT JOIN reminders r ON r.appointment_id = a.id AND r.revision = a.revision"
            " WHERE ($1::bigint IS NULL OR a.starts_at >= to_timestamp($1::bigint))"
            " AND ($2::bigint IS NULL OR a.starts_at < to_timestamp($2::bigint))"
            " AND ($3::text = '' OR a.patient_name ILIKE '%' || $3::text || '%' ESCAPE '\\')"
            " AND (($4::text = '' AND $5::text = '') OR ($4::text <> '' AND a.phone_e164 LIKE '%' || $4::text || '%')"
            " OR ($5::text <> '' AND a.phone_e164 = $5::text))"
            " AND ($8::text = '' OR r.status = $8::text) AND ") +
        status_condition(filter.status) + " ORDER BY a.starts_at, a.id LIMIT $6 OFFSET $7";
    std::vector<std::string> ids;
    with_connection(lease, "listing appointments", [&](pqxx::connection& c) {
        pqxx::read_transaction txn(c);
        const pqxx::result rows =
            txn.exec_params(sql, epoch_or_null(filter.from), epoch_or_null(filter.to), like_escaped(filter.name_contains),
                            filter.phone_digits, filter.phone_e164, filter.limit + 1, filter.offset, reminder_status);
        for (const pqxx::row& row : rows) ids.push_back(row[0].as<std::string>());
    });
    ListPage page;
    if (static_cast<int>(ids.size()) > filter.limit) {
        page.has_more = true;
        ids.resize(static_cast<std::size_t>(filter.limit));
    }
    page.appointments = AppointmentStore(lease).find_many(ids);
    return page;
}

std::vector<AuditEntry> audit_trail(PgLease& lease, const std::string& appointment_id) {
    return with_connection(lease, "reading the audit trail", [&](pqxx::connection& c) {
        pqxx::read_transaction txn(c);
        const pqxx::result rows = txn.exec_params(
            "SELECT id, action, actor, remote_addr, floor(extract(epoch FROM at))::bigint, details::text"
            " FROM audit_log WHERE appointment_id = $1::uuid AND action <> 'view' ORDER BY at, id",
            appointment_id);
        std::vector<AuditEntry> entries;
        for (const pqxx::row& row : rows) {
            AuditEntry entry;
            entry.id = row[0].as<std::int64_t>();
            entry.action = row[1].as<std::string>();
            entry.actor = row[2].is_null() ? std::string() : row[2].as<std::string>();
            if (!row[3].is_null()) entry.remote_addr = row[3].as<std::string>();
            entry.at = Instant(std::chrono::seconds(row[4].as<long long>()));
            entry.details_json = row[5].as<std::string>();
            entries.push_back(std::move(entry));
        }
        return entries;
    });
}

}  // namespace sr
