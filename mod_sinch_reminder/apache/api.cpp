#include "apache/api.hpp"

#include <cctype>
#include <cstring>
#include <map>
#include <optional>

#include <httpd.h>
#include <apr_strings.h>
#include <http_protocol.h>

#include "apache/runtime.hpp"
#include "apache/staff_common.hpp"
#include "core/api_json.hpp"
#include "core/appointment_changes.hpp"
#include "core/appointment_form.hpp"
#include "core/appointment_query.hpp"
#include "core/dispatcher.hpp"
#include "core/pg_pool.hpp"
#include "core/redact.hpp"
#include "core/store.hpp"

namespace sr::apache {

namespace {

constexpr std::size_t k_body_max_bytes = 64 * 1024;
constexpr std::size_t k_idempotency_key_max = 100;

const Settings& settings_of(const PageRequest& p) { return *p.runtime.settings; }

int json_error(PageRequest& p, int status, const std::string& error,
               const std::map<std::string, std::string>& fields = {}) {
    return send_json_text(p.r, status, error_json(error, fields));
}

int not_allowed(PageRequest& p, const char* allow) {
    apr_table_setn(p.r->headers_out, "Allow", allow);
    return json_error(p, HTTP_METHOD_NOT_ALLOWED, std::string("Use ") + allow + " here.");
}

// application/json (any parameters). A browser form (urlencoded, multipart, text/plain) is refused.
bool is_json_request(const request_rec* r) {
    const char* type = apr_table_get(r->headers_in, "Content-Type");
    if (!type) return false;
    std::string media(type);
    media = media.substr(0, media.find(';'));
    while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) media.pop_back();
    return strcasecmp(media.c_str(), "application/json") == 0;
}

// Reads a JSON POST body; answers (415, 413, 400) itself and returns false when it cannot.
bool read_json_body(PageRequest& p, std::string& body, int& answered) {
    if (!is_json_request(p.r)) {
        answered =
            json_error(p, HTTP_UNSUPPORTED_MEDIA_TYPE,
                       "Send the request as Content-Type: application/json. Form posts are not accepted "
                       "by the API.");
        return false;
    }
    const int status = read_body(p.r, k_body_max_bytes, body);
    if (status == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        answered = json_error(p, status, "The request body is larger than 64 KiB.");
        return false;
    }
    if (status != OK) {
        answered = json_error(p, HTTP_BAD_REQUEST, "The request body could not be read.");
        return false;
    }
    return true;
}

// time_zone, when given, must be the clinic's zone: appointments are booked in the clinic's wall time.
std::optional<std::string> zone_problem(const PageRequest& p, const std::optional<std::string>& time_zone) {
    if (!time_zone || *time_zone == settings_of(p).time_zone) return std::nullopt;
    return "Must be " + settings_of(p).time_zone +
           " (the clinic's time zone) or left out: appointment_local is the clinic's local time.";
}

const char* k_local_format = "Use YYYY-MM-DDTHH:MM, the clinic's local date and 24-hour time.";

std::optional<AppointmentRecord> load(PageRequest& p, const std::string& id) {
    PgLease lease = p.runtime.database->acquire();
    return AppointmentStore(lease).find(id, p.runtime.visible_clinics);
}

bool valid_idempotency_key(const std::string& key) {
    if (key.empty() || key.size() > k_idempotency_key_max) return false;
    for (unsigned char c : key) {
        if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
}

int create(PageRequest& p) {
    std::string body;
    int answered = 0;
    if (!read_json_body(p, body, answered)) return answered;
    ApiCreateRequest request;
    if (const auto error = parse_create_request(body, request))
        return json_error(p, error->status, error->error, error->fields);

    const char* key_header = apr_table_get(p.r->headers_in, "Idempotency-Key");
    std::string submission_key;
    if (key_header) {
        if (!valid_idempotency_key(key_header)) {
            return json_error(p, HTTP_BAD_REQUEST,
                              "Idempotency-Key must be 1 to 100 visible ASCII characters.");
        }
        // Scoped to the authenticated user, so two integrators never collide (and never see each other's).
        submission_key = "api:" + actor_of(p).user + ":" + key_header;
    }

    std::map<std::string, std::string> fields;
    if (const auto problem = zone_problem(p, request.time_zone)) fields["time_zone"] = *problem;
    AppointmentInput input;
    input.patient_name = request.patient_name;
    input.doctor_name = request.doctor_name;
    input.phone = request.phone;
    input.phone_confirmed = request.phone_confirmed;
    input.language = request.language;
    if (!split_appointment_local(request.appointment_local, input.appointment_date, input.appointment_time)) {
        fields["appointment_local"] = k_local_format;
        input.appointment_date = "2000-01-01";  // only the other fields' messages matter now
        input.appointment_time = "00:00";
    }
    const FormValidation validation = validate_appointment(input, validation_context(p, request.strict));
    for (const auto& [field, message] : api_field_errors(validation.field_errors)) {
        if (!fields.count(field)) fields[field] = message;
    }
    if (validation.phone_needs_confirmation && !fields.count("phone_confirmed")) {
        fields["phone"] += " If the number is right, send \"phone_confirmed\": true.";
    }
    if (!fields.empty())
        return json_error(p, HTTP_UNPROCESSABLE_ENTITY, "The appointment was not booked.", fields);
    if (std::string message; booking_slot_wait(p, message))
        return json_error(p, HTTP_TOO_MANY_REQUESTS, message);

    const NewAppointment wanted = new_appointment(p, *validation.appointment, submission_key);
    const CreateResult created = store_and_hand_over(p, wanted);
    const std::string location = p.mount + "/api/appointments/" + created.appointment.id;
    apr_table_setn(p.r->headers_out, "Location", apr_pstrdup(p.r->pool, location.c_str()));
    if (!created.created) {
        const AppointmentRecord& existing = created.appointment;
        if (existing.patient_name != wanted.patient_name || existing.doctor_name != wanted.doctor_name ||
            existing.phone_e164 != wanted.phone_e164 || existing.starts_at != wanted.starts_at) {
            return json_error(
                p, HTTP_CONFLICT,
                "This Idempotency-Key was already used for a different appointment; nothing was "
                "booked.");
        }
        apr_table_setn(p.r->headers_out, "Idempotent-Replayed", "true");
        return send_json_text(p.r, HTTP_OK, appointment_json(existing));
    }
    p.log.log(LogLevel::Info, "",
              "appointment " + created.appointment.id + " booked through the API for " +
                  mask_phone(wanted.phone_e164) + " by " + shown_user(wanted.created_by));
    const std::optional<AppointmentRecord> now = load(p, created.appointment.id);
    return send_json_text(p.r, HTTP_CREATED,
                          appointment_json(now ? *now : created.appointment, validation.notices));
}

int list(PageRequest& p) {
    const auto args = query_arguments(p.r);
    auto arg = [&](const char* name) {
        const auto it = args.find(name);
        return it == args.end() ? std::string() : it->second;
    };
    ListQuery query;
    query.from = arg("from");
    query.to = arg("to");
    query.phone = arg("phone");
    query.q = arg("q");
    query.status = arg("status");
    query.limit = arg("limit");
    query.offset = arg("offset");
    query.after = arg("cursor");
    // Full numbers only when asked for (and the audit row says so); masked otherwise.
    const std::string full = arg("full_numbers");
    if (!full.empty() && full != "0" && full != "1") {
        return json_error(
            p, HTTP_BAD_REQUEST, "Some query parameters are invalid.",
            {{"full_numbers", "Use 1 for full phone numbers, or 0 (the default) for masked ones."}});
    }
    const bool full_numbers = full == "1";
    // From today (clinic time) on unless from/to say otherwise, like the staff list.
    ParsedListQuery parsed =
        parse_list_query(query, *p.runtime.zone, settings_of(p).default_country, now_utc(), true, 50);
    if (!parsed.ok())
        return json_error(p, HTTP_BAD_REQUEST, "Some query parameters are invalid.", parsed.errors);
    PgLease lease = p.runtime.database->acquire();
    parsed.filter.clinics = p.runtime.visible_clinics;
    const ListPage page = list_appointments(lease, parsed.filter);
    std::vector<std::string> filters, shown;
    for (const char* name : {"from", "to", "phone", "q", "status", "limit", "offset", "cursor"}) {
        if (!arg(name).empty()) filters.push_back(name);  // which filters, never their values
    }
    for (const AppointmentRecord& a : page.appointments) shown.push_back(a.id);
    audit_read(lease, "", "list", actor_of(p), list_read_details("api", filters, shown, full_numbers));
    return send_json_text(
        p.r, HTTP_OK, appointment_list_json(page, parsed.filter.limit, parsed.filter.offset, full_numbers));
}

int show(PageRequest& p, const std::string& id) {
    PgLease lease = p.runtime.database->acquire();
    const std::optional<AppointmentRecord> appointment =
        AppointmentStore(lease).find(id, p.runtime.visible_clinics);
    if (!appointment) return json_error(p, HTTP_NOT_FOUND, "No such appointment.");
    audit_read(lease, appointment->id, "view", actor_of(p), R"({"via": "api"})");
    return send_json_text(p.r, HTTP_OK, appointment_json(*appointment));
}

int cancel(PageRequest& p, const std::string& id) {
    std::string body;
    int answered = 0;
    if (!read_json_body(p, body, answered)) return answered;
    if (const auto error = parse_cancel_request(body))
        return json_error(p, error->status, error->error, error->fields);
    const Actor actor = actor_of(p);
    const ChangeResult change = [&] {
        PgLease lease = p.runtime.database->acquire();
        return cancel_appointment(lease, id, actor);
    }();
    if (change.outcome == ChangeOutcome::NotFound)
        return json_error(p, HTTP_NOT_FOUND, "No such appointment.");
    if (change.outcome == ChangeOutcome::AlreadyCancelled) {
        return json_error(p, HTTP_CONFLICT, "The appointment is already cancelled.");
    }
    p.log.log(LogLevel::Info, "",
              "appointment " + id + " cancelled through the API by " + shown_user(actor.user));
    hand_to_dispatcher(p, change);
    const std::optional<AppointmentRecord> appointment = load(p, id);
    if (!appointment) return json_error(p, HTTP_NOT_FOUND, "No such appointment.");
    return send_json_text(p.r, HTTP_OK, appointment_json(*appointment));
}

int reschedule(PageRequest& p, const std::string& id) {
    std::string body;
    int answered = 0;
    if (!read_json_body(p, body, answered)) return answered;
    ApiRescheduleRequest request;
    if (const auto error = parse_reschedule_request(body, request)) {
        return json_error(p, error->status, error->error, error->fields);
    }
    const std::optional<AppointmentRecord> appointment = load(p, id);
    if (!appointment) return json_error(p, HTTP_NOT_FOUND, "No such appointment.");
    if (appointment->status == "cancelled") {
        return json_error(p, HTTP_CONFLICT,
                          "The appointment is cancelled; a cancelled appointment cannot be moved.");
    }
    // In the appointment's own clinic: its zone, lead time, quiet hours and texts (SinchReminderSeeClinics).
    std::optional<PageRequest> owner = as_owning_clinic(p, *appointment);
    if (!owner) {
        return json_error(
            p, HTTP_CONFLICT,
            "The appointment belongs to clinic " + appointment->clinic +
                ", which is not configured on this server; move it at that clinic's own mount.");
    }
    std::map<std::string, std::string> fields;
    if (const auto problem = zone_problem(*owner, request.time_zone)) fields["time_zone"] = *problem;
    std::string date, time_of_day;
    std::optional<FormValidation> validation;
    if (!split_appointment_local(request.appointment_local, date, time_of_day)) {
        fields["appointment_local"] = k_local_format;
    } else {
        validation = validate_appointment_time(date, time_of_day, validation_context(*owner, request.strict));
        for (const auto& [field, message] : api_field_errors(validation->field_errors))
            fields[field] = message;
    }
    if (!fields.empty()) {
        return json_error(p, HTTP_UNPROCESSABLE_ENTITY, "The appointment was not rescheduled.", fields);
    }
    const ValidAppointment& valid = *validation->appointment;
    const std::string wall_time = to_iso_string(valid.requested_local);
    if (valid.starts.utc == appointment->starts_at && wall_time == appointment->local_wall_time) {
        return send_json_text(p.r, HTTP_OK, appointment_json(*appointment));  // already at that time
    }
    const ChangeResult change = reschedule_to(*owner, *appointment, valid);
    if (change.outcome == ChangeOutcome::NotFound)
        return json_error(p, HTTP_NOT_FOUND, "No such appointment.");
    if (change.outcome == ChangeOutcome::AlreadyCancelled) {
        return json_error(p, HTTP_CONFLICT,
                          "The appointment is cancelled; a cancelled appointment cannot be moved.");
    }
    p.log.log(LogLevel::Info, "",
              "appointment " + id + " rescheduled through the API to " + wall_time + " by " +
                  shown_user(actor_of(p).user));
    hand_to_dispatcher(p, change);
    const std::optional<AppointmentRecord> updated = load(p, id);
    if (!updated) return json_error(p, HTTP_NOT_FOUND, "No such appointment.");
    return send_json_text(p.r, HTTP_OK, appointment_json(*updated, validation->notices));
}

int route(PageRequest& p, const std::string& route) {
    const bool get = p.r->method_number == M_GET;
    const bool post = p.r->method_number == M_POST;
    const std::string base = "/api/appointments";
    if (route == base) {
        if (get) return list(p);
        if (post) return create(p);
        return not_allowed(p, "GET, POST");
    }
    if (route.compare(0, base.size() + 1, base + "/") == 0) {
        const std::string rest = route.substr(base.size() + 1);
        const auto slash = rest.find('/');
        const std::string id = rest.substr(0, slash);
        const std::string action = slash == std::string::npos ? "" : rest.substr(slash);
        if (!id.empty() && action.empty()) return get ? show(p, id) : not_allowed(p, "GET");
        if (!id.empty() && action == "/cancel") return post ? cancel(p, id) : not_allowed(p, "POST");
        if (!id.empty() && action == "/reschedule") return post ? reschedule(p, id) : not_allowed(p, "POST");
    }
    return json_error(p, HTTP_NOT_FOUND, "There is no API endpoint at this address.");
}

}  // namespace

int handle_api(PageRequest& p, const std::string& path) {
    try {
        return route(p, path);
    } catch (const DatabaseUnavailable& e) {
        p.log.log(LogLevel::Error, "SR0520", std::string("API: database unavailable: ") + e.what());
        apr_table_setn(p.r->headers_out, "Retry-After", "30");
        return json_error(
            p, HTTP_SERVICE_UNAVAILABLE,
            "The appointment database cannot be reached right now; nothing was changed. Retry later.");
    } catch (const std::exception& e) {
        // Integrators always get JSON, never httpd's HTML 500; the log gets no row data (loggable_error).
        p.log.log(LogLevel::Error, "SR0521", "API request failed: " + loggable_error(e));
        return json_error(p, HTTP_INTERNAL_SERVER_ERROR,
                          "The request failed on the server (logged as SR0521). Check the appointment before "
                          "retrying.");
    }
}

}  // namespace sr::apache
