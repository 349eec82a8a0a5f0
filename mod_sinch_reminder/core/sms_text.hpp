// sms_text.hpp: the text of the reminder SMS, and how many SMS parts a text costs.
//
// The text comes from an admin-configured Mustache template. To keep protected health information out of
// SMS (peers.md, "Takeaways"), it may use only these placeholders:
//   {{clinic}}     the clinic's name (configuration)
//   {{doctor}}     the doctor's name as staff typed it
//   {{date}}       the appointment's local date, e.g. "Sat, Nov 28, 2026"
//   {{time}}       the appointment's local time with zone, e.g. "2:30 PM EST"
//   {{date_time}}  both, e.g. "Sat, Nov 28, 2026, 2:30 PM EST"
// No patient name, department or diagnosis. Sections on these names work, and an empty value counts as
// false: "{{#doctor}} with {{doctor}}{{/doctor}}". Values are inserted as they are (an SMS is not HTML),
// except that control characters become spaces.
//
// Fitting into one SMS: one part holds 160 GSM-7 septets, or 70 UTF-16 units when any character is outside
// the GSM-7 alphabet. Dates are written in shorter forms until the text fits: message_field_candidates()
// lists the field sets from the most to the least informative date, and render_fitting() takes the first
// one that needs the fewest parts. Names are never shortened.
//
// Thread safety: MessageTemplate is immutable after parse(); every function may be called from any thread.
#pragma once

#include "core/clock.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace sr {

// What a reminder SMS may say. All UTF-8.
struct MessageFields {
    std::string clinic;
    std::string doctor;
    std::string date;
    std::string time;
    std::string date_time;
};

class MessageTemplate {
  public:
    // Starts with the clinic and ends with the opt-out, as peers.md recommends. With a 30-character date
    // and time, a clinic and a doctor of up to 66 characters together fit in one GSM-7 SMS.
    static constexpr const char* kDefaultText =
        "{{clinic}} reminder: your appointment with {{doctor}} is on {{date_time}}. Reply STOP to opt out.";

    // Throws ConfigError (core/errors.hpp) naming an unknown placeholder, a Mustache syntax error or
    // text that is not UTF-8.
    static MessageTemplate parse(const std::string& text);

    std::string render(const MessageFields& fields) const;

    // The template as configured.
    const std::string& text() const noexcept;

  private:
    struct Compiled;
    explicit MessageTemplate(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}
    std::shared_ptr<const Compiled> compiled_;
};

struct SmsEncoding {
    bool gsm7 = true;     // every character is in the GSM 03.38 alphabet (basic or extension table)
    size_t units = 0;     // GSM-7: septets (extension characters such as € [ ] { } count 2);
                          // otherwise UTF-16 code units (characters outside the BMP count 2)
    size_t segments = 1;  // SMS parts: 1 up to 160 septets / 70 units, else parts of 153 / 67 (an empty
                          // text counts as 1)

    size_t single_part_units() const { return gsm7 ? 160 : 70; }
    size_t units_per_part() const { return gsm7 ? 153 : 67; }  // when the text is split
};

// Malformed UTF-8 counts as U+FFFD (not GSM-7), so it never looks cheaper than it is.
// Parts are packed greedily without splitting an extension character or a surrogate pair across two
// parts, as handsets need; that is ceil(units / 153) or ceil(units / 67), or one more at such a boundary.
SmsEncoding analyse_sms(const std::string& utf8);

// Field sets for one appointment, from the most to the least informative date ("en_US"):
//   0  date_time from ClinicZone::format:  "Sat, Nov 28, 2026, 2:30 PM EST"  date "Sat, Nov 28, 2026"
//   1  without the year:                   "Sat, Nov 28, 2:30 PM EST"        date "Sat, Nov 28"
//   2  without the weekday:                "Nov 28, 2:30 PM EST"             date "Nov 28"
//   3  numeric date:                       "11/28, 2:30 PM EST"              date "11/28"
// `time` is "2:30 PM EST" in all of them. Words and order follow the ICU locale; the offset and the zone
// abbreviation follow the OS's tz rules, like ClinicZone::format. Throws std::invalid_argument for a
// malformed locale, std::runtime_error if ICU fails.
std::vector<MessageFields> message_field_candidates(const std::string& clinic, const std::string& doctor,
                                                    const ClinicZone& zone, Instant appointment_utc,
                                                    const std::string& icu_locale);

struct FittedMessage {
    std::string text;
    SmsEncoding encoding;
    size_t candidate = 0;  // index of the field set used
};

// Renders each candidate in turn and returns the first that needs the fewest SMS parts (the first that fits
// in one part, if any does). Throws std::invalid_argument if `candidates` is empty.
FittedMessage render_fitting(const MessageTemplate& message_template,
                             const std::vector<MessageFields>& candidates);

// The reminder text for one appointment: the template filled with the best-fitting date format.
// An empty clinic name reads "Your clinic".
std::string reminder_text(const MessageTemplate& message_template, const std::string& clinic,
                          const std::string& doctor, const ClinicZone& zone, Instant appointment_utc,
                          const std::string& icu_locale);

// The configuration check (apache2 -t): the longest reminder a configuration can produce. The template is
// rendered, fitted as reminder_text() does, for each doctor of `doctors` or, when staff type the name (an
// empty list), for a name of k_long_doctor_name_characters, at 22:45 on every weekday of every month of
// `year` (the longest day, month and time words of the locale, both sides of DST).
constexpr size_t k_long_doctor_name_characters = 40;
struct LongestReminder {
    std::string text;
    SmsEncoding encoding;
    std::string doctor;  // the doctor's name it was rendered with
};
LongestReminder longest_reminder(const MessageTemplate& message_template, const std::string& clinic,
                                 const std::vector<std::string>& doctors, const ClinicZone& zone,
                                 const std::string& icu_locale, int year);

// The words of `words` that `text` contains as whole words, ignoring case (Unicode case folding), in the
// order of `words`. For SinchReminderSensitiveWords: an SMS is read on lock screens.
std::vector<std::string> sensitive_words_in(const std::string& text, const std::vector<std::string>& words);

}  // namespace sr
