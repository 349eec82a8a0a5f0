#pragma once
// What staff (or an integrating system) submit, checked field by field. Expected mistakes are
// results with a message per field, never exceptions.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/encoding.hpp"
#include "core/languages.hpp"
#include "core/phone.hpp"
#include "core/reminder_timing.hpp"
#include "core/sms_text.hpp"

namespace sr {

struct AppointmentInput {
    std::string patient_name;
    std::string doctor_name;
    std::string phone;
    std::string appointment_date;  // YYYY-MM-DD, clinic-local
    std::string appointment_time;  // HH:MM, clinic-local
    bool phone_confirmed = false;  // staff checked a number the (old) numbering data does not know
    std::string language;          // the patient's SMS language (ISO 639); "" = the one preselected
};

struct ValidationContext {
    const ClinicZone* zone = nullptr;
    std::string default_country;  // ISO alpha-2 or empty
    std::chrono::seconds lead_time{7200};
    // SinchReminderSchedule: the reminders of each appointment. Empty: the one entry lead_time gives.
    ReminderSchedule schedule;
    QuietHours quiet_hours;  // SinchReminderQuietHours (reminder_timing.hpp)
    Instant now{};
    WallTimePolicy wall_time_policy = WallTimePolicy::Lenient;
    // SinchReminderDoctors: when not empty, the doctor must be one of these (exactly, after trimming).
    std::vector<std::string> doctors;
    // SinchReminderAllowedCountries (upper-case ISO alpha-2): when not empty, the number must be of one of
    // them.
    std::vector<std::string> allowed_countries;
    // The reminder SMS: with `message` set, a booking that passed every other check has its text rendered
    // (ValidAppointment::reminder_body), and one needing more than `max_segments` parts (0: any) is refused
    // under doctor_name, the only free text in it.
    const MessageTemplate* message = nullptr;
    std::string clinic_name;
    std::string locale = "en_US";
    // With `languages` set, the input's language picks the message and the locale (message and locale above
    // are then unused), and a language the clinic does not offer is refused under "language".
    const ClinicLanguages* languages = nullptr;
    int max_segments = 0;
};

// An appointment that passed every check, ready to store.
struct ValidAppointment {
    std::string patient_name;  // trimmed
    std::string doctor_name;   // trimmed
    std::string phone_e164;
    LocalDateTime requested_local;  // as typed
    ResolvedTime starts;            // UTC, plus how a DST gap/overlap was resolved
    // Every reminder (reminder_times(): one per schedule entry), each too_late when passed(now).
    std::vector<PlannedReminder> reminders;
    Instant reminder_at;                // the first of them
    bool reminder_slot_passed = false;  // every one is too late: nothing goes to Sinch
    std::string reminder_body;          // the SMS text, when the context has a message
    std::string language;               // the SMS's language, when the context has languages
};

struct FormValidation {
    std::map<std::string, std::string> field_errors;  // field name -> message for staff
    bool phone_needs_confirmation = false;            // possible but unknown number, not yet confirmed
    std::string phone_warning;
    std::vector<std::string> notices;  // things staff must see on the confirmation (DST shift, no reminder)
    std::optional<ValidAppointment> appointment;  // set when there are no errors

    bool ok() const { return appointment.has_value(); }
};

constexpr std::size_t k_max_name_characters = 200;

FormValidation validate_appointment(const AppointmentInput& input, const ValidationContext& context);

// Only the date and time checks of validate_appointment, with the same messages (under
// "appointment_date" / "appointment_time") and notices: for a reschedule. When ok, the appointment
// has requested_local, starts, reminder_at and reminder_slot_passed set; names and phone are empty.
FormValidation validate_appointment_time(const std::string& date, const std::string& time,
                                         const ValidationContext& context);

// Why free text cannot be a doctor's name in an SMS (a web address, an e-mail address, markup, a phone
// number: what a phishing text needs), or nullopt. Also used for SinchReminderDoctors at parse time.
std::optional<std::string> doctor_name_problem(const std::string& name);

// Helpers, exposed for tests (is_valid_utf8 is in core/encoding.hpp).
std::string trim(const std::string& text);
std::size_t utf8_length(const std::string& text);

}  // namespace sr
