#pragma once
// The languages a clinic's reminders can be written in (SinchReminderLanguages) and each one's SMS text
// (SinchReminderMessage [language] "text"). Free of httpd.
//
// Rules (README, SinchReminderLanguages):
// - A language is an ISO 639 code ICU knows ("en", "es", "fr", "vi"). Dates and times in the SMS are worded
//   by ICU in that language with the clinic's own conventions for the rest: the language plus the country of
//   SinchReminderLocale (es with en_US gives es_US).
// - The clinic's own language is the language of SinchReminderLocale. SinchReminderMessage "text" (no
//   language) is the text in that language; the built-in default text is English.
// - SinchReminderLanguages lists what the form offers, the first preselected; unset: the clinic's own
// language
//   alone. Every offered language needs a text (its own SinchReminderMessage LANG, or the unlabelled text for
//   the clinic's own language, or the built-in text for English); apache2 -t says which is missing.
// - An appointment keeps the language it was booked in (reschedule, tz-recheck). One stored without a
// language
//   (booked before languages existed) is the clinic's own language.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/sms_text.hpp"

namespace sr {

// Settings' messages by language; "" is the unlabelled SinchReminderMessage.
using LanguageMessages = std::map<std::string, std::string>;

// Throws ConfigError unless `value` is an ISO 639 language code ICU knows, lower case.
std::string parse_language(const std::string& value);

// The language part of an ICU locale name ("es_MX" -> "es").
std::string language_of_locale(const std::string& icu_locale);

struct ClinicLanguage {
    std::string code;          // "es"
    std::string icu_locale;    // how dates are worded: "es_US"
    std::string display_name;  // in the language itself, as ICU writes it: "español"
    MessageTemplate message;
};

class ClinicLanguages {
  public:
    // `offered` empty: the clinic's own language only. Throws ConfigError naming the directive when an
    // offered language has no text, or a text's language is not offered.
    // `unlabelled_message`: SinchReminderMessage "text", nullopt when not configured.
    ClinicLanguages(const std::vector<std::string>& offered, const std::string& clinic_locale,
                    const std::optional<std::string>& unlabelled_message, const LanguageMessages& messages);

    // What the form preselects (the first of SinchReminderLanguages).
    const ClinicLanguage& preselected() const noexcept { return m_languages.front(); }
    // nullptr when `code` is not offered.
    const ClinicLanguage* find(const std::string& code) const noexcept;
    // The language an appointment's SMS is written in: its own if still offered, else the clinic's own
    // language when offered, else the preselected one.
    const ClinicLanguage& for_stored(const std::optional<std::string>& code) const noexcept;
    const std::vector<ClinicLanguage>& all() const noexcept { return m_languages; }

  private:
    std::vector<ClinicLanguage> m_languages;
    std::string m_own;
};

// Every configuration problem of these settings (one message each, naming the directive), for check_config.
std::vector<std::string> language_problems(const std::vector<std::string>& offered,
                                           const std::string& clinic_locale,
                                           const std::optional<std::string>& unlabelled_message,
                                           const LanguageMessages& messages);

}  // namespace sr
