#include "core/appointment_view.hpp"

#include <cstdio>

#include "core/phone.hpp"
#include "core/sms_text.hpp"

namespace sr {

std::string format_utc_for_people(Instant utc) {
    const std::string iso = format_utc_iso_millis(utc);  // 2026-12-01T17:30:00.000Z
    return iso.substr(0, 10) + " " + iso.substr(11, 5) + " UTC";
}

ReminderStatusText describe_reminder(const ReminderRecord& r, const ClinicZone& zone,
                                     const std::string& locale) {
    namespace s = reminder_status;
    const std::string when = zone.format(r.send_at, locale);
    const std::string error =
        r.last_error_text.value_or("") +
        (r.last_error_code && !r.last_error_code->empty() ? " (" + *r.last_error_code + ")" : "");
    if (r.status == s::pending)
        return {"Stored. It will be handed to Sinch to go out at " + when + ".", false};
    if (r.status == s::scheduling) return {"Being handed to Sinch right now.", false};
    if (r.status == s::scheduled) return {"Scheduled with Sinch: the SMS goes out at " + when + ".", false};
    if (r.status == s::retrying) {
        std::string next = r.next_attempt_at
                               ? " The module tries again at " + zone.format(*r.next_attempt_at, locale) + "."
                               : "";
        return {"Sinch could not take the reminder yet: " + error + "." + next, true};
    }
    if (r.status == s::unknown) {
        return {
            "Sinch's answer was lost on the way. The module checks with Sinch before trying again, so the "
            "patient will not get two messages.",
            true};
    }
    if (r.status == s::failed)
        return {"Sinch refused the reminder: " + error + ". No SMS will be sent.", true};
    if (r.status == s::too_late) {
        return {"No SMS will be sent: the reminder time (" + when +
                    ") had already passed when the appointment was booked. Please tell the patient directly.",
                true};
    }
    if (r.status == s::cancelling) return {"Being cancelled at Sinch.", false};
    if (r.status == s::cancel_failed) return {"Cancelling at Sinch failed; the module keeps trying.", true};
    if (r.status == s::cancelled) return {"Cancelled: no SMS will be sent.", false};
    if (r.status == s::superseded) return {"Replaced by a newer reminder after a reschedule.", false};
    if (r.status == s::sent) return {"Sent at " + when + ".", false};
    return {"Status: " + r.status, true};
}

std::string wall_time_notice(const AppointmentRecord& appointment, const ClinicZone& zone) {
    if (appointment.wall_time_resolution == to_string(WallTimeResolution::Exact)) return "";
    const std::string& entered = appointment.local_wall_time;  // YYYY-MM-DDTHH:MM
    const auto requested =
        parse_local_date_time(entered.substr(0, 10), entered.size() >= 16 ? entered.substr(11, 5) : "");
    if (!requested) return "";
    ResolvedTime resolved;
    resolved.utc = appointment.starts_at;
    resolved.utc_offset_seconds = zone.utc_offset_seconds(appointment.starts_at);
    resolved.local_used = zone.to_local(appointment.starts_at);
    resolved.resolution = appointment.wall_time_resolution == to_string(WallTimeResolution::GapShiftedForward)
                              ? WallTimeResolution::GapShiftedForward
                              : WallTimeResolution::OverlapEarlierOffset;
    return zone.describe_resolution(*requested, resolved);
}

std::string quiet_hours_notice(const AppointmentRecord& appointment, const ClinicZone& zone,
                               const std::string& locale, const ReminderSchedule& schedule,
                               const QuietHours& quiet_hours) {
    if (!quiet_hours.active()) return "";
    const std::vector<PlannedReminder> planned =
        reminder_times(appointment.starts_at, schedule, quiet_hours, zone);
    std::string notice;
    for (const ReminderRecord* reminder : appointment.current_reminders()) {
        for (const PlannedReminder& p : planned) {
            if (p.slot != reminder->slot || !p.time.moved_for_quiet_hours ||
                p.time.send_at != reminder->send_at)
                continue;
            notice += std::string(notice.empty() ? "Quiet hours (" + quiet_hours.text() + ", clinic time): "
                                                 : " ") +
                      "the reminder goes at " + zone.format(reminder->send_at, locale) + " instead of " +
                      zone.format(p.time.lead_time_slot, locale) + ".";
        }
    }
    return notice;
}

TemplateList current_reminders_view(const AppointmentRecord& a, const ClinicZone& zone,
                                    const std::string& locale) {
    TemplateList list;
    for (const ReminderRecord* r : a.current_reminders()) {
        const ReminderStatusText status = describe_reminder(*r, zone, locale);
        list.push_back(TemplateObject{{"slot", std::to_string(r->slot)},
                                      {"client_reference", r->client_reference},
                                      {"local_time_text", zone.format(r->send_at, locale)},
                                      {"utc_text", format_utc_for_people(r->send_at)},
                                      {"batch_id", r->batch_id.value_or("")},
                                      {"status", r->status},
                                      {"status_text", status.text},
                                      {"is_problem", status.is_problem}});
    }
    return list;
}

std::string phone_notice(const AppointmentRecord& appointment) {
    const PhoneResult phone = normalize_phone(appointment.phone_e164, "");
    return phone.check == PhoneCheck::Valid ? phone.problem : "";
}

void add_sms_text(TemplateObject& reminder, const ReminderRecord& record) {
    std::string parts;
    if (!record.body.empty()) {
        const SmsEncoding sms = analyse_sms(record.body);
        parts = std::to_string(sms.segments) + (sms.segments == 1 ? " SMS part" : " SMS parts") +
                (sms.gsm7 ? " · GSM-7 alphabet · "
                          : " · Unicode (UCS-2: characters outside the GSM-7 alphabet) · ") +
                std::to_string(sms.units) +
                (sms.segments == 1 ? " of " + std::to_string(sms.single_part_units()) + " characters"
                                   : " characters, " + std::to_string(sms.units_per_part()) + " per part");
    }
    reminder["sms_text"] = record.body;
    reminder["sms_parts_text"] = parts;
}

TemplateData confirmation_view(const AppointmentRecord& a, const ClinicZone& zone, const std::string& locale,
                               const std::string& clinic_name, const std::string& mount_url) {
    TemplateData page;
    page.set("page_title", "Appointment booked");
    page.set("clinic_name", clinic_name);
    page.set("appointment", TemplateObject{{"id", a.id},
                                           {"patient_name", a.patient_name},
                                           {"doctor_name", a.doctor_name},
                                           {"phone_e164", a.phone_e164},
                                           {"local_time_text", zone.format(a.starts_at, locale)},
                                           {"time_zone", a.time_zone},
                                           {"utc_text", format_utc_for_people(a.starts_at)}});
    TemplateList notices;
    if (const std::string notice = wall_time_notice(a, zone); !notice.empty()) {
        notices.push_back(TemplateObject{{"message", notice}});
    }
    if (const std::string notice = phone_notice(a); !notice.empty())
        notices.push_back(TemplateObject{{"message", notice}});
    if (const ReminderRecord* r = a.current_reminder()) {
        const ReminderStatusText status = describe_reminder(*r, zone, locale);
        TemplateObject reminder{{"local_time_text", zone.format(r->send_at, locale)},
                                {"utc_text", format_utc_for_people(r->send_at)},
                                {"batch_id", r->batch_id.value_or("")},
                                {"status", r->status},
                                {"status_text", status.text},
                                {"is_problem", status.is_problem}};
        add_sms_text(reminder, *r);
        page.set("reminder", reminder);
    }
    // SinchReminderSchedule: every reminder of the appointment, and a word on one that was too late.
    const std::vector<const ReminderRecord*> current = a.current_reminders();
    page.set("has_several_reminders", current.size() > 1);
    page.set("reminders", current_reminders_view(a, zone, locale));
    if (current.size() > 1) {
        for (const ReminderRecord* r : current) {
            if (r->status != reminder_status::too_late || r == a.current_reminder()) continue;
            notices.push_back(TemplateObject{
                {"message",
                 "The reminder for " + zone.format(r->send_at, locale) +
                     " was too late to send (its time had passed when the appointment was booked); "
                     "the appointment's other reminders are not affected."}});
        }
    }
    page.set("notices", notices);
    page.set("new_url", mount_url);
    page.set("list_url", mount_url + "/list");
    return page;
}

}  // namespace sr
