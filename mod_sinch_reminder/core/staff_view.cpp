#include "core/staff_view.hpp"

#include <set>

#include "core/api_json.hpp"
#include "core/appointment_view.hpp"
#include "core/delivery_reports.hpp"
#include "core/redact.hpp"

#include <algorithm>

namespace sr {

namespace {

std::string delivery_words(const std::string& status) {
    if (status == "Delivered") return "Delivered to the phone";
    if (status == "Failed") return "Failed: not delivered";
    if (status == "Expired") return "Expired before delivery";
    if (status == "Cancelled") return "Cancelled at Sinch";
    if (status == "Queued") return "Queued at Sinch";
    if (status == "Dispatched") return "Dispatched to the phone network";
    if (status == "Aborted") return "Aborted by Sinch: not delivered";
    if (status == "Rejected") return "Rejected by the phone network";
    if (status == "Deleted") return "Deleted by the phone network";
    if (status == "Unknown") return "Unknown delivery (no receipt)";
    return "Delivery status " + status;
}

std::string action_words(const std::string& action) {
    if (action == "create") return "Booked";
    if (action == "cancel") return "Cancelled";
    if (action == "reschedule") return "Rescheduled";
    if (action == "delivery_report") return "Delivery report";
    if (action == "reconcile") return "Reconciliation";
    if (action == "attention") return "Flagged";
    return action;
}

// `position` is "after" or "before" with `cursor` (keyset pages); page 1 needs neither.
std::string list_url(const std::string& mount_url, const ListQuery& typed, const ParsedListQuery& parsed,
                     int page, const char* position = "", const std::string& cursor = "") {
    std::string query;
    auto add = [&](const char* name, const std::string& value) {
        if (value.empty()) return;
        query += (query.empty() ? "?" : "&") + std::string(name) + "=" + url_encode(value);
    };
    add("from", parsed.from);
    add("to", parsed.to);
    add("q", typed.q);
    add("status", parsed.filter.status);
    if (page > 1) {
        add(position, cursor);
        add("page", std::to_string(page));
    }
    return mount_url + "/list" + query;
}

}  // namespace

std::string delivery_text(const ReminderRecord& r, const ClinicZone& zone, const std::string& locale) {
    if (!r.delivery_status || r.delivery_status->empty()) return "";
    std::string text = delivery_words(*r.delivery_status);
    if (delivery_is_problem(r) && r.delivery_code && *r.delivery_code != 0) {
        text += " (code " + std::to_string(*r.delivery_code) + ")";
    }
    if (r.delivery_at) text += " at " + zone.format(*r.delivery_at, locale);
    return text;
}

bool delivery_is_problem(const ReminderRecord& r) {
    if (!r.delivery_status) return false;
    const std::string& s = *r.delivery_status;
    return s == "Failed" || s == "Aborted" || s == "Rejected" || s == "Expired" || s == "Deleted" ||
           s == "Unknown";
}

std::string short_reminder_status(const std::string& status) {
    if (status == "cancelled") return "Reminder cancelled";
    for (const auto& [value, label] : status_filter_options()) {
        if (value == status) return label;
    }
    return status;
}

void add_staff_details(TemplateData& page, const AppointmentRecord& a, const std::vector<AuditEntry>& audit,
                       const ClinicZone& zone, const std::string& locale, const StaffActions& actions) {
    const bool cancelled = a.status == "cancelled";
    if (cancelled) page.set("page_title", "Appointment cancelled");
    page.set("appointment", TemplateObject{{"id", a.id},
                                           {"patient_name", a.patient_name},
                                           {"doctor_name", a.doctor_name},
                                           {"phone_e164", a.phone_e164},
                                           {"local_time_text", zone.format(a.starts_at, locale)},
                                           {"time_zone", a.time_zone},
                                           {"utc_text", format_utc_for_people(a.starts_at)},
                                           {"status", a.status},
                                           {"is_cancelled", cancelled},
                                           {"revision", std::to_string(a.revision)}});

    TemplateList notices;
    // `done` comes from the URL (the redirect after a change), so anyone can write it into a link: it only
    // picks which sentence to show, and the sentence is shown only when the stored state agrees.
    if (actions.done == "cancelled" && cancelled) {
        notices.push_back(TemplateObject{{"message", "The appointment was cancelled."}});
    } else if (actions.done == "rescheduled" && !cancelled && a.revision > 1) {
        notices.push_back(TemplateObject{
            {"message", "The appointment was moved to " + zone.format(a.starts_at, locale) + "."}});
    }
    if (const std::string notice = wall_time_notice(a, zone); !notice.empty()) {
        notices.push_back(TemplateObject{{"message", notice}});
    }
    if (!actions.reminder_time_notice.empty()) {
        notices.push_back(TemplateObject{{"message", actions.reminder_time_notice}});
    }
    if (const std::string notice = phone_notice(a); !notice.empty())
        notices.push_back(TemplateObject{{"message", notice}});

    if (const ReminderRecord* r = a.current_reminder()) {
        ReminderStatusText status = describe_reminder(*r, zone, locale);
        if (cancelled && r->status == reminder_status::sent) {
            status = {"Already sent: the reminder SMS went out before the appointment was cancelled (" +
                          zone.format(r->send_at, locale) +
                          "). Tell the patient the appointment is cancelled.",
                      true};
        }
        const bool problem = status.is_problem || r->attention.has_value() || delivery_is_problem(*r);
        TemplateObject reminder{
            {"local_time_text", zone.format(r->send_at, locale)},
            {"utc_text", format_utc_for_people(r->send_at)},
            {"batch_id", r->batch_id.value_or("")},
            {"status", r->status},
            {"status_text", status.text},
            {"is_problem", problem},
            {"delivery_text", delivery_text(*r, zone, locale)},
            {"delivery_is_problem", delivery_is_problem(*r)},
            {"attention", r->attention.value_or("")},
            {"attention_time_text", r->attention_at ? zone.format(*r->attention_at, locale) : ""}};
        add_sms_text(reminder, *r);
        page.set("reminder", reminder);
    }
    // SinchReminderSchedule: each reminder of the current revision, with what Sinch reported.
    TemplateList reminders;
    const std::vector<const ReminderRecord*> current = a.current_reminders();
    for (const ReminderRecord* r : current) {
        ReminderStatusText status = describe_reminder(*r, zone, locale);
        if (cancelled && r->status == reminder_status::sent) {
            status = {"Already sent before the appointment was cancelled.", true};
        }
        reminders.push_back(TemplateObject{
            {"slot", std::to_string(r->slot)},
            {"client_reference", r->client_reference},
            {"local_time_text", zone.format(r->send_at, locale)},
            {"utc_text", format_utc_for_people(r->send_at)},
            {"batch_id", r->batch_id.value_or("")},
            {"status", r->status},
            {"status_text", status.text},
            {"delivery_text", delivery_text(*r, zone, locale)},
            {"attention", r->attention.value_or("")},
            {"is_problem", status.is_problem || r->attention.has_value() || delivery_is_problem(*r)}});
        if (current.size() > 1 && r->status == reminder_status::too_late && r != a.current_reminder()) {
            notices.push_back(TemplateObject{
                {"message", "The reminder for " + zone.format(r->send_at, locale) +
                                " was too late to send (its time had passed when it was stored); the "
                                "appointment's other reminders are not affected."}});
        }
    }
    page.set("has_several_reminders", current.size() > 1);
    page.set("reminders", reminders);
    // Older revisions whose batch may still matter (a cancel in progress, a late delivery report).
    TemplateList history;
    std::set<int> cancelling_revisions;
    for (auto it = a.reminders.rbegin(); it != a.reminders.rend(); ++it) {
        const ReminderRecord& r = *it;
        if (r.revision == a.revision) continue;
        history.push_back(
            TemplateObject{{"revision", std::to_string(r.revision)},
                           {"status", r.status},
                           {"status_text", describe_reminder(r, zone, locale).text},
                           {"local_time_text", zone.format(r.send_at, locale)},
                           {"batch_id", r.batch_id.value_or("")},
                           {"delivery_text", delivery_text(r, zone, locale)},
                           {"attention", r.attention.value_or("")},
                           {"is_problem", r.status == reminder_status::cancel_failed ||
                                              r.attention.has_value() || delivery_is_problem(r)}});
        // Once per revision, however many of its reminders (SinchReminderSchedule) are still being cancelled.
        if ((r.status == reminder_status::cancelling || r.status == reminder_status::cancel_failed) &&
            cancelling_revisions.insert(r.revision).second) {
            notices.push_back(TemplateObject{
                {"message",
                 "The reminder of revision " + std::to_string(r.revision) +
                     " (for the old time) is still being cancelled at Sinch; the module keeps trying."}});
        }
    }
    page.set("has_history", !history.empty());
    page.set("history", history);
    page.set("notices", notices);

    TemplateList trail;
    for (const AuditEntry& entry : audit) {
        trail.push_back(
            TemplateObject{{"when_text", zone.format(entry.at, locale)},
                           {"actor", entry.actor.empty() ? "(no login)" : entry.actor},
                           {"remote_addr", entry.remote_addr.value_or("")},
                           {"action", action_words(entry.action)},
                           {"details_text", describe_audit_details(entry.action, entry.details_json)}});
    }
    page.set("has_audit", !trail.empty());
    page.set("audit", trail);

    if (!cancelled) {
        TemplateList errors;
        for (const std::string& message : actions.errors)
            errors.push_back(TemplateObject{{"message", message}});
        page.set("actions", TemplateObject{{"cancel_csrf_token", actions.cancel_token},
                                           {"reschedule_csrf_token", actions.reschedule_token},
                                           {"cancel_url", actions.cancel_url},
                                           {"reschedule_url", actions.reschedule_url},
                                           {"reschedule_date", actions.reschedule_date},
                                           {"reschedule_time", actions.reschedule_time},
                                           {"time_zone", a.time_zone},
                                           {"has_errors", !errors.empty()},
                                           {"errors", errors}});
    } else {
        page.set("actions", false);
    }
}

TemplateData list_view(const ListPage& list, const ParsedListQuery& parsed, const ListQuery& typed,
                       const ClinicZone& zone, const std::string& locale, const std::string& clinic_name,
                       const std::string& mount_url) {
    TemplateData page;
    page.set("page_title", "Scheduled appointments");
    page.set("clinic_name", clinic_name);
    page.set("time_zone", zone.name());
    page.set("filters", TemplateObject{{"from", parsed.errors.count("from") ? typed.from : parsed.from},
                                       {"to", parsed.errors.count("to") ? typed.to : parsed.to},
                                       {"q", typed.q},
                                       {"status", parsed.filter.status}});
    TemplateList options;
    for (const auto& [value, label] : status_filter_options()) {
        options.push_back(
            TemplateObject{{"value", value}, {"label", label}, {"selected", value == parsed.filter.status}});
    }
    page.set("status_options", options);
    TemplateList errors;
    for (const auto& [field, message] : parsed.errors) errors.push_back(TemplateObject{{"message", message}});
    page.set("has_errors", !errors.empty());
    page.set("errors", errors);

    TemplateList rows;
    for (const AppointmentRecord& a : list.appointments) {
        const ClinicZone own = a.time_zone == zone.name() ? zone : ClinicZone::load(a.time_zone);
        TemplateObject row{{"url", mount_url + "/a/" + a.id},
                           {"patient_name", a.patient_name},
                           {"doctor_name", a.doctor_name},
                           {"phone_masked", mask_phone(a.phone_e164)},
                           {"local_time_text", own.format(a.starts_at, locale)},
                           {"is_cancelled", a.status == "cancelled"},
                           {"clinic", a.clinic}};
        const std::vector<const ReminderRecord*> current = a.current_reminders();
        row["reminder_count_text"] =
            current.size() > 1 ? "next of " + std::to_string(current.size()) + " reminders" : "";
        if (const ReminderRecord* r = a.current_reminder()) {
            const ReminderStatusText status = describe_reminder(*r, own, locale);
            std::string text = short_reminder_status(r->status);
            if (a.status == "cancelled" && r->status == reminder_status::sent)
                text = "Already sent before the cancel";
            row["reminder_status"] = r->status;
            row["reminder_status_text"] = text;
            row["reminder_local_time_text"] = own.format(r->send_at, locale);
            row["delivery_text"] = delivery_text(*r, own, locale);
            row["attention"] = r->attention.value_or("");
            // Any of the reminders, as the list's `problem` filter sees it.
            bool other_problem = false;
            for (const ReminderRecord* other : current) {
                // (One too late at booking is not: staff were told then, and the others go.)
                other_problem =
                    other_problem || (other != r && other->status != reminder_status::too_late &&
                                      (describe_reminder(*other, own, locale).is_problem ||
                                       other->attention.has_value() || delivery_is_problem(*other)));
            }
            if (other_problem)
                row["reminder_count_text"] = "next of " + std::to_string(current.size()) +
                                             " reminders; another one has a problem: open it";
            row["is_problem"] = status.is_problem || r->attention.has_value() || delivery_is_problem(*r) ||
                                (a.status == "cancelled" && r->status == reminder_status::sent) ||
                                other_problem;
        } else {
            row["reminder_status"] = "";
            row["reminder_status_text"] = "No reminder";
            row["reminder_local_time_text"] = "";
            row["delivery_text"] = "";
            row["attention"] = "";
            row["is_problem"] = false;
        }
        rows.push_back(row);
    }
    page.set("appointments", rows);
    page.set("has_appointments", !rows.empty());
    page.set("show_clinics", parsed.filter.clinics.size() > 1);
    std::string summary = "Showing ";
    if (!parsed.from.empty() && !parsed.to.empty()) {
        summary += parsed.from == parsed.to ? "appointments on " + parsed.from
                                            : "appointments from " + parsed.from + " to " + parsed.to;
    } else if (!parsed.from.empty()) {
        summary += "appointments from " + parsed.from + " on";
    } else if (!parsed.to.empty()) {
        summary += "appointments up to " + parsed.to;
    } else {
        summary += "all appointments";
    }
    summary += " (" + zone.name() + "), page " + std::to_string(parsed.page) + ".";
    page.set("summary_text", summary);
    // Keyset pages: the next one starts after this page's last row, the previous one ends before its first.
    const int previous = std::max(parsed.page - 1, 1);
    page.set("prev_url", list.has_previous && !list.first_cursor.empty()
                             ? list_url(mount_url, typed, parsed, previous, "before", list.first_cursor)
                             : "");
    page.set("next_url", list.has_more && !list.last_cursor.empty()
                             ? list_url(mount_url, typed, parsed, parsed.page + 1, "after", list.last_cursor)
                             : "");
    page.set("new_url", mount_url);
    return page;
}

}  // namespace sr
