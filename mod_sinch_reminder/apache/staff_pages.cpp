#include "apache/staff_pages.hpp"

#include <map>

#include <httpd.h>
#include <apr_strings.h>
#include <http_protocol.h>

#include "apache/request.hpp"
#include "apache/runtime.hpp"
#include "apache/staff_common.hpp"
#include "core/appointment_changes.hpp"
#include "core/appointment_form.hpp"
#include "core/appointment_query.hpp"
#include "core/appointment_view.hpp"
#include "core/dispatcher.hpp"
#include "core/form_token.hpp"
#include "core/pg_pool.hpp"
#include "core/redact.hpp"
#include "core/staff_view.hpp"

namespace sr::apache {

namespace {

constexpr std::size_t k_form_max_bytes = 16 * 1024;
constexpr int k_page_size = 50;

const Settings& settings_of(const PageRequest& p) { return *p.runtime.settings; }

int database_unavailable(PageRequest& p, const char* id, const char* what, const std::exception& e) {
    p.log.log(LogLevel::Error, id, std::string(what) + ": database unavailable: " + e.what());
    return show_error(
        p, HTTP_SERVICE_UNAVAILABLE, "Appointments are unavailable",
        "The appointment database cannot be reached right now, so nothing was changed. Please try "
        "again in a minute, and tell IT if this persists.");
}

int redirect_to_appointment(PageRequest& p, const std::string& id, const char* done) {
    const std::string location = p.mount + "/a/" + id + "?done=" + done;
    apr_table_setn(p.r->headers_out, "Location", apr_pstrdup(p.r->pool, location.c_str()));
    return HTTP_SEE_OTHER;
}

std::string cancel_action(const std::string& id) { return "cancel:" + id; }
std::string reschedule_action(const std::string& id) { return "reschedule:" + id; }

// Refuses a form from another site (before reading it), reads it and checks its CSRF token, which must
// have been issued for `action` (cancel:{id} or reschedule:{id}); on failure answers and returns the
// status in `answered`.
bool accept_form(PageRequest& p, const std::string& action, std::map<std::string, std::string>& fields,
                 int& answered) {
    if (const std::string why = foreign_origin(p.r, settings_of(p).public_base_url); !why.empty()) {
        answered = refuse_cross_site(p, why);
        return false;
    }
    if (const int status = read_form(p.r, k_form_max_bytes, fields); status != OK) {
        const char* why = status == HTTP_UNSUPPORTED_MEDIA_TYPE
                              ? "The form must be sent as a normal web form."
                          : status == HTTP_REQUEST_ENTITY_TOO_LARGE ? "The form is too large."
                                                                    : "The form could not be read.";
        answered = show_error(p, status, "The form was not accepted", why);
        return false;
    }
    const std::string binding = FormTokens::binding(staff_csrf_cookie(p, false), remote_user(p.r), action);
    const VerifiedToken token =
        p.runtime.form_tokens().verify(fields["csrf_token"], binding, now_utc().time_since_epoch().count());
    if (token.check != TokenCheck::Valid) {
        p.log.log(LogLevel::Warn, "SR0511", std::string("staff form refused: ") + describe(token.check));
        answered = show_error(p, HTTP_FORBIDDEN, "The form was not accepted",
                              std::string(describe(token.check)) +
                                  " Nothing was changed: open the appointment again "
                                  "and repeat the change.");
        return false;
    }
    return true;
}

// The cancel and reschedule forms of an appointment, each with a token only it accepts, and why its
// reminder goes earlier than the lead time (quiet hours), if it does.
StaffActions staff_actions(PageRequest& p, const AppointmentRecord& appointment, const ClinicZone& zone) {
    const std::string& id = appointment.id;
    const std::optional<PageRequest> owner = as_owning_clinic(p, appointment);  // its lead time, quiet hours
    const Settings& s = settings_of(owner ? *owner : p);
    StaffActions actions;
    actions.reminder_time_notice = quiet_hours_notice(appointment, zone, s.locale, s.schedule, s.quiet_hours);
    const std::string cookie = staff_csrf_cookie(p, true);
    const std::int64_t now = now_utc().time_since_epoch().count();
    actions.cancel_token =
        p.runtime.form_tokens().issue(FormTokens::binding(cookie, remote_user(p.r), cancel_action(id)), now);
    actions.reschedule_token = p.runtime.form_tokens().issue(
        FormTokens::binding(cookie, remote_user(p.r), reschedule_action(id)), now);
    actions.cancel_url = p.mount + "/a/" + id + "/cancel";
    actions.reschedule_url = p.mount + "/a/" + id + "/reschedule";
    return actions;
}

// The appointment page with reschedule errors (422) and what staff typed.
int render_with_errors(PageRequest& p, const AppointmentRecord& appointment,
                       const std::vector<std::string>& errors, const std::string& date,
                       const std::string& time) {
    const Settings& s = settings_of(p);
    PgLease lease = p.runtime.database->acquire();
    const ClinicZone zone = ClinicZone::load(appointment.time_zone);
    TemplateData page = confirmation_view(appointment, zone, s.locale, s.clinic_name, p.mount);
    page.set("sms_language", sms_language_text(p, appointment));
    StaffActions actions = staff_actions(p, appointment, zone);
    actions.reschedule_date = date;
    actions.reschedule_time = time;
    actions.errors = errors;
    add_staff_details(page, appointment, audit_trail(lease, appointment.id), zone, s.locale, actions);
    return send_html(p.r, HTTP_UNPROCESSABLE_ENTITY, render_page(p, Page::Confirmation, page));
}

}  // namespace

void add_staff_page_details(PageRequest& p, TemplateData& page, const AppointmentRecord& appointment,
                            PgLease& lease, const ClinicZone& zone) {
    const Settings& s = settings_of(p);
    StaffActions actions = staff_actions(p, appointment, zone);
    const std::string local = zone.format_local_iso(appointment.starts_at);  // 2026-11-28T14:30-05:00
    actions.reschedule_date = local.substr(0, 10);
    actions.reschedule_time = local.substr(11, 5);
    const auto args = query_arguments(p.r);
    if (const auto done = args.find("done"); done != args.end()) actions.done = done->second;
    add_staff_details(page, appointment, audit_trail(lease, appointment.id), zone, s.locale, actions);
}

int show_list(PageRequest& p) {
    const Settings& s = settings_of(p);
    const auto args = query_arguments(p.r);
    auto arg = [&](const char* name) {
        const auto it = args.find(name);
        return it == args.end() ? std::string() : it->second;
    };
    ListQuery typed;
    typed.from = arg("from");
    typed.to = arg("to");
    typed.q = arg("q");
    typed.status = arg("status");
    typed.page = arg("page");
    typed.after = arg("after");
    typed.before = arg("before");
    try {
        ParsedListQuery parsed =
            parse_list_query(typed, *p.runtime.zone, s.default_country, now_utc(), true, k_page_size);
        ListPage list;
        if (parsed.ok()) {
            PgLease lease = p.runtime.database->acquire();
            parsed.filter.clinics = p.runtime.visible_clinics;
            list = list_appointments(lease, parsed.filter);
            std::vector<std::string> filters, shown;
            for (const char* name : {"from", "to", "q", "status", "page"}) {
                if (!arg(name).empty()) filters.push_back(name);  // which filters, never their values
            }
            for (const AppointmentRecord& a : list.appointments) shown.push_back(a.id);
            audit_read(lease, "", "list", actor_of(p), list_read_details("page", filters, shown, false));
        }
        TemplateData page = list_view(list, parsed, typed, *p.runtime.zone, s.locale, s.clinic_name, p.mount);
        return send_html(p.r, parsed.ok() ? HTTP_OK : HTTP_BAD_REQUEST, render_page(p, Page::List, page));
    } catch (const DatabaseUnavailable& e) {
        return database_unavailable(p, "SR0510", "appointment list", e);
    }
}

int cancel_from_page(PageRequest& p, const std::string& appointment_id) {
    std::map<std::string, std::string> fields;
    try {
        int answered = 0;
        if (!accept_form(p, cancel_action(appointment_id), fields, answered)) return answered;
        const Actor actor = actor_of(p);
        const ChangeResult change = [&] {
            PgLease lease = p.runtime.database->acquire();
            return cancel_appointment(lease, appointment_id, actor);
        }();  // NB: the lease goes back before the dispatcher takes one
        if (change.outcome == ChangeOutcome::NotFound) {
            return show_error(p, HTTP_NOT_FOUND, "No such appointment",
                              "There is no appointment at this address. It may have been mistyped.");
        }
        if (change.outcome == ChangeOutcome::Done) {
            p.log.log(LogLevel::Info, "",
                      "appointment " + appointment_id + " cancelled by " + shown_user(actor.user));
            hand_to_dispatcher(p, change);
        }
        return redirect_to_appointment(p, appointment_id, "cancelled");
    } catch (const DatabaseUnavailable& e) {
        return database_unavailable(p, "SR0513", "cancel", e);
    }
}

int reschedule_from_page(PageRequest& p, const std::string& appointment_id) {
    std::map<std::string, std::string> fields;
    try {
        int answered = 0;
        if (!accept_form(p, reschedule_action(appointment_id), fields, answered)) return answered;
        const std::optional<AppointmentRecord> appointment = [&] {
            PgLease lease = p.runtime.database->acquire();
            return AppointmentStore(lease).find(appointment_id, p.runtime.visible_clinics);
        }();
        if (!appointment) {
            return show_error(p, HTTP_NOT_FOUND, "No such appointment",
                              "There is no appointment at this address. It may have been mistyped.");
        }
        if (appointment->status == "cancelled") {
            return show_error(p, HTTP_CONFLICT, "The appointment is cancelled",
                              "A cancelled appointment cannot be moved. Book a new appointment instead.");
        }
        // In the appointment's own clinic: its zone, lead time, quiet hours and texts (a front desk that sees
        // other clinics moves their appointments as they would).
        std::optional<PageRequest> owner = as_owning_clinic(p, *appointment);
        if (!owner) {
            return show_error(p, HTTP_CONFLICT, "Another clinic's appointment",
                              "This appointment belongs to clinic " + appointment->clinic +
                                  ", which is not configured on this server: move it on that clinic's own "
                                  "pages.");
        }
        const FormValidation validation = validate_appointment_time(
            fields["appointment_date"], fields["appointment_time"], validation_context(*owner));
        if (!validation.ok()) {
            std::vector<std::string> errors;
            for (const auto& [field, message] : validation.field_errors) errors.push_back(message);
            return render_with_errors(p, *appointment, errors, fields["appointment_date"],
                                      fields["appointment_time"]);
        }
        const ValidAppointment& valid = *validation.appointment;
        const std::string wall_time = to_iso_string(valid.requested_local);
        if (valid.starts.utc == appointment->starts_at && wall_time == appointment->local_wall_time) {
            return redirect_to_appointment(p, appointment_id, "rescheduled");  // nothing to move (a resubmit)
        }
        const ChangeResult change = reschedule_to(*owner, *appointment, valid);
        if (change.outcome == ChangeOutcome::NotFound) {
            return show_error(p, HTTP_NOT_FOUND, "No such appointment",
                              "There is no appointment at this address.");
        }
        if (change.outcome == ChangeOutcome::AlreadyCancelled) {
            return show_error(p, HTTP_CONFLICT, "The appointment is cancelled",
                              "A cancelled appointment cannot be moved. Book a new appointment instead.");
        }
        p.log.log(LogLevel::Info, "",
                  "appointment " + appointment_id + " rescheduled to " + wall_time + " by " +
                      shown_user(actor_of(p).user));
        hand_to_dispatcher(p, change);
        return redirect_to_appointment(p, appointment_id, "rescheduled");
    } catch (const DatabaseUnavailable& e) {
        return database_unavailable(p, "SR0514", "reschedule", e);
    }
}

}  // namespace sr::apache
