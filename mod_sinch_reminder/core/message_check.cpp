#include "core/message_check.hpp"

#include <utility>

#include "core/clock.hpp"
#include "core/languages.hpp"
#include "core/sms_text.hpp"

namespace sr {

namespace {

std::string parts(std::size_t count) { return std::to_string(count) + (count == 1 ? " part" : " parts"); }

std::string quoted_list(const std::vector<std::string>& words) {
    std::string out;
    for (const std::string& word : words) out += (out.empty() ? "\"" : ", \"") + word + "\"";
    return out;
}

}  // namespace

MessageCheck check_reminder_message(const Settings& settings, std::optional<int> year) {
    MessageCheck check;
    if (settings.time_zone.empty()) return check;
    const ClinicZone zone = ClinicZone::load(settings.time_zone);
    const ClinicLanguages languages(settings.languages, settings.locale, settings.own_message,
                                    settings.messages);
    const int in_year = year.value_or(zone.to_local(now_utc()).year + 1);
    std::vector<std::pair<std::string, std::string>> sources;
    bool clinic_name_shown = false;
    for (const ClinicLanguage& language : languages.all()) {
        const std::string directive = settings.messages.count(language.code)
                                          ? "SinchReminderMessage " + language.code
                                          : "SinchReminderMessage";
        const LongestReminder longest = longest_reminder(
            language.message, settings.clinic_name, settings.doctors, zone, language.icu_locale, in_year);
        if (longest.encoding.segments > static_cast<std::size_t>(settings.max_segments)) {
            check.problems.push_back(
                directive + ": the longest reminder SMS" +
                (languages.all().size() > 1 ? " in " + language.code : std::string()) + " needs " +
                parts(longest.encoding.segments) + " (" + (longest.encoding.gsm7 ? "GSM-7" : "UCS-2") + ", " +
                std::to_string(longest.encoding.units) +
                (longest.encoding.gsm7 ? " septets" : " UTF-16 units") +
                "), more than SinchReminderMaxSegments " + std::to_string(settings.max_segments) +
                " allows: \"" + longest.text + "\" (with the doctor's name \"" + longest.doctor + "\"" +
                (settings.doctors.empty() ? ", a long typed one" : "") +
                "). Shorten the message or the clinic's name, or allow more parts");
        }
        sources.emplace_back(directive, language.message.text());
        if (!settings.clinic_name.empty() && longest.text.find(settings.clinic_name) != std::string::npos)
            clinic_name_shown = true;
    }
    // Whatever reaches the SMS: the messages, the clinic's name if a message shows it, the doctors listed.
    if (clinic_name_shown) sources.emplace_back("SinchReminderClinicName", settings.clinic_name);
    for (const std::string& doctor : settings.doctors) sources.emplace_back("SinchReminderDoctors", doctor);
    for (const auto& [directive, text] : sources) {
        const std::vector<std::string> found = sensitive_words_in(text, settings.sensitive_words);
        if (!found.empty()) {
            check.warnings.push_back(
                "SR0027: " + directive + " puts " + quoted_list(found) +
                " into the reminder SMS, which is read on lock screens: such a word tells "
                "others too much about the patient (the words checked: "
                "SinchReminderSensitiveWords)");
        }
    }
    return check;
}

}  // namespace sr
