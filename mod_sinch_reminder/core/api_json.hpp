#pragma once
// The JSON API's documents (README "JSON API"): reading request bodies strictly, writing appointments,
// lists and errors. Pure functions (Jansson), no I/O.
//
// Requests: a JSON object with only the documented members, each of its documented type. Not JSON or not
// an object -> 400; a wrong type, a missing or unknown member -> 422 with the member named in "fields".
// Errors: {"error": "a sentence", "fields": {"member": "what is wrong"}}.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/appointment_query.hpp"
#include "core/clock.hpp"
#include "core/store.hpp"

namespace sr {

struct ApiError {
    int status = 400;
    std::string error;
    std::map<std::string, std::string> fields;
};

// POST {mount}/api/appointments
struct ApiCreateRequest {
    std::string patient_name, doctor_name, phone;
    std::string appointment_local;         // "YYYY-MM-DDTHH:MM", clinic-local
    std::optional<std::string> time_zone;  // must equal the clinic's zone when given
    bool strict = false;                   // refuse DST gaps/overlaps (422) instead of resolving them
    bool phone_confirmed = false;          // a number the (old) numbering data does not know is right
    std::string language;                  // the SMS's language (ISO 639); "" = the clinic's preselected one
};

// POST {mount}/api/appointments/{id}/reschedule
struct ApiRescheduleRequest {
    std::string appointment_local;
    std::optional<std::string> time_zone;
    bool strict = false;
};

std::optional<ApiError> parse_create_request(const std::string& body, ApiCreateRequest& out);
std::optional<ApiError> parse_reschedule_request(const std::string& body, ApiRescheduleRequest& out);
// POST .../cancel: an empty body or an empty object.
std::optional<ApiError> parse_cancel_request(const std::string& body);

// "2026-11-28T14:30" -> "2026-11-28", "14:30". False unless exactly that shape.
bool split_appointment_local(const std::string& text, std::string& date, std::string& time);

// validate_appointment's field names as the API names them (appointment_date/_time -> appointment_local).
std::map<std::string, std::string> api_field_errors(const std::map<std::string, std::string>& form_errors);

std::string error_json(const std::string& error, const std::map<std::string, std::string>& fields = {});

// The appointment document: id, names, phone, starts_at (UTC, "...Z"), local_time ("YYYY-MM-DDTHH:MM" in
// its zone), local_time_offset, requested_local, wall_time_resolution, time_zone, status, revision,
// created_by, created_at, updated_at, reminder (the current revision's, or null) and reminders (every
// revision, oldest first). `notices`: sentences the client should show (DST shift, no reminder).
std::string appointment_json(const AppointmentRecord& appointment, const std::vector<std::string>& notices = {});

// {"appointments": [...], "limit", "offset", "has_more", "next_cursor"}. Each appointment has "phone_masked"
// ("+1********00"); "phone" is the full number only with `full_numbers`, else null.
std::string appointment_list_json(const ListPage& page, int limit, int offset, bool full_numbers);

// "2026-11-28T19:30:00Z"
std::string format_utc_iso_seconds(Instant instant);

// One audit row's details as a sentence for staff (details_json as stored).
std::string describe_audit_details(const std::string& action, const std::string& details_json);

}  // namespace sr
