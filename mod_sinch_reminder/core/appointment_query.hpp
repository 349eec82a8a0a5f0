#pragma once
// Finding appointments for staff and integrators: by day or date range in the clinic's local time, by
// phone number or patient name, by status; ordered by time and paginated. And each appointment's audit
// trail. The parsing of the filters (from query strings) is pure and shared by the HTML list and the API.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/pg_pool.hpp"
#include "core/store.hpp"

namespace sr {

// A keyset position in the list order (starts_at, id): a row's exact start (microseconds since the epoch)
// and id. Pages go from one to the next through it instead of OFFSET, so page 1 000 costs what page 1 does.
struct ListCursor {
    long long starts_at_us = 0;
    std::string id;  // canonical uuid
};

// "1733560200000000.6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"; nullopt for anything else.
std::string to_string(const ListCursor& cursor);
std::optional<ListCursor> parse_list_cursor(const std::string& text);

// The API's `offset` is for small skips only; further pages go through `cursor`.
constexpr int k_max_list_offset = 1000;

struct ListFilter {
    std::optional<Instant> from;  // appointments starting at or after (UTC)
    std::optional<Instant> to;    // ... and before (UTC; exclusive)
    std::string name_words;       // patient name, case-insensitive; "" = any
    std::string phone_digits;     // the E.164 number contains these digits; "" = any
    std::string phone_e164;       // or is exactly this number; "" = none
    std::string status;           // a status_filter_options() value; "" = any
    std::vector<std::string> clinics{"default"};  // whose appointments are listed (SinchReminderClinic keys)
    int limit = 50;
    int offset = 0;                    // rows skipped after the cursor (API; at most k_max_list_offset)
    std::optional<ListCursor> after;   // rows after this one (the next page)
    std::optional<ListCursor> before;  // rows before this one, the closest `limit` (the previous page)
};

struct ListPage {
    std::vector<AppointmentRecord> appointments;  // with every reminder revision, ordered by starts_at
    bool has_more = false;                        // rows follow the last one
    bool has_previous = false;                    // rows precede the first one (as far as the query knows)
    std::string first_cursor, last_cursor;        // of the first and last row; "" when the page is empty
};

// Throws DatabaseUnavailable.
ListPage list_appointments(PgLease& lease, const ListFilter& filter);

// The status filter values, with a label for staff: "" (any), "problem", "active", "cancelled",
// each reminder status, "delivered", "not_delivered", "attention".
const std::vector<std::pair<std::string, std::string>>& status_filter_options();
bool is_status_filter(const std::string& value);

// What a list request says, as typed (query string values).
struct ListQuery {
    std::string from;    // YYYY-MM-DD, clinic-local
    std::string to;      // YYYY-MM-DD, inclusive
    std::string q;       // phone number or patient name (HTML list)
    std::string phone;   // phone number only (API)
    std::string status;  // a status filter value
    std::string page;    // 1-based page number (HTML list; shown, the cursor says where the page is)
    std::string limit;   // rows per page (API)
    std::string offset;  // rows to skip (API, at most k_max_list_offset)
    std::string after;   // a ListCursor: the page after it (HTML `after`, API `cursor`)
    std::string before;  // a ListCursor: the page before it (HTML `before`)
};

struct ParsedListQuery {
    ListFilter filter;
    std::map<std::string, std::string> errors;  // parameter -> message
    std::string from, to;                       // the local dates in force (for the form and links)
    int page = 1;
    bool ok() const { return errors.empty(); }
};

// `default_from_today`: without from/to, list from today (clinic-local) on (the HTML list); otherwise
// every date. A `to` alone lists up to that day. Phone numbers are normalised with `default_country`.
ParsedListQuery parse_list_query(const ListQuery& query, const ClinicZone& zone,
                                 const std::string& default_country, Instant now, bool default_from_today,
                                 int page_size);

// The UTC instant a clinic-local day starts at (00:00, or the first minute after a DST gap).
Instant local_day_start(const ClinicZone& zone, const LocalDateTime& day);

struct AuditEntry {
    std::int64_t id = 0;
    std::string action;  // create, cancel, reschedule, delivery_report, reconcile, attention
    std::string actor;   // the user Apache authenticated, "" (no login), "sinch", "reconciler"
    std::optional<std::string> remote_addr;
    Instant at;
    std::string details_json;  // an object; never holds the phone number or the message text
};

// Oldest first, without the reads ("view" rows: each page view would add one). Throws DatabaseUnavailable.
std::vector<AuditEntry> audit_trail(PgLease& lease, const std::string& appointment_id);

}  // namespace sr
