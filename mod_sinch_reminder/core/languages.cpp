#include "core/languages.hpp"

#include <unicode/locid.h>
#include <unicode/uloc.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cstring>

#include "core/errors.hpp"

namespace sr {

namespace {

bool icu_knows_language(const std::string& code) {
    for (const char* const* language = uloc_getISOLanguages(); *language; ++language) {
        if (code == *language) return true;
    }
    return false;
}

// The ICU locale dates are worded in: the clinic's own locale for its own language, else the language with
// the clinic's country (es + en_US -> es_US; ICU falls back to plain "es" where it has no such data).
std::string locale_for(const std::string& code, const std::string& clinic_locale) {
    if (code == language_of_locale(clinic_locale)) return clinic_locale;
    const icu::Locale clinic(clinic_locale.c_str());
    const std::string country = clinic.getCountry();
    return country.empty() ? code : code + "_" + country;
}

std::string display_name(const std::string& code) {
    const icu::Locale language(code.c_str());
    icu::UnicodeString name;
    language.getDisplayLanguage(language, name);
    std::string utf8;
    name.toUTF8String(utf8);
    return utf8;
}

std::vector<std::string> offered_or_own(const std::vector<std::string>& offered, const std::string& own) {
    return offered.empty() ? std::vector<std::string>{own} : offered;
}

// The text of `code`, or nullopt when there is none (language_problems says why).
std::optional<std::string> text_for(const std::string& code, const std::string& own,
                                    bool languages_configured, const std::optional<std::string>& unlabelled,
                                    const LanguageMessages& messages) {
    if (const auto labelled = messages.find(code); labelled != messages.end()) return labelled->second;
    if (code == own) {
        if (unlabelled) return unlabelled;
        // As before languages existed: the built-in text, whatever SinchReminderLocale says.
        if (!languages_configured || code == "en") return std::string(MessageTemplate::kDefaultText);
        return std::nullopt;
    }
    if (code == "en") return std::string(MessageTemplate::kDefaultText);
    return std::nullopt;
}

}  // namespace

std::string parse_language(const std::string& value) {
    const bool shaped = (value.size() == 2 || value.size() == 3) &&
                        std::all_of(value.begin(), value.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    if (!shaped || !icu_knows_language(value)) {
        throw ConfigError("'" + value + "' is not an ISO 639 language code like en, es, fr or vi");
    }
    return value;
}

std::string language_of_locale(const std::string& icu_locale) {
    return icu::Locale(icu_locale.c_str()).getLanguage();
}

std::vector<std::string> language_problems(const std::vector<std::string>& offered,
                                           const std::string& clinic_locale,
                                           const std::optional<std::string>& unlabelled_message,
                                           const LanguageMessages& messages) {
    std::vector<std::string> problems;
    const std::string own = language_of_locale(clinic_locale);
    const std::vector<std::string> languages = offered_or_own(offered, own);
    for (std::size_t i = 0; i < languages.size(); ++i) {
        const std::string& code = languages[i];
        if (std::find(languages.begin(), languages.begin() + static_cast<std::ptrdiff_t>(i), code) !=
            languages.begin() + static_cast<std::ptrdiff_t>(i)) {
            problems.push_back("SinchReminderLanguages names " + code + " twice");
            continue;
        }
        if (!text_for(code, own, !offered.empty(), unlabelled_message, messages)) {
            problems.push_back("SinchReminderLanguages offers " + code + " but there is no text in it: add " +
                               "SinchReminderMessage " + code + " \"...\"" +
                               (code == own ? " (or SinchReminderMessage \"...\", the clinic's own language)"
                                            : std::string()));
        }
    }
    for (const auto& [code, text] : messages) {
        if (std::find(languages.begin(), languages.end(), code) == languages.end()) {
            problems.push_back(
                "SinchReminderMessage " + code + ": " + code + " is not offered (SinchReminderLanguages " +
                (offered.empty() ? "is not set, so only the clinic's own language " + own + " is"
                                 : "does not name it") +
                ")");
        }
    }
    return problems;
}

ClinicLanguages::ClinicLanguages(const std::vector<std::string>& offered, const std::string& clinic_locale,
                                 const std::optional<std::string>& unlabelled_message,
                                 const LanguageMessages& messages)
    : m_own(language_of_locale(clinic_locale)) {
    const std::vector<std::string> problems =
        language_problems(offered, clinic_locale, unlabelled_message, messages);
    if (!problems.empty()) throw ConfigError(problems.front());
    for (const std::string& code : offered_or_own(offered, m_own)) {
        const std::string text = *text_for(code, m_own, !offered.empty(), unlabelled_message, messages);
        m_languages.push_back(ClinicLanguage{code, locale_for(code, clinic_locale), display_name(code),
                                             MessageTemplate::parse(text)});
    }
}

const ClinicLanguage* ClinicLanguages::find(const std::string& code) const noexcept {
    for (const ClinicLanguage& language : m_languages) {
        if (language.code == code) return &language;
    }
    return nullptr;
}

const ClinicLanguage& ClinicLanguages::for_stored(const std::optional<std::string>& code) const noexcept {
    if (code) {
        if (const ClinicLanguage* stored = find(*code)) return *stored;
    }
    if (const ClinicLanguage* own = find(m_own)) return *own;
    return preselected();
}

}  // namespace sr
