#include "core/api_json.hpp"

#include "core/encoding.hpp"

#include <jansson.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <set>

#include "core/redact.hpp"

namespace sr {

namespace {

struct JsonDeleter {
    void operator()(json_t* json) const noexcept { json_decref(json); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

std::string dump(json_t* document) {
    char* text = json_dumps(document, JSON_COMPACT | JSON_ENSURE_ASCII);
    std::string out = text ? text : "{}";
    std::free(text);
    return out;
}

json_t* string_or_null(const std::optional<std::string>& value) {
    return value ? json_stringn(value->data(), value->size()) : json_null();
}

json_t* text(const std::string& value) { return json_stringn(value.data(), value.size()); }

json_t* instant_or_null(const std::optional<Instant>& value) {
    return value ? text(format_utc_iso_seconds(*value)) : json_null();
}

enum class Kind { String, Bool };

struct Member {
    const char* name;
    Kind kind;
    bool required;
};

// Reads `body` as an object with only `members`, each of its kind. Strings land in `strings`, booleans
// in `bools`; absent optional members are simply missing there.
std::optional<ApiError> read_object(const std::string& body, const std::vector<Member>& members, bool empty_ok,
                                    std::map<std::string, std::string>& strings,
                                    std::map<std::string, bool>& bools) {
    std::string trimmed = body;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.pop_back();
    if (trimmed.empty()) {
        if (empty_ok) return std::nullopt;
        return ApiError{400, "The request body is empty; send a JSON object.", {}};
    }
    json_error_t error;
    JsonPtr root(json_loadb(body.data(), body.size(), JSON_REJECT_DUPLICATES, &error));
    if (!root) {
        // NB: Jansson quotes the text near the error byte by byte and may cut a character in two; JSON
        // cannot carry that, so the quote loses its non-ASCII bytes (found by tests/fuzz/fuzz_api_json).
        std::string reason = error.text;
        if (!is_valid_utf8(reason)) {
            reason.erase(
                std::remove_if(reason.begin(), reason.end(), [](unsigned char c) { return c >= 0x80; }),
                reason.end());
        }
        return ApiError{400,
                        "The request body is not valid JSON: " + reason + " (line " +
                            std::to_string(error.line) + ", column " + std::to_string(error.column) + ").",
                        {}};
    }
    if (!json_is_object(root.get())) return ApiError{400, "The request body must be a JSON object.", {}};
    ApiError problems{422, "The request has invalid fields.", {}};
    const char* key;
    json_t* value;
    json_object_foreach(root.get(), key, value) {
        const Member* member = nullptr;
        for (const Member& m : members) {
            if (std::string(key) == m.name) member = &m;
        }
        if (!member) {
            problems.fields[key] = "Unknown field.";
            continue;
        }
        if (member->kind == Kind::String) {
            if (!json_is_string(value)) {
                problems.fields[key] = "Must be a string.";
                continue;
            }
            strings[key] = std::string(json_string_value(value), json_string_length(value));
        } else {
            if (!json_is_boolean(value)) {
                problems.fields[key] = "Must be true or false.";
                continue;
            }
            bools[key] = json_is_true(value);
        }
    }
    for (const Member& m : members) {
        if (m.required && !strings.count(m.name) && !problems.fields.count(m.name)) {
            problems.fields[m.name] = "Required.";
        }
    }
    if (!problems.fields.empty()) return problems;
    return std::nullopt;
}

std::string get(const std::map<std::string, std::string>& strings, const char* name) {
    const auto it = strings.find(name);
    return it == strings.end() ? "" : it->second;
}

std::optional<std::string> get_optional(const std::map<std::string, std::string>& strings, const char* name) {
    const auto it = strings.find(name);
    if (it == strings.end()) return std::nullopt;
    return it->second;
}

bool flag(const std::map<std::string, bool>& bools, const char* name) {
    const auto it = bools.find(name);
    return it != bools.end() && it->second;
}

json_t* reminder_json(const ReminderRecord& r) {
    json_t* object = json_object();
    json_object_set_new(object, "id", json_integer(r.id));
    json_object_set_new(object, "revision", json_integer(r.revision));
    json_object_set_new(object, "slot", json_integer(r.slot));
    json_object_set_new(object, "send_at", text(format_utc_iso_seconds(r.send_at)));
    json_object_set_new(object, "status", text(r.status));
    json_object_set_new(object, "client_reference", text(r.client_reference));
    json_object_set_new(object, "batch_id", string_or_null(r.batch_id));
    json_object_set_new(object, "delivery_report", text(r.delivery_report));
    json_object_set_new(object, "delivery_status", string_or_null(r.delivery_status));
    json_object_set_new(object, "delivery_code", r.delivery_code ? json_integer(*r.delivery_code) : json_null());
    json_object_set_new(object, "delivery_at", instant_or_null(r.delivery_at));
    json_object_set_new(object, "next_attempt_at", instant_or_null(r.next_attempt_at));
    if (r.last_error_code || r.last_error_text || r.last_http_status) {
        json_t* error = json_object();
        json_object_set_new(error, "code", string_or_null(r.last_error_code));
        json_object_set_new(error, "text", string_or_null(r.last_error_text));
        json_object_set_new(error, "http_status",
                            r.last_http_status ? json_integer(*r.last_http_status) : json_null());
        json_object_set_new(object, "last_error", error);
    } else {
        json_object_set_new(object, "last_error", json_null());
    }
    json_object_set_new(object, "attention", string_or_null(r.attention));
    json_object_set_new(object, "attention_at", instant_or_null(r.attention_at));
    return object;
}

json_t* appointment_object(const AppointmentRecord& a, const std::vector<std::string>& notices) {
    json_t* object = json_object();
    json_object_set_new(object, "id", text(a.id));
    json_object_set_new(object, "patient_name", text(a.patient_name));
    json_object_set_new(object, "doctor_name", text(a.doctor_name));
    json_object_set_new(object, "phone", text(a.phone_e164));
    json_object_set_new(object, "starts_at", text(format_utc_iso_seconds(a.starts_at)));
    try {
        const ClinicZone zone = ClinicZone::load(a.time_zone);
        const std::string local = zone.format_local_iso(a.starts_at);  // 2026-11-28T14:30-05:00
        json_object_set_new(object, "local_time", text(local.substr(0, 16)));
        json_object_set_new(object, "local_time_offset", text(local));
    } catch (const std::exception&) {
        json_object_set_new(object, "local_time", json_null());
        json_object_set_new(object, "local_time_offset", json_null());
    }
    json_object_set_new(object, "requested_local", text(a.local_wall_time));
    json_object_set_new(object, "wall_time_resolution", text(a.wall_time_resolution));
    json_object_set_new(object, "time_zone", text(a.time_zone));
    json_object_set_new(object, "clinic", text(a.clinic));
    json_object_set_new(object, "language", a.language ? text(*a.language) : json_null());
    json_object_set_new(object, "status", text(a.status));
    json_object_set_new(object, "revision", json_integer(a.revision));
    json_object_set_new(object, "created_by", a.created_by.empty() ? json_null() : text(a.created_by));
    json_object_set_new(object, "created_at", text(format_utc_iso_seconds(a.created_at)));
    json_object_set_new(object, "updated_at", text(format_utc_iso_seconds(a.updated_at)));
    const ReminderRecord* current = a.current_reminder();
    json_object_set_new(object, "reminder", current ? reminder_json(*current) : json_null());
    json_t* reminders = json_array();
    for (const ReminderRecord& r : a.reminders) json_array_append_new(reminders, reminder_json(r));
    json_object_set_new(object, "reminders", reminders);
    if (!notices.empty()) {
        json_t* list = json_array();
        for (const std::string& notice : notices) json_array_append_new(list, text(notice));
        json_object_set_new(object, "notices", list);
    }
    return object;
}

std::string member_text(json_t* object, const char* name) {
    json_t* value = json_object_get(object, name);
    if (json_is_string(value)) return json_string_value(value);
    if (json_is_integer(value)) return std::to_string(json_integer_value(value));
    if (json_is_boolean(value)) return json_is_true(value) ? "true" : "false";
    return "";
}

}  // namespace

std::string format_utc_iso_seconds(Instant instant) {
    const std::string millis = format_utc_iso_millis(instant);  // 2026-11-28T19:30:00.000Z
    return millis.substr(0, 19) + "Z";
}

std::optional<ApiError> parse_create_request(const std::string& body, ApiCreateRequest& out) {
    std::map<std::string, std::string> strings;
    std::map<std::string, bool> bools;
    auto error = read_object(body,
                             {{"patient_name", Kind::String, true},
                              {"doctor_name", Kind::String, true},
                              {"phone", Kind::String, true},
                              {"appointment_local", Kind::String, true},
                              {"time_zone", Kind::String, false},
                              {"strict", Kind::Bool, false},
                              {"phone_confirmed", Kind::Bool, false},
                              {"language", Kind::String, false}},
                             false, strings, bools);
    if (error) return error;
    out.language = get(strings, "language");
    out.patient_name = get(strings, "patient_name");
    out.doctor_name = get(strings, "doctor_name");
    out.phone = get(strings, "phone");
    out.appointment_local = get(strings, "appointment_local");
    out.time_zone = get_optional(strings, "time_zone");
    out.strict = flag(bools, "strict");
    out.phone_confirmed = flag(bools, "phone_confirmed");
    return std::nullopt;
}

std::optional<ApiError> parse_reschedule_request(const std::string& body, ApiRescheduleRequest& out) {
    std::map<std::string, std::string> strings;
    std::map<std::string, bool> bools;
    auto error = read_object(body,
                             {{"appointment_local", Kind::String, true},
                              {"time_zone", Kind::String, false},
                              {"strict", Kind::Bool, false}},
                             false, strings, bools);
    if (error) return error;
    out.appointment_local = get(strings, "appointment_local");
    out.time_zone = get_optional(strings, "time_zone");
    out.strict = flag(bools, "strict");
    return std::nullopt;
}

std::optional<ApiError> parse_cancel_request(const std::string& body) {
    std::map<std::string, std::string> strings;
    std::map<std::string, bool> bools;
    return read_object(body, {}, true, strings, bools);
}

bool split_appointment_local(const std::string& value, std::string& date, std::string& time) {
    if (value.size() != 16 || value[10] != 'T') return false;
    date = value.substr(0, 10);
    time = value.substr(11, 5);
    return true;
}

std::map<std::string, std::string> api_field_errors(const std::map<std::string, std::string>& form_errors) {
    std::map<std::string, std::string> out;
    for (const auto& [field, message] : form_errors) {
        if (field == "appointment_date" || field == "appointment_time") {
            std::string& target = out["appointment_local"];
            target += (target.empty() ? "" : " ") + message;
        } else {
            out[field] = message;
        }
    }
    return out;
}

std::string error_json(const std::string& error, const std::map<std::string, std::string>& fields) {
    JsonPtr document(json_object());
    json_object_set_new(document.get(), "error", text(error));
    json_t* object = json_object();
    for (const auto& [name, message] : fields) json_object_set_new(object, name.c_str(), text(message));
    json_object_set_new(document.get(), "fields", object);
    return dump(document.get());
}

std::string appointment_json(const AppointmentRecord& appointment, const std::vector<std::string>& notices) {
    JsonPtr document(appointment_object(appointment, notices));
    return dump(document.get());
}

std::string appointment_list_json(const ListPage& page, int limit, int offset, bool full_numbers) {
    JsonPtr document(json_object());
    json_t* list = json_array();
    for (const AppointmentRecord& a : page.appointments) {
        json_t* object = appointment_object(a, {});
        json_object_set_new(object, "phone_masked", text(mask_phone(a.phone_e164)));
        if (!full_numbers)
            json_object_set_new(object, "phone", json_null());  // only when asked for (audited)
        json_array_append_new(list, object);
    }
    json_object_set_new(document.get(), "appointments", list);
    json_object_set_new(document.get(), "limit", json_integer(limit));
    json_object_set_new(document.get(), "offset", json_integer(offset));
    json_object_set_new(document.get(), "has_more", json_boolean(page.has_more));
    // The next page: pass it as `cursor` (keyset pagination; null on the last page).
    json_object_set_new(document.get(), "next_cursor",
                        page.has_more && !page.last_cursor.empty() ? text(page.last_cursor) : json_null());
    return dump(document.get());
}

std::string describe_audit_details(const std::string& action, const std::string& details_json) {
    json_error_t error;
    JsonPtr details(json_loads(details_json.c_str(), 0, &error));
    if (!details || !json_is_object(details.get())) return "";
    json_t* d = details.get();
    auto from_to = [&](const char* name) -> std::pair<std::string, std::string> {
        json_t* change = json_object_get(d, name);
        return {member_text(change, "from"), member_text(change, "to")};
    };
    if (action == "create") {
        std::string out = "Booked for " + member_text(d, "local_wall_time");
        if (!member_text(d, "time_zone").empty()) out += " (" + member_text(d, "time_zone") + ")";
        if (!member_text(d, "reminder_status").empty()) out += "; reminder " + member_text(d, "reminder_status");
        return out + ".";
    }
    if (action == "cancel") {
        const auto [from, to] = from_to("status");
        return "Status " + (from.empty() ? std::string("active") : from) + " → " +
               (to.empty() ? std::string("cancelled") : to) + ".";
    }
    if (action == "reschedule") {
        const auto [from, to] = from_to("local_wall_time");
        std::string out = "Moved from " + from + " to " + to;
        if (!member_text(d, "revision").empty()) out += " (revision " + member_text(d, "revision") + ")";
        return out + ".";
    }
    if (action == "delivery_report") {
        std::string out = "Sinch reported " + member_text(d, "delivery_status");
        if (!member_text(d, "code").empty()) out += " (code " + member_text(d, "code") + ")";
        if (!member_text(d, "batch_id").empty()) out += " for batch " + member_text(d, "batch_id");
        const auto [from, to] = from_to("reminder_status");
        if (!from.empty() && from != to) out += "; reminder " + from + " → " + to;
        return out + ".";
    }
    if (!member_text(d, "note").empty()) return member_text(d, "note");
    // Anything else: "key: value" or "key: from → to", in the stored order.
    std::string out;
    const char* key;
    json_t* value;
    json_object_foreach(d, key, value) {
        std::string rendered = json_is_object(value)
                                   ? member_text(value, "from") + " → " + member_text(value, "to")
                                   : member_text(d, key);
        out += (out.empty() ? "" : "; ") + std::string(key) + ": " + rendered;
    }
    return out;
}

}  // namespace sr
