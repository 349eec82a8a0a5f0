#pragma once
// Page data for the staff operations: the appointment list (list.html) and what the appointment page
// (confirmation.html) shows beyond the booking confirmation: cancel and reschedule forms, delivery
// reports, flags, every reminder revision and the audit trail. Pure functions of stored records.
#include <string>
#include <vector>

#include "core/appointment_query.hpp"
#include "core/clock.hpp"
#include "core/encoding.hpp"  // url_encode, for the list links
#include "core/store.hpp"
#include "core/templates.hpp"

namespace sr {

// "Delivered to the phone at Sat, Nov 28, 2026, 12:31 PM EST"; "" without a delivery report.
std::string delivery_text(const ReminderRecord& reminder, const ClinicZone& zone, const std::string& locale);
// Failed, Aborted, Rejected, Expired, Deleted, Unknown.
bool delivery_is_problem(const ReminderRecord& reminder);
// A few words for the list: "Scheduled with Sinch", "Sent", "Refused by Sinch", ...
std::string short_reminder_status(const std::string& status);

// What the adapter knows about the request that shows the appointment page.
struct StaffActions {
    std::string cancel_token;      // the cancel form's CSRF token (bound to "cancel:{id}")
    std::string reschedule_token;  // the reschedule form's (bound to "reschedule:{id}")
    std::string cancel_url;        // POST targets
    std::string reschedule_url;
    std::string reschedule_date;  // what the reschedule form shows (typed, or the current date/time)
    std::string reschedule_time;
    std::vector<std::string> errors;  // why a reschedule was refused
    std::string done;  // "cancelled" / "rescheduled": a sentence at the top, if the state agrees
    std::string reminder_time_notice;  // quiet_hours_notice(), shown with the other notices
};

// Adds to confirmation_view()'s data: appointment.status / is_cancelled, reminder delivery and attention,
// history (every revision), audit (the trail), actions (forms, only for active appointments), notices.
void add_staff_details(TemplateData& page, const AppointmentRecord& appointment,
                       const std::vector<AuditEntry>& audit, const ClinicZone& zone,
                       const std::string& locale, const StaffActions& actions);

// The list page. `typed`: the request's values (kept in the filter form).
TemplateData list_view(const ListPage& page, const ParsedListQuery& parsed, const ListQuery& typed,
                       const ClinicZone& zone, const std::string& locale, const std::string& clinic_name,
                       const std::string& mount_url);

}  // namespace sr
