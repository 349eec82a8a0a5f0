#pragma once
// What staff read about an appointment and its reminder: page data for the templates and plain
// sentences for every reminder status. Pure functions of the stored records.
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/reminder_timing.hpp"
#include "core/store.hpp"
#include "core/templates.hpp"

namespace sr {

struct ReminderStatusText {
    std::string text;         // a sentence for staff
    bool is_problem = false;  // shown prominently: somebody may have to call the patient
};

ReminderStatusText describe_reminder(const ReminderRecord& reminder, const ClinicZone& zone,
                                     const std::string& locale);

// "2026-12-01 17:30 UTC"
std::string format_utc_for_people(Instant utc);

// The reminder's SMS text and what it costs, as staff see it: sms_text, sms_parts_text (both "" when the
// text is gone, e.g. after retention).
void add_sms_text(TemplateObject& reminder, const ReminderRecord& record);

// Page data for confirmation.html.
TemplateData confirmation_view(const AppointmentRecord& appointment, const ClinicZone& zone,
                               const std::string& locale, const std::string& clinic_name,
                               const std::string& mount_url);

// The sentence that says how a DST gap or overlap was resolved, or "" when the time was exact.
std::string wall_time_notice(const AppointmentRecord& appointment, const ClinicZone& zone);

// Why the current reminders go earlier than their schedule entries ("Quiet hours (21:00–08:00, clinic time):
// the reminder goes at … instead of …"), or "" when each goes at its entry's time.
std::string quiet_hours_notice(const AppointmentRecord& appointment, const ClinicZone& zone,
                               const std::string& locale, const ReminderSchedule& schedule,
                               const QuietHours& quiet_hours);

// Each reminder of the current revision (SinchReminderSchedule), by send time: slot, client_reference,
// local_time_text, utc_text, batch_id, status, status_text, is_problem.
TemplateList current_reminders_view(const AppointmentRecord& appointment, const ClinicZone& zone,
                                    const std::string& locale);

// What staff should know about the stored number (e.g. "This looks like a landline; SMS may not arrive."),
// or "". Derived from the stored number, so the notice survives the booking form's redirect.
std::string phone_notice(const AppointmentRecord& appointment);

}  // namespace sr
