#include "core/appointment_form.hpp"
#include "core/text_join.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

namespace sr {

std::string trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return "";
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

std::size_t utf8_length(const std::string& text) {
    std::size_t count = 0;
    for (unsigned char c : text) count += (c & 0xC0) != 0x80;
    return count;
}

namespace {

// Names: required, trimmed, bounded, valid UTF-8, no control characters.
std::optional<std::string> check_name(const std::string& raw, const char* what, std::string& out) {
    if (!is_valid_utf8(raw))
        return std::string("The ") + what + " contains characters that are not valid text.";
    out = trim(raw);
    if (out.empty()) return std::string("Enter the ") + what + ".";
    if (utf8_length(out) > k_max_name_characters) {
        return std::string("The ") + what + " is too long (at most " + std::to_string(k_max_name_characters) +
               " characters).";
    }
    for (unsigned char c : out) {
        if (c < 0x20 || c == 0x7F) return std::string("The ") + what + " contains control characters.";
    }
    return std::nullopt;
}

std::string date_problem(const std::string& date, const std::string& time) {
    if (trim(date).empty()) return "date";
    if (trim(time).empty()) return "time";
    return "";
}

// The date and time checks, shared by booking and rescheduling.
void check_time(const std::string& raw_date, const std::string& raw_time, const ValidationContext& context,
                FormValidation& v, ValidAppointment& a) {
    const std::string date = trim(raw_date);
    const std::string time = trim(raw_time);
    const std::string missing = date_problem(date, time);
    if (missing == "date") {
        v.field_errors["appointment_date"] = "Enter the appointment date (YYYY-MM-DD).";
    } else if (missing == "time") {
        v.field_errors["appointment_time"] = "Enter the appointment time (HH:MM, 24-hour).";
    } else if (auto local = parse_local_date_time(date, time); !local) {
        // Say which half is wrong.
        if (!parse_local_date_time(date, "12:00")) {
            v.field_errors["appointment_date"] = "This is not a date in the calendar; use YYYY-MM-DD.";
        } else {
            v.field_errors["appointment_time"] =
                "This is not a time of day; use HH:MM (24-hour, 00:00 to 23:59).";
        }
    } else {
        a.requested_local = *local;
        try {
            a.starts = context.zone->to_utc(*local, context.wall_time_policy);
            if (a.starts.resolution != WallTimeResolution::Exact) {
                v.notices.push_back(context.zone->describe_resolution(*local, a.starts));
            }
            if (a.starts.utc <= context.now) {
                v.field_errors["appointment_date"] = "This appointment time has already passed.";
            } else if (a.starts.utc > context.now + std::chrono::hours(24 * 731)) {
                v.field_errors["appointment_date"] = "This is more than two years ahead; check the year.";
            } else {
                const ReminderSchedule schedule =
                    context.schedule.empty()
                        ? ReminderSchedule{ScheduleEntry{context.lead_time, std::nullopt, 0}}
                        : context.schedule;
                a.reminders = reminder_times(a.starts.utc, schedule, context.quiet_hours, *context.zone);
                a.reminder_at = a.reminders.front().time.send_at;
                const std::size_t passed = static_cast<std::size_t>(
                    std::count_if(a.reminders.begin(), a.reminders.end(),
                                  [&](const PlannedReminder& r) { return r.passed(context.now); }));
                a.reminder_slot_passed = passed == a.reminders.size();
                if (a.reminders.front().after_appointment) {
                    v.notices.push_back(
                        "Every reminder of the schedule (SinchReminderSchedule) would fall at or after "
                        "the appointment, so no SMS will be sent for this appointment. Please tell "
                        "the patient directly.");
                } else {
                    for (const PlannedReminder& reminder : a.reminders) {
                        if (!reminder.passed(context.now)) continue;
                        const std::string when = context.zone->format(reminder.time.send_at, "en_US");
                        const std::string what =
                            reminder.time.moved_for_quiet_hours
                                ? "The reminder would fall in the clinic's quiet hours (" +
                                      context.quiet_hours.text() + "), and the last time before them (" +
                                      when + ")"
                                : "The reminder time (" + when + ")";
                        v.notices.push_back(
                            a.reminder_slot_passed && a.reminders.size() == 1
                                ? what +
                                      " has already passed, so no SMS will be sent for this appointment. "
                                      "Please tell the patient directly."
                            : a.reminder_slot_passed
                                ? what +
                                      " has already passed, like every reminder of this appointment, so no "
                                      "SMS "
                                      "will be sent for it. Please tell the patient directly."
                                : what +
                                      " has already passed, so that reminder will not be sent; the other "
                                      "reminder" +
                                      (a.reminders.size() - passed == 1 ? " still goes." : "s still go."));
                    }
                }
            }
        } catch (const WallTimeError& e) {
            v.field_errors["appointment_time"] = e.what();
        }
    }
}

}  // namespace

std::optional<std::string> doctor_name_problem(const std::string& name) {
    static const std::string k_link =
        "The doctor's name must not contain web addresses, e-mail addresses or markup: it goes into the SMS "
        "as "
        "typed. Write it like \"Dr. Rivera\", with a space after a dot.";
    if (!is_valid_utf8(name) || trim(name).empty() || utf8_length(name) > k_max_name_characters) {
        return "A doctor's name must be 1 to " + std::to_string(k_max_name_characters) +
               " characters of text.";
    }
    // Markup, and the characters links, e-mail addresses and templates are made of.
    if (name.find_first_of("<>{}[]`\\|/@:;=\"") != std::string::npos) return k_link;
    // A domain name ("evil.example", "bit.ly"): a dot directly followed by letters; or "www".
    static const std::regex domain(R"([A-Za-z0-9-]\.[A-Za-z]{2,})", std::regex::optimize);
    static const std::regex www(R"((^|[^A-Za-z])www([^A-Za-z]|$))", std::regex::icase | std::regex::optimize);
    if (std::regex_search(name, domain) || std::regex_search(name, www)) return k_link;
    // A number to call back: four digits or more, however they are grouped.
    static const std::regex digits(R"([0-9][0-9 ().-]{2,}[0-9])", std::regex::optimize);
    if (std::regex_search(name, digits)) {
        return std::string(
            "The doctor's name must not contain a phone number: it goes into the SMS as typed.");
    }
    return std::nullopt;
}

namespace {

// SinchReminderAllowedCountries: a number of an allowed country, or one whose calling code only allowed
// countries use (a number the old numbering data cannot place).
bool phone_country_allowed(const PhoneResult& phone, const std::vector<std::string>& allowed) {
    if (allowed.empty()) return true;
    if (!phone.region.empty() && phone.region != "ZZ") {
        return std::find(allowed.begin(), allowed.end(), phone.region) != allowed.end();
    }
    const int code = phone_calling_code(phone.e164);
    return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& country) {
        return phone_calling_code_of_region(country) == code;
    });
}

}  // namespace

FormValidation validate_appointment(const AppointmentInput& input, const ValidationContext& context) {
    FormValidation v;
    ValidAppointment a;

    if (auto error = check_name(input.patient_name, "patient's name", a.patient_name)) {
        v.field_errors["patient_name"] = *error;
    }
    if (auto error = check_name(input.doctor_name, "doctor's name", a.doctor_name)) {
        v.field_errors["doctor_name"] = *error;
    } else if (!context.doctors.empty()) {
        if (std::find(context.doctors.begin(), context.doctors.end(), a.doctor_name) ==
            context.doctors.end()) {
            v.field_errors["doctor_name"] = "Choose the doctor from the list.";
        }
    } else if (const auto problem = doctor_name_problem(a.doctor_name)) {
        v.field_errors["doctor_name"] = *problem;
    }

    const PhoneResult phone = normalize_phone(input.phone, context.default_country);
    if (phone.check == PhoneCheck::Invalid) {
        v.field_errors["phone"] = phone.problem;
    } else if (phone.check == PhoneCheck::PossibleUnverified && !input.phone_confirmed) {
        v.phone_needs_confirmation = true;
        v.phone_warning = phone.problem;
        v.field_errors["phone"] = "Please confirm this number: " + phone.problem;
    } else if (!phone_country_allowed(phone, context.allowed_countries)) {
        v.field_errors["phone"] = "This clinic sends reminders only to numbers of " +
                                  joined(context.allowed_countries) + "; this number is of another country.";
    } else {
        a.phone_e164 = phone.e164;
        if (!phone.problem.empty()) v.notices.push_back(phone.problem);
    }

    check_time(input.appointment_date, input.appointment_time, context, v, a);

    const MessageTemplate* message = context.message;
    std::string locale = context.locale;
    if (context.languages) {
        const ClinicLanguage* language = input.language.empty() ? &context.languages->preselected()
                                                                : context.languages->find(input.language);
        if (!language) {
            std::string offered;
            for (const ClinicLanguage& l : context.languages->all())
                offered += (offered.empty() ? "" : ", ") + l.code + " (" + l.display_name + ")";
            v.field_errors["language"] =
                "This clinic writes reminders in " + offered + "; choose one of them.";
        } else {
            a.language = language->code;
            message = &language->message;
            locale = language->icu_locale;
        }
    }
    if (v.field_errors.empty() && message && context.zone) {
        a.reminder_body =
            reminder_text(*message, context.clinic_name, a.doctor_name, *context.zone, a.starts.utc, locale);
        const SmsEncoding sms = analyse_sms(a.reminder_body);
        if (context.max_segments > 0 && sms.segments > static_cast<std::size_t>(context.max_segments)) {
            v.field_errors["doctor_name"] =
                "With this doctor's name the reminder SMS would need " + std::to_string(sms.segments) +
                " parts; this clinic sends at most " + std::to_string(context.max_segments) +
                (sms.gsm7 ? ""
                          : " (the text has characters outside the basic SMS alphabet, so each part holds 70 "
                            "characters instead of 160)") +
                ". Please shorten the name.";
        }
    }
    if (v.field_errors.empty()) v.appointment = std::move(a);
    return v;
}

FormValidation validate_appointment_time(const std::string& date, const std::string& time,
                                         const ValidationContext& context) {
    FormValidation v;
    ValidAppointment a;
    check_time(date, time, context, v, a);
    if (v.field_errors.empty()) v.appointment = std::move(a);
    return v;
}

}  // namespace sr
