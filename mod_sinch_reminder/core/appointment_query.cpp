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

// Constant SQL per filter value: user input never becomes SQL text. A condition on `r` is about one reminder
// of the appointment's current revision (reminder_condition() wraps it); `a` alone: appointment_condition.
bool is_appointment_filter(const std::string& status) { return status == "active" || status == "cancelled"; }

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

// A name is looked up by the beginnings of its words; a single letter would match a large share of all
// names (a walk over every appointment), so at least one word of the search needs 2 letters.
bool has_searchable_word(const std::string& text) {
    int run = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if ((c & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte: same character
        const bool word = c >= 0x80 || std::isalnum(c);
        run = word ? run + 1 : 0;
        if (run >= 2) return true;
    }
    return false;
}

std::string digits_of(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (std::isdigit(static_cast<unsigned char>(c))) out += c;
    }
    return out;
}

}  // namespace

std::string to_string(const ListCursor& cursor) {
    return std::to_string(cursor.starts_at_us) + "." + cursor.id;
}

std::optional<ListCursor> parse_list_cursor(const std::string& text) {
    const std::size_t dot = text.find('.');
    if (dot == std::string::npos || dot == 0 || dot > 18) return std::nullopt;
    for (std::size_t i = 0; i < dot; ++i) {
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    }
    const std::optional<std::string> id = canonical_uuid(text.substr(dot + 1));
    if (!id) return std::nullopt;
    return ListCursor{std::stoll(text.substr(0, dot)), *id};
}

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

ParsedListQuery parse_list_query(const ListQuery& query, const ClinicZone& zone,
                                 const std::string& default_country, Instant now, bool default_from_today,
                                 int page_size) {
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
            // A whole number is found as one; anything shorter as the last digits of a number.
            const PhoneResult phone = normalize_phone(q, default_country);
            if (phone.check != PhoneCheck::Invalid) {
                f.phone_e164 = phone.e164;
            } else {
                f.phone_digits = digits_of(q);
            }
        } else if (!has_searchable_word(q)) {
            parsed.errors["q"] = "Type at least 2 letters of the name, or a phone number.";
        } else {
            f.name_words = q;
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
    if (!query.after.empty() && !query.before.empty()) {
        parsed.errors["cursor"] = "Give either the page after a position or the page before it, not both.";
    } else if (!query.after.empty() || !query.before.empty()) {
        const std::optional<ListCursor> cursor =
            parse_list_cursor(query.after.empty() ? query.before : query.after);
        if (!cursor) {
            parsed.errors["cursor"] = "The page position is not one this list gave out.";
        } else if (!query.after.empty()) {
            f.after = cursor;
        } else {
            f.before = cursor;
        }
    }
    if (!f.after && !f.before) parsed.page = 1;  // without a position, the list starts at its beginning
    if (!query.limit.empty()) {
        if (const auto limit = whole_number(query.limit, 1, 200)) {
            f.limit = *limit;
        } else {
            parsed.errors["limit"] = "limit must be a whole number from 1 to 200.";
        }
    }
    if (!query.offset.empty()) {
        if (const auto offset = whole_number(query.offset, 0, k_max_list_offset)) {
            f.offset = *offset;
        } else {
            parsed.errors["offset"] = "offset must be a whole number from 0 to " +
                                      std::to_string(k_max_list_offset) +
                                      "; for later pages pass the previous page's next_cursor as cursor.";
        }
    }
    return parsed;
}

namespace {

// The search's words as a prefix query ('ada':* & 'love':*), split and lower-cased by the same text
// parser that built the index (to_tsvector 'simple': no stemming, no stop words), so "O'Brien" and
// "Smith-Jones" are taken apart alike on both sides. "" if the search has no word.
std::string name_prefix_query(pqxx::read_transaction& txn, const std::string& words) {
    static const char* const k_sql =
        R"(SELECT coalesce(string_agg('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''':*', ' & '), '')
           FROM unnest(to_tsvector('simple', $1::text)))";
    return txn.exec_params1(k_sql, words)[0].as<std::string>();
}

}  // namespace

ListPage list_appointments(PgLease& lease, const ListFilter& filter) {
    const std::string reminder_status =
        is_reminder_status(filter.status) && filter.status != "cancelled" ? filter.status : "";
    const bool backwards = filter.before.has_value();
    const std::optional<ListCursor>& cursor = backwards ? filter.before : filter.after;
    // Every value is a parameter; the statement is planned with them (an unnamed statement), so the
    // `$n = '' OR ...` alternatives fold away and each search is a range of the index that fits it:
    // (starts_at, id) for dates and pages, the words of the name for names, reverse(phone_e164) for numbers.
    const std::string sql =
        std::string(
            "SELECT a.id::text, (extract(epoch FROM a.starts_at) * 1000000)::bigint FROM appointments a"
            " WHERE ($1::bigint IS NULL OR a.starts_at >= to_timestamp($1::bigint))"
            " AND ($2::bigint IS NULL OR a.starts_at < to_timestamp($2::bigint))"
            " AND ($3::text = '' OR to_tsvector('simple', a.patient_name) @@ nullif($3::text, '')::tsquery)"
            " AND ($4::text = '' OR reverse(a.phone_e164) LIKE reverse($4::text) || '%')"
            " AND ($5::text = '' OR reverse(a.phone_e164) = reverse($5::text))"
            // Always true: gives $8 its type when no reminder condition below uses it.
            " AND $8::text IS NOT NULL"
            " AND a.clinic = ANY($11::text[])"
            " AND ($9::bigint IS NULL OR (a.starts_at, a.id) ") +
        (backwards ? "<" : ">") +
        " (timestamptz 'epoch' + $9::bigint * interval '1 microsecond', $10::uuid)) AND " +
        // With several reminders per revision (SinchReminderSchedule) an appointment matches a reminder
        // filter when any of its current reminders does, and is listed once.
        (filter.status.empty() || is_appointment_filter(filter.status)
             ? std::string(status_condition(filter.status))
             : std::string("EXISTS (SELECT 1 FROM reminders r WHERE r.appointment_id = a.id AND r.revision = "
                           "a.revision"
                           " AND ($8::text = '' OR r.status = $8::text) AND ") +
                   status_condition(filter.status) + ")") +
        (backwards ? " ORDER BY a.starts_at DESC, a.id DESC" : " ORDER BY a.starts_at, a.id") +
        " LIMIT $6 OFFSET $7";
    std::vector<std::string> ids;
    std::vector<long long> starts;
    with_connection(lease, "listing appointments", [&](pqxx::connection& c) {
        pqxx::read_transaction txn(c);
        const std::string name_query =
            filter.name_words.empty() ? "" : name_prefix_query(txn, filter.name_words);
        if (!filter.name_words.empty() && name_query.empty()) return;  // no word to look for: no match
        const pqxx::result rows = txn.exec_params(
            sql, epoch_or_null(filter.from), epoch_or_null(filter.to), name_query, filter.phone_digits,
            filter.phone_e164, filter.limit + 1, filter.offset, reminder_status,
            cursor ? std::optional<long long>(cursor->starts_at_us) : std::nullopt,
            cursor ? std::optional<std::string>(cursor->id) : std::nullopt, pg_clinic_array(filter.clinics));
        for (const pqxx::row& row : rows) {
            ids.push_back(row[0].as<std::string>());
            starts.push_back(row[1].as<long long>());
        }
    });
    ListPage page;
    const bool more = static_cast<int>(ids.size()) > filter.limit;
    if (more) {
        ids.resize(static_cast<std::size_t>(filter.limit));
        starts.resize(static_cast<std::size_t>(filter.limit));
    }
    if (backwards) {
        std::reverse(ids.begin(), ids.end());
        std::reverse(starts.begin(), starts.end());
        page.has_previous = more;
        page.has_more = true;  // the cursor's own row, at least
    } else {
        page.has_more = more;
        page.has_previous = filter.after.has_value() || filter.offset > 0;
    }
    if (!ids.empty()) {
        page.first_cursor = to_string(ListCursor{starts.front(), ids.front()});
        page.last_cursor = to_string(ListCursor{starts.back(), ids.back()});
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
