#include "apache/staff_common.hpp"

#include <map>
#include <mutex>

#include <httpd.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <http_protocol.h>

#include "apache/config.hpp"
#include "apache/query_string.hpp"
#include "apache/request.hpp"
#include "apache/runtime.hpp"
#include "core/booking_limit.hpp"
#include "core/dispatcher.hpp"
#include "core/delivery_reports.hpp"
#include "core/form_token.hpp"
#include "core/pg_pool.hpp"
#include "core/redact.hpp"
#include "core/sms_text.hpp"
#include "core/store.hpp"

namespace sr::apache {

namespace {

constexpr const char* k_csrf_cookie = "sr_csrf";  // the booking form's cookie (appointment_pages.cpp)

std::mutex g_tokens_mutex;
std::map<const PgPool*, std::string> g_tokens;

}  // namespace

Actor actor_of(const PageRequest& p) {
    Actor actor;
    actor.user = p.r->user ? p.r->user : "";  // "" = no login: stored as NULL, never as a name
    actor.remote_addr = p.r->useragent_ip ? p.r->useragent_ip : "";
    actor.clinics = p.runtime.visible_clinics;
    return actor;
}

std::string shown_user(const std::string& user) { return user.empty() ? "(no login)" : user; }

std::string callback_token(ServerRuntime& runtime) {
    if (!runtime.database) throw DatabaseUnavailable("no SinchReminderDatabase");
    {
        std::lock_guard<std::mutex> lock(g_tokens_mutex);
        const auto it = g_tokens.find(runtime.database);
        if (it != g_tokens.end()) return it->second;
    }
    PgLease lease = runtime.database->acquire();
    const std::string token = with_connection(lease, "reading the callback token",
                                              [](pqxx::connection& c) { return load_callback_token(c); });
    std::lock_guard<std::mutex> lock(g_tokens_mutex);
    g_tokens[runtime.database] = token;
    return token;
}

void delivery_setup(PageRequest& p, std::string& delivery_report, std::string& callback_url) {
    const Settings& s = *p.runtime.settings;
    delivery_report = s.delivery_report.empty() ? "none" : s.delivery_report;
    callback_url.clear();
    if (s.public_base_url.empty()) return;
    callback_url = s.public_base_url + p.mount + "/callbacks/sinch";
    // SinchReminderCallbackAuth hmac (the default): the signature authenticates, the URL carries no secret.
    if (s.callback_auth == "url-token") callback_url += "/" + callback_token(p.runtime);
}

void apply_delivery_setup(PageRequest& p, NewAppointment& appointment) {
    delivery_setup(p, appointment.reminder_delivery_report, appointment.reminder_callback_url);
}

std::string reminder_body(const PageRequest& p, const std::string& doctor, Instant starts_at,
                          const ClinicLanguage& language) {
    return reminder_text(language.message, p.runtime.settings->clinic_name, doctor, *p.runtime.zone,
                         starts_at, language.icu_locale);
}

std::optional<PageRequest> as_owning_clinic(const PageRequest& p, const AppointmentRecord& appointment) {
    if (appointment.clinic == p.runtime.clinic) return p;
    const auto& runtimes = server_config(p.r->server).runtimes;
    const auto found = runtimes.find(appointment.clinic);
    if (found == runtimes.end() || !found->second) return std::nullopt;
    return PageRequest{p.r, *found->second, p.mount, p.log};
}

std::string sms_language_text(const PageRequest& p, const AppointmentRecord& appointment) {
    const ClinicLanguages& languages = *p.runtime.languages;
    if (languages.all().size() < 2 && !appointment.language) return "";
    if (appointment.language) {
        const ClinicLanguage* language = languages.find(*appointment.language);
        return language ? language->display_name : *appointment.language;  // no longer offered: its code
    }
    return languages.for_stored(std::nullopt).display_name;
}

ValidationContext validation_context(const PageRequest& p, bool strict) {
    const Settings& s = *p.runtime.settings;
    ValidationContext context;
    context.zone = &*p.runtime.zone;
    context.default_country = s.default_country;
    context.lead_time = s.lead_time;
    context.schedule = s.schedule;
    context.quiet_hours = s.quiet_hours;
    context.now = now_utc();
    context.wall_time_policy = strict ? WallTimePolicy::Strict : WallTimePolicy::Lenient;
    context.doctors = s.doctors;
    context.allowed_countries = s.allowed_countries;
    context.languages = p.runtime.languages.get();
    context.clinic_name = s.clinic_name;
    context.max_segments = s.max_segments;
    return context;
}

// One reminder per schedule entry; those whose slot is gone (or after the appointment) are too_late.
static std::vector<NewReminder> new_reminders(const ValidAppointment& a) {
    const Instant now = now_utc();
    std::vector<NewReminder> reminders;
    for (const PlannedReminder& planned : a.reminders) {
        reminders.push_back(
            {planned.slot, planned.time.send_at,
             planned.passed(now) ? InitialReminderStatus::TooLate : InitialReminderStatus::Pending});
    }
    return reminders;
}

NewAppointment new_appointment(PageRequest& p, const ValidAppointment& a, const std::string& submission_key) {
    const Settings& s = *p.runtime.settings;
    const Actor actor = actor_of(p);
    NewAppointment wanted;
    wanted.clinic = p.runtime.clinic;
    wanted.language = a.language;
    wanted.patient_name = a.patient_name;
    wanted.doctor_name = a.doctor_name;
    wanted.phone_e164 = a.phone_e164;
    wanted.starts_at = a.starts.utc;
    wanted.time_zone = s.time_zone;
    wanted.local_wall_time = to_iso_string(a.requested_local);
    wanted.wall_time_resolution = a.starts.resolution;
    wanted.submission_key = submission_key;
    wanted.created_by = actor.user;
    wanted.created_from = actor.remote_addr;
    wanted.reminders = new_reminders(a);
    wanted.reminder_body = a.reminder_body.empty()
                               ? reminder_body(p, wanted.doctor_name, wanted.starts_at,
                                               p.runtime.languages->for_stored(a.language))
                               : a.reminder_body;
    apply_delivery_setup(p, wanted);
    return wanted;
}

ChangeResult reschedule_to(PageRequest& p, const AppointmentRecord& appointment,
                           const ValidAppointment& valid) {
    NewTime time;
    time.starts_at = valid.starts.utc;
    time.local_wall_time = to_iso_string(valid.requested_local);
    time.resolution = valid.starts.resolution;
    time.reminders = new_reminders(valid);
    // In the language it was booked in.
    time.reminder_body = reminder_body(p, appointment.doctor_name, valid.starts.utc,
                                       p.runtime.languages->for_stored(appointment.language));
    delivery_setup(p, time.reminder_delivery_report, time.reminder_callback_url);
    PgLease lease = p.runtime.database->acquire();
    return reschedule_appointment(lease, appointment.id, time, actor_of(p));
}

std::string account_banner(PageRequest& p) {
    if (!p.runtime.dispatcher) return "";
    try {
        const AccountState account = p.runtime.dispatcher->account_state();
        if (account.pause_reason != "credentials_rejected") return "";
        return "Sinch is refusing this site's credentials, so reminders are not being sent to Sinch right "
               "now. "
               "Nothing is lost: bookings are kept and their reminders go out by themselves once the key "
               "works "
               "again. Please tell IT (Sinch said: " +
               account.pause_detail + ").";
    } catch (const std::exception&) {
        return "";  // the page itself says what is wrong with the database
    }
}

std::string render_page(PageRequest& p, Page page, TemplateData& data) {
    data.set("account_banner", account_banner(p));
    return p.runtime.pages->render(page, data);
}

std::optional<std::chrono::seconds> booking_slot_wait(PageRequest& p, std::string& message) {
    const int per_hour = p.runtime.settings->bookings_per_user_per_hour;
    if (per_hour <= 0) return std::nullopt;
    // Per Apache user; without an authenticated user, per client address (not one bucket for everyone).
    const std::string user =
        p.r->user && *p.r->user ? std::string(p.r->user) : "address " + actor_of(p).remote_addr;
    const auto wait = [&] {
        PgLease lease = p.runtime.database->acquire();
        return take_booking_slot(lease, user, per_hour);
    }();
    if (!wait) return std::nullopt;
    const long long minutes = (wait->count() + 59) / 60;
    message = "You have booked " + std::to_string(per_hour) +
              " appointments in the last hour, the most one user may (SinchReminderBookingsPerUserPerHour). "
              "Nothing was booked; please try again in " +
              std::to_string(minutes) + (minutes == 1 ? " minute" : " minutes") +
              ", or ask IT to raise the limit.";
    p.log.log(LogLevel::Warn, "SR0541",
              "booking refused (429): user " + user + " reached " + std::to_string(per_hour) +
                  " bookings in an hour");
    apr_table_setn(p.r->headers_out, "Retry-After",
                   apr_pstrdup(p.r->pool, std::to_string(wait->count()).c_str()));
    return wait;
}

CreateResult store_and_hand_over(PageRequest& p, const NewAppointment& wanted) {
    Dispatcher* dispatcher = p.runtime.dispatcher;
    // A rate token first: the claim stored with the appointment is then the lease (the fence) of the create
    // that follows at once. Without a token the reminder is stored pending for the background pass.
    const std::optional<ReminderClaim> claim = dispatcher ? dispatcher->booking_claim() : std::nullopt;
    CreateResult created;
    try {
        PgLease lease = p.runtime.database->acquire();
        // Stored already claimed for the hand-over below when it is due within the horizon.
        created = AppointmentStore(lease).create(wanted, claim);
    } catch (
        ...) {  // NB: the lease goes back before the hand-over: no connection is held while Sinch answers
        if (claim) dispatcher->booking_not_claimed();
        throw;
    }
    if (claim && !created.created) dispatcher->booking_not_claimed();
    if (claim && created.created) {
        try {
            dispatcher->hand_over_booked(created.appointment, wanted.reminder_body);
        } catch (const std::exception& e) {
            p.log.log(LogLevel::Warn, "SR0512",
                      std::string("handing the new reminder over now failed; the dispatcher retries it: ") +
                          loggable_error(e));
        }
    }
    return created;
}

void hand_to_dispatcher(PageRequest& p, const ChangeResult& change) {
    if (!p.runtime.dispatcher) return;
    try {
        for (const std::int64_t id : change.reminders_to_cancel) p.runtime.dispatcher->cancel_now(id);
    } catch (const std::exception& e) {
        p.log.log(LogLevel::Warn, "SR0512",
                  std::string("cancelling the old reminder now failed; the dispatcher retries it: ") +
                      loggable_error(e));
    }
    try {
        for (const std::int64_t id : change.reminders_to_schedule) p.runtime.dispatcher->hand_over_now(id);
    } catch (const std::exception& e) {
        p.log.log(LogLevel::Warn, "SR0512",
                  std::string("handing the new reminder over now failed; the dispatcher retries it: ") +
                      loggable_error(e));
    }
}

std::map<std::string, std::string> query_arguments(request_rec* r) {
    return parse_urlencoded(r->args, r->pool);
}

int read_body(request_rec* r, std::size_t max_bytes, std::string& body) {
    body.clear();
    if (const int status = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK); status != OK) return status;
    if (r->remaining > static_cast<apr_off_t>(max_bytes)) {
        r->connection->keepalive = AP_CONN_CLOSE;  // NB: else httpd reads the rest to keep the connection
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    if (!ap_should_client_block(r)) return OK;
    char buffer[8192];
    for (;;) {
        const long n = ap_get_client_block(r, buffer, sizeof buffer);
        if (n < 0) return HTTP_BAD_REQUEST;
        if (n == 0) break;
        if (body.size() + static_cast<std::size_t>(n) > max_bytes) {
            // Drain nothing more: the connection is closed after the answer.
            r->connection->keepalive = AP_CONN_CLOSE;
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
        body.append(buffer, static_cast<std::size_t>(n));
    }
    return OK;
}

int send_json_text(request_rec* r, int status, const std::string& json) {
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    ap_set_content_length(r, static_cast<apr_off_t>(json.size()));
    if (!r->header_only) ap_rwrite(json.data(), static_cast<int>(json.size()), r);
    return OK;
}

std::string staff_csrf_cookie(PageRequest& p, bool create) {
    std::string value = read_cookie(p.r, k_csrf_cookie);
    if (value.empty() && create && may_set_cookie(p.r)) {
        value = random_token(16);
        set_cookie(p.r, k_csrf_cookie, value, p.mount, p.runtime.settings->cookie_secure);
    }
    return value;
}

}  // namespace sr::apache
