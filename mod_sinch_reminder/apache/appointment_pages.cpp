#include "apache/appointment_pages.hpp"

#include <map>

#include <httpd.h>
#include <apr_strings.h>
#include <http_protocol.h>

#include "apache/request.hpp"
#include "apache/runtime.hpp"
#include "apache/staff_common.hpp"
#include "apache/staff_pages.hpp"
#include "core/appointment_form.hpp"
#include "core/appointment_view.hpp"
#include "core/pg_pool.hpp"
#include "core/redact.hpp"
#include "core/dispatcher.hpp"
#include "core/sms_text.hpp"
#include "core/store.hpp"
#include "core/templates.hpp"

namespace sr::apache {

namespace {

constexpr const char* k_csrf_cookie = "sr_csrf";
constexpr const char* k_book_action = "book";  // what the booking form's tokens are bound to
constexpr std::size_t k_form_max_bytes = 16 * 1024;
const char* const k_fields[] = {"patient_name",     "doctor_name",      "phone",
                                "appointment_date", "appointment_time", "language"};

std::string human_duration(std::chrono::seconds d) {
    const long long minutes = d.count() / 60;
    const long long hours = minutes / 60, rest = minutes % 60;
    auto unit = [](long long n, const char* word) {
        return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
    };
    if (hours && rest) return unit(hours, "hour") + " " + unit(rest, "minute");
    if (hours) return unit(hours, "hour");
    return unit(minutes, "minute");
}

// The form's "The patient gets an SMS reminder {{lead_time_text}} before the appointment.": "2 hours", or
// with SinchReminderSchedule e.g. "1 day (at 18:00) and 2 hours".
std::string schedule_words(const ReminderSchedule& schedule) {
    std::string out;
    for (std::size_t i = 0; i < schedule.size(); ++i) {
        const ScheduleEntry& entry = schedule[i];
        std::string words = human_duration(entry.before);
        if (entry.days_before) {
            const std::string text = entry.text();
            const std::string at = "(at " + text.substr(text.find('@') + 1) + ")";
            const int days = *entry.days_before;
            words = days == 0 ? "the same day " + at
                              : std::to_string(days) + (days == 1 ? " day " : " days ") + at;
        }
        out += (i == 0 ? "" : i + 1 == schedule.size() ? " and " : ", ") + words;
    }
    return out;
}

const Settings& settings_of(const PageRequest& p) { return *p.runtime.settings; }

// The doctors' list as part of the cached blank form's key (virtual hosts may have different lists).
std::string doctor_list_key(const Settings& s) {
    std::string key;
    for (const std::string& doctor : s.doctors) key += doctor + '\x1e';
    for (const std::string& language : s.languages) key += language + '\x1d';
    return key;
}

// The browser's CSRF cookie, created on its first visit to the form.
std::string csrf_cookie(PageRequest& p, bool create) {
    std::string value = read_cookie(p.r, k_csrf_cookie);
    if (value.empty() && create && may_set_cookie(p.r)) {
        value = random_token(16);
        set_cookie(p.r, k_csrf_cookie, value, p.mount, settings_of(p).cookie_secure);
    }
    return value;
}

struct FormState {
    std::map<std::string, std::string> values;
    std::map<std::string, std::string> errors;
    std::vector<std::string> general_errors;
    bool phone_needs_confirmation = false;
    std::string phone_warning;
    std::string token;  // reuse the submitted token on a re-render, so a double submit stays one
};

// The page data of the form, except the CSRF token.
TemplateData form_page(PageRequest& p, const std::string& time_zone_now, const FormState& state) {
    const Settings& s = settings_of(p);
    TemplateData page;
    page.set("page_title", "New appointment");
    page.set("clinic_name", s.clinic_name);
    page.set("time_zone", s.time_zone);
    page.set("time_zone_now", time_zone_now);
    page.set("lead_time_text", schedule_words(s.schedule));
    page.set("form_action", p.mount);
    page.set("list_url", p.mount + "/list");
    TemplateList errors;
    for (const auto& message : state.general_errors) errors.push_back(TemplateObject{{"message", message}});
    for (const char* field : k_fields) {
        const auto error = state.errors.find(field);
        const auto value = state.values.find(field);
        page.set(field, TemplateObject{{"value", value == state.values.end() ? "" : value->second},
                                       {"error", error == state.errors.end() ? "" : error->second}});
        if (error != state.errors.end()) errors.push_back(TemplateObject{{"message", error->second}});
    }
    page.set("has_errors", !errors.empty());
    page.set("errors", errors);
    page.set("phone_needs_confirmation", state.phone_needs_confirmation);
    page.set("phone_warning", state.phone_warning);
    // SinchReminderDoctors: a list to choose from instead of free text.
    TemplateList doctors;
    const auto chosen = state.values.find("doctor_name");
    for (const std::string& doctor : s.doctors) {
        doctors.push_back(TemplateObject{
            {"name", doctor}, {"selected", chosen != state.values.end() && chosen->second == doctor}});
    }
    page.set("has_doctor_choices", !s.doctors.empty());
    page.set("doctor_choices", doctors);
    // SinchReminderLanguages: the patient's SMS language, when the clinic writes in more than one.
    TemplateList languages;
    const auto language = state.values.find("language");
    for (const ClinicLanguage& offered : p.runtime.languages->all()) {
        const bool selected = language == state.values.end() ? &offered == &p.runtime.languages->preselected()
                                                             : language->second == offered.code;
        languages.push_back(
            TemplateObject{{"code", offered.code}, {"name", offered.display_name}, {"selected", selected}});
    }
    page.set("has_language_choices", languages.size() > 1);
    page.set("language_choices", languages);
    return page;
}

int render_form(PageRequest& p, int status, const FormState& state) {
    const Settings& s = settings_of(p);
    std::string token = state.token;
    if (token.empty()) {
        const std::string binding =
            FormTokens::binding(csrf_cookie(p, true), remote_user(p.r), k_book_action);
        token = p.runtime.form_tokens().issue(binding, now_utc().time_since_epoch().count());
    }
    const std::string time_zone_now = p.runtime.zone->format(now_utc(), s.locale);
    const bool blank = state.values.empty() && state.errors.empty() && state.general_errors.empty() &&
                       !state.phone_needs_confirmation && state.phone_warning.empty();
    if (blank) {
        // The blank form differs between requests only in its token (and the clock's minute): render it once.
        const std::string banner = account_banner(p);
        const std::string key = p.mount + '\x1f' + s.clinic_name + '\x1f' + s.time_zone + '\x1f' +
                                schedule_text(s.schedule) + '\x1f' + time_zone_now + '\x1f' + banner +
                                '\x1f' + doctor_list_key(s);
        return send_html(p.r, status,
                         p.runtime.pages->render_cached(
                             Page::Form, key,
                             [&] {
                                 TemplateData page = form_page(p, time_zone_now, state);
                                 page.set("account_banner", banner);
                                 return page;
                             },
                             "csrf_token", token));
    }
    TemplateData page = form_page(p, time_zone_now, state);
    page.set("csrf_token", token);
    return send_html(p.r, status, render_page(p, Page::Form, page));
}

bool same_booking(const AppointmentRecord& existing, const NewAppointment& wanted) {
    return existing.patient_name == wanted.patient_name && existing.doctor_name == wanted.doctor_name &&
           existing.phone_e164 == wanted.phone_e164 && existing.starts_at == wanted.starts_at;
}

}  // namespace

int show_error(PageRequest& p, int status, const std::string& title, const std::string& message) {
    try {
        TemplateData page;
        page.set("page_title", title);
        page.set("status", std::to_string(status));
        page.set("title", title);
        page.set("message", message);
        page.set("back_url", p.mount);
        return send_html(p.r, status, render_page(p, Page::Error, page));
    } catch (const std::exception& e) {
        p.log.log(LogLevel::Error, "SR0101", std::string("error page template failed: ") + e.what());
        return status;  // httpd's own error page
    }
}

int show_form(PageRequest& p) {
    try {
        return render_form(p, HTTP_OK, FormState{});
    } catch (const DatabaseUnavailable& e) {
        p.log.log(LogLevel::Error, "SR0211", std::string("form: database unavailable: ") + e.what());
        return show_error(
            p, HTTP_SERVICE_UNAVAILABLE, "Appointments are unavailable",
            "The appointment database cannot be reached right now. Nothing was lost; please try "
            "again in a minute, and tell IT if this persists.");
    }
}

int refuse_cross_site(PageRequest& p, const std::string& why) {
    p.log.log(LogLevel::Warn, "SR0103", "form post from another site refused (" + why + ")");
    return show_error(
        p, HTTP_FORBIDDEN, "Sent from another web site",
        "This form was sent by another web site, not from these pages, so it was refused: nothing was "
        "booked or changed. If you meant to do this, open the appointment pages yourself and use the "
        "form there.");
}

int create_appointment(PageRequest& p) {
    const Settings& s = settings_of(p);
    // 1. Sent from our own pages? Decided before the body is even read.
    if (const std::string why = foreign_origin(p.r, s.public_base_url); !why.empty())
        return refuse_cross_site(p, why);
    std::map<std::string, std::string> fields;
    if (const int status = read_form(p.r, k_form_max_bytes, fields); status != OK) {
        const char* why = status == HTTP_UNSUPPORTED_MEDIA_TYPE
                              ? "The form must be sent as a normal web form."
                          : status == HTTP_REQUEST_ENTITY_TOO_LARGE ? "The form is too large."
                                                                    : "The form could not be read.";
        return show_error(p, status, "The form was not accepted", why);
    }
    FormState state;
    auto keep_entries = [&] {
        for (const char* field : k_fields) {
            if (fields.count(field)) state.values[field] = fields[field];
        }
    };
    try {
        // 2. Was this form issued to this browser (and user), for booking, by any node? Decided before any
        // field is used: a missing or forged token gets a blank form (the entries could be an attacker's);
        // only a genuine but expired one keeps them.
        const std::string binding =
            FormTokens::binding(csrf_cookie(p, false), remote_user(p.r), k_book_action);
        const VerifiedToken token = p.runtime.form_tokens().verify(fields["csrf_token"], binding,
                                                                   now_utc().time_since_epoch().count());
        if (token.check != TokenCheck::Valid) {
            p.log.log(LogLevel::Warn, "SR0102", std::string("form refused: ") + describe(token.check));
            if (token.check == TokenCheck::Expired) keep_entries();
            state.general_errors.push_back(describe(token.check));
            return render_form(p, HTTP_FORBIDDEN, state);
        }
        keep_entries();
        state.token = fields["csrf_token"];

        // 3. Every field.
        AppointmentInput input;
        input.patient_name = fields["patient_name"];
        input.doctor_name = fields["doctor_name"];
        input.phone = fields["phone"];
        input.appointment_date = fields["appointment_date"];
        input.appointment_time = fields["appointment_time"];
        input.phone_confirmed = fields["phone_confirmed"] == "1";
        input.language = fields["language"];
        const FormValidation validation = validate_appointment(input, validation_context(p));
        if (!validation.ok()) {
            state.errors = validation.field_errors;
            state.phone_needs_confirmation = validation.phone_needs_confirmation;
            state.phone_warning = validation.phone_warning;
            return render_form(p, HTTP_UNPROCESSABLE_ENTITY, state);
        }
        // SinchReminderBookingsPerUserPerHour (the entries are kept, with a fresh token so they can be sent
        // again).
        if (std::string message; booking_slot_wait(p, message)) {
            state.general_errors.push_back(message);
            return render_form(p, HTTP_TOO_MANY_REQUESTS, state);
        }

        // 4. Stored first, then handed to Sinch.
        const NewAppointment wanted = new_appointment(p, *validation.appointment, token.submission_key);
        const CreateResult created = store_and_hand_over(p, wanted);
        const std::string location = p.mount + "/a/" + created.appointment.id;
        if (!created.created) {
            if (!same_booking(created.appointment, wanted)) {
                state.token.clear();  // a fresh form for the new booking
                state.general_errors.push_back(
                    "This form was already used to book another appointment (" +
                    created.appointment.patient_name +
                    "). Nothing new was booked. Check the entries below and submit again to book this one.");
                return render_form(p, HTTP_CONFLICT, state);
            }
            apr_table_setn(p.r->headers_out, "Location", apr_pstrdup(p.r->pool, location.c_str()));
            return HTTP_SEE_OTHER;  // the same form submitted twice: one appointment
        }
        p.log.log(LogLevel::Info, "",
                  "appointment " + created.appointment.id + " booked for " + mask_phone(wanted.phone_e164) +
                      " by " + shown_user(wanted.created_by));
        apr_table_setn(p.r->headers_out, "Location", apr_pstrdup(p.r->pool, location.c_str()));
        return HTTP_SEE_OTHER;
    } catch (const DatabaseUnavailable& e) {
        p.log.log(LogLevel::Error, "SR0212", std::string("booking: database unavailable: ") + e.what());
        const char* message =
            "The appointment database cannot be reached, so nothing was booked and no SMS was scheduled. "
            "Your "
            "entries are kept: please submit again in a minute, and tell IT if this persists.";
        try {
            state.errors.clear();
            state.general_errors = {message};
            return render_form(p, HTTP_SERVICE_UNAVAILABLE, state);
        } catch (const DatabaseUnavailable&) {
            return show_error(p, HTTP_SERVICE_UNAVAILABLE, "Appointment not booked", message);
        }
    }
}

int show_confirmation(PageRequest& p, const std::string& appointment_id) {
    const Settings& s = settings_of(p);
    try {
        PgLease lease = p.runtime.database->acquire();
        AppointmentStore store(lease);
        const auto appointment = store.find(appointment_id, p.runtime.visible_clinics);
        if (!appointment) {
            return show_error(p, HTTP_NOT_FOUND, "No such appointment",
                              "There is no appointment at this address. It may have been mistyped.");
        }
        audit_read(lease, appointment->id, "view", actor_of(p), R"({"via": "page"})");
        const ClinicZone zone = ClinicZone::load(appointment->time_zone);
        TemplateData page = confirmation_view(*appointment, zone, s.locale, s.clinic_name, p.mount);
        page.set("sms_language", sms_language_text(p, *appointment));
        add_staff_page_details(p, page, *appointment, lease,
                               zone);  // cancel/reschedule, delivery, audit trail
        return send_html(p.r, HTTP_OK, render_page(p, Page::Confirmation, page));
    } catch (const DatabaseUnavailable& e) {
        p.log.log(LogLevel::Error, "SR0213", std::string("confirmation: database unavailable: ") + e.what());
        return show_error(
            p, HTTP_SERVICE_UNAVAILABLE, "Appointments are unavailable",
            "The appointment database cannot be reached right now. Please try again in a minute.");
    }
}

}  // namespace sr::apache
