#pragma once
// Helpers shared by the staff pages, the JSON API and the delivery-report endpoint.
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "apache/appointment_pages.hpp"
#include "core/appointment_changes.hpp"
#include "core/appointment_form.hpp"
#include "core/clock.hpp"
#include "core/store.hpp"
#include "core/templates.hpp"

struct request_rec;

namespace sr {
struct NewAppointment;
}

namespace sr::apache {

// Every staff page's warning that reminders are on hold because Sinch refuses the account's credentials
// (shared by every node through PostgreSQL); "" when all is well or it cannot be told.
std::string account_banner(PageRequest& p);
// Renders a staff page with what every page shows (the account banner).
std::string render_page(PageRequest& p, Page page, TemplateData& data);

// Who is acting: the user Apache authenticated (or "" when none did), the client address and the clinics
// the mount may change (its own and SinchReminderSeeClinics).
Actor actor_of(const PageRequest& p);

// For log lines: the user, or "(no login)".
std::string shown_user(const std::string& user);

// The shared delivery-report callback token (PostgreSQL), read once per process and database.
// Throws DatabaseUnavailable.
std::string callback_token(ServerRuntime& runtime);

// What a new reminder's batch asks Sinch for: SinchReminderDeliveryReport, and the callback URL
// {SinchReminderPublicBaseUrl}{mount}/callbacks/sinch[/token with url-token] ("" without a public base URL).
// Throws DatabaseUnavailable (the token is read from the database).
void delivery_setup(PageRequest& p, std::string& delivery_report, std::string& callback_url);
void apply_delivery_setup(PageRequest& p, NewAppointment& appointment);

// The SMS text for an appointment at `starts_at` with this doctor (the site's message template).
std::string reminder_body(const PageRequest& p, const std::string& doctor, Instant starts_at,
                          const ClinicLanguage& language);

// The request as the appointment's own clinic would serve it: its zone, lead time, quiet hours, texts and
// name. A hospital-wide front desk (SinchReminderSeeClinics) moves another clinic's appointment with that
// clinic's settings, not its own. nullopt when this server has no mount of that clinic (only its own page can
// move it).
std::optional<PageRequest> as_owning_clinic(const PageRequest& p, const AppointmentRecord& appointment);

// The confirmation's "Language" line: the SMS's language by its own name, "" where the clinic offers one.
std::string sms_language_text(const PageRequest& p, const AppointmentRecord& appointment);

// What the form, the API and reschedule check an appointment against (this mount's settings, now).
// `strict`: a wall time in a DST gap or overlap is refused instead of resolved.
ValidationContext validation_context(const PageRequest& p, bool strict = false);

// What a booking (form or API) stores: the validated appointment, who booked it, the SMS text and
// the delivery-report setup.
NewAppointment new_appointment(PageRequest& p, const ValidAppointment& appointment,
                               const std::string& submission_key);

// SinchReminderBookingsPerUserPerHour: nullopt when this user may book now (a slot is taken, counted in
// PostgreSQL); otherwise how long until they may, and `message` says so for staff. Logged (SR0541).
// Throws DatabaseUnavailable.
std::optional<std::chrono::seconds> booking_slot_wait(PageRequest& p, std::string& message);

// Stores a booking (form or API) and, if its reminder is due within the horizon, hands it to Sinch now.
// The booking stands even if the hand-over fails (logged SR0512; the background dispatcher retries).
// Throws DatabaseUnavailable only if nothing could be stored.
CreateResult store_and_hand_over(PageRequest& p, const NewAppointment& wanted);

// Moves the appointment to the validated new time (a new reminder revision with its own SMS text).
ChangeResult reschedule_to(PageRequest& p, const AppointmentRecord& appointment,
                           const ValidAppointment& valid);

// Fast paths after a cancel or reschedule; the background dispatcher does the same if these cannot.
void hand_to_dispatcher(PageRequest& p, const ChangeResult& change);

// The query string's values (decoded; the first of repeated names wins).
std::map<std::string, std::string> query_arguments(request_rec* r);

// The request body, at most max_bytes. Returns OK, or 413 (too large) / 400 (unreadable).
int read_body(request_rec* r, std::size_t max_bytes, std::string& body);

// Sends a JSON text with `status`, never cached.
int send_json_text(request_rec* r, int status, const std::string& json);

// The browser's CSRF cookie (the booking form's), created when missing and `create`.
std::string staff_csrf_cookie(PageRequest& p, bool create);

}  // namespace sr::apache
