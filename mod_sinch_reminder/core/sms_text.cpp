// sms_text.cpp: the reminder SMS text (see sms_text.hpp).
#include "core/sms_text.hpp"

#include "core/encoding.hpp"
#include "core/errors.hpp"
#include "core/templates.hpp"

#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sr {

using namespace mustache_support;

namespace {

constexpr const char* kAllowedPlaceholders[] = {"clinic", "doctor", "date", "time", "date_time"};

bool is_allowed_placeholder(const std::string& name) {
    return std::find_if(std::begin(kAllowedPlaceholders), std::end(kAllowedPlaceholders),
                        [&](const char* allowed) { return name == allowed; }) !=
           std::end(kAllowedPlaceholders);
}

std::string allowed_placeholder_list() {
    std::string list;
    for (const char* name : kAllowedPlaceholders) {
        list += std::string(list.empty() ? "" : ", ") + "{{" + name + "}}";
    }
    return list;
}

// Decodes one code point at `position` and advances it; malformed input yields U+FFFD and skips one byte.
char32_t next_code_point(const std::string& text, size_t& position) {
    const size_t start = position;
    UChar32 code_point;
    U8_NEXT(reinterpret_cast<const uint8_t*>(text.data()), position, text.size(), code_point);
    if (code_point < 0) {
        // ICU skips the whole ill-formed sequence; one U+FFFD per byte keeps the part count conservative.
        position = start + 1;
        return 0xFFFD;
    }
    return static_cast<char32_t>(code_point);
}

// 1-based character (code point) position of a byte offset, for messages about the template.
size_t character_position(const std::string& text, size_t byte_offset) {
    size_t characters = 0;
    for (size_t position = 0; position < byte_offset && position < text.size(); ++characters) {
        next_code_point(text, position);
    }
    return characters + 1;
}

// The GSM 03.38 default alphabet, 16 per row in table order (0x1B, the escape to the extension table, is
// left out).
// clang-format off
constexpr char32_t kGsmBasic[] = {
    U'@', U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø', U'\r', U'Å', U'å',
    U'Δ', U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ', U'Σ', U'Θ', U'Ξ', /* ESC */ U'Æ', U'æ', U'ß', U'É',
    U' ', U'!', U'"', U'#', U'¤', U'%', U'&', U'\'', U'(', U')', U'*', U'+', U',', U'-', U'.', U'/',
    U'0', U'1', U'2', U'3', U'4', U'5', U'6', U'7', U'8', U'9', U':', U';', U'<', U'=', U'>', U'?',
    U'¡', U'A', U'B', U'C', U'D', U'E', U'F', U'G', U'H', U'I', U'J', U'K', U'L', U'M', U'N', U'O',
    U'P', U'Q', U'R', U'S', U'T', U'U', U'V', U'W', U'X', U'Y', U'Z', U'Ä', U'Ö', U'Ñ', U'Ü', U'§',
    U'¿', U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h', U'i', U'j', U'k', U'l', U'm', U'n', U'o',
    U'p', U'q', U'r', U's', U't', U'u', U'v', U'w', U'x', U'y', U'z', U'ä', U'ö', U'ñ', U'ü', U'à'};
// clang-format on
static_assert(sizeof kGsmBasic / sizeof kGsmBasic[0] == 127, "128 GSM-7 codes minus the escape");

// The extension table: each costs an escape septet plus its own.
constexpr char32_t kGsmExtension[] = {U'\f', U'^', U'{', U'}', U'\\', U'[', U'~', U']', U'|', U'€'};

// Septets for a code point in GSM-7, or 0 if it has none.
size_t gsm7_septets(char32_t code_point) {
    if (std::find(std::begin(kGsmBasic), std::end(kGsmBasic), code_point) != std::end(kGsmBasic)) return 1;
    if (std::find(std::begin(kGsmExtension), std::end(kGsmExtension), code_point) !=
        std::end(kGsmExtension)) {
        return 2;
    }
    return 0;
}

// Parts needed for characters of the given sizes, never splitting one across two parts.
size_t count_segments(const std::vector<size_t>& character_units, size_t single_limit, size_t part_limit) {
    size_t total = 0;
    for (const size_t units : character_units) total += units;
    if (total <= single_limit) return 1;
    size_t segments = 1;
    size_t used = 0;
    for (const size_t units : character_units) {
        if (used + units > part_limit) {
            ++segments;
            used = 0;
        }
        used += units;
    }
    return segments;
}

// Control characters in a value (a pasted tab or line break) would reshape the SMS; spaces are harmless.
std::string without_control_characters(std::string value) {
    for (char& c : value) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
    }
    return value;
}

}  // namespace

struct MessageTemplate::Compiled {
    std::string text;
    kainjow::mustache::mustache compiled;
    std::uint64_t id = next_template_id();
};

MessageTemplate MessageTemplate::parse(const std::string& text) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
        throw ConfigError("the SMS template is empty; the default is \"" + std::string(kDefaultText) + "\"");
    }
    if (!is_valid_utf8(text)) throw ConfigError("the SMS template is not valid UTF-8");
    kainjow::mustache::mustache compiled(text);
    if (!compiled.is_valid()) throw ConfigError("SMS template: " + compiled.error_message());
    // An SMS is plain text: values go in as they are, also with {{x}}.
    compiled.set_custom_escape([](const std::string& value) { return value; });

    for (const Tag& tag : scan_tags(text)) {
        const std::string where =
            "SMS template, character " + std::to_string(character_position(text, tag.offset)) + ": ";
        switch (tag.kind) {
            case TagKind::Comment:
                break;
            case TagKind::Partial:
                throw ConfigError(where + "partials ({{> " + tag.name + "}}) are not supported");
            case TagKind::SetDelimiter:
                throw ConfigError(where + "set-delimiter tags are not supported; use {{ and }}");
            case TagKind::Variable:
            case TagKind::Raw:
            case TagKind::Section:
                if (!is_allowed_placeholder(tag.name)) {
                    throw ConfigError(where + "unknown placeholder {{" + tag.name + "}}; allowed are " +
                                      allowed_placeholder_list() +
                                      " (an SMS must not carry patient names or medical details)");
                }
                break;
        }
    }
    return MessageTemplate(std::make_shared<const Compiled>(Compiled{text, compiled}));
}

std::string MessageTemplate::render(const MessageFields& fields) const {
    TemplateData data;
    data.set("clinic", without_control_characters(fields.clinic));
    data.set("doctor", without_control_characters(fields.doctor));
    data.set("date", without_control_characters(fields.date));
    data.set("time", without_control_characters(fields.time));
    data.set("date_time", without_control_characters(fields.date_time));
    static const std::map<std::string, TemplateData> kNoPartials;
    std::string error;
    std::string text =
        render_with(thread_working_copy(compiled_->compiled, compiled_->id), data, kNoPartials, error);
    // parse() admits no partials or lambdas, which are kainjow's only render-time errors.
    if (!error.empty()) throw std::runtime_error("SMS template: " + error);
    return text;
}

const std::string& MessageTemplate::text() const noexcept { return compiled_->text; }

SmsEncoding analyse_sms(const std::string& utf8) {
    std::vector<char32_t> code_points;
    for (size_t position = 0; position < utf8.size();) code_points.push_back(next_code_point(utf8, position));

    SmsEncoding encoding;
    std::vector<size_t> character_units;
    character_units.reserve(code_points.size());
    for (const char32_t code_point : code_points) {
        const size_t septets = gsm7_septets(code_point);
        if (septets == 0) {
            encoding.gsm7 = false;
            break;
        }
        character_units.push_back(septets);
    }
    if (encoding.gsm7) {
        for (const size_t units : character_units) encoding.units += units;
        encoding.segments =
            count_segments(character_units, encoding.single_part_units(), encoding.units_per_part());
        return encoding;
    }
    character_units.clear();
    for (const char32_t code_point : code_points) character_units.push_back(code_point > 0xFFFF ? 2 : 1);
    for (const size_t units : character_units) encoding.units += units;
    encoding.segments =
        count_segments(character_units, encoding.single_part_units(), encoding.units_per_part());
    return encoding;
}

namespace {

// Date skeletons from the most to the least informative; the first candidate's date_time is the one the
// pages show.
struct DateForm {
    const char16_t* date_skeleton;
    const char16_t* date_time_skeleton;  // nullptr: ClinicZone::format
};
constexpr DateForm kDateForms[] = {
    {u"yMMMEd", nullptr},
    {u"MMMEd", u"MMMEdjmm"},
    {u"MMMd", u"MMMdjmm"},
    {u"Md", u"Mdjmm"},
};

// The field sets of message_field_candidates(), built one at a time: most texts fit with the first, and
// each one costs several ICU format calls.
class CandidateFields {
  public:
    CandidateFields(const std::string& clinic, const std::string& doctor, const ClinicZone& zone,
                    Instant appointment_utc, const std::string& icu_locale)
        : clinic_(clinic),
          doctor_(doctor),
          zone_(zone),
          utc_(appointment_utc),
          locale_(icu_locale),
          zone_text_(zone.display_abbreviation(appointment_utc)),
          time_(zone.format_skeleton(appointment_utc, u"jmm", icu_locale) + " " + zone_text_) {}

    static constexpr size_t count() { return sizeof kDateForms / sizeof kDateForms[0]; }

    MessageFields at(size_t index) const {
        const DateForm& form = kDateForms[index];
        MessageFields fields;
        fields.clinic = clinic_;
        fields.doctor = doctor_;
        fields.date = zone_.format_skeleton(utc_, form.date_skeleton, locale_);
        fields.time = time_;
        fields.date_time =
            form.date_time_skeleton == nullptr
                ? zone_.format(utc_, locale_)
                : zone_.format_skeleton(utc_, form.date_time_skeleton, locale_) + " " + zone_text_;
        return fields;
    }

  private:
    const std::string& clinic_;
    const std::string& doctor_;
    const ClinicZone& zone_;
    Instant utc_;
    const std::string& locale_;
    std::string zone_text_;
    std::string time_;
};

// render_fitting() over candidates produced on demand by `candidate(index)`, index < `count`.
template <class Candidate>
FittedMessage fit(const MessageTemplate& message_template, size_t count, const Candidate& candidate) {
    if (count == 0) throw std::invalid_argument("render_fitting: no candidate fields");
    FittedMessage best;
    for (size_t index = 0; index < count; ++index) {
        std::string text = message_template.render(candidate(index));
        const SmsEncoding encoding = analyse_sms(text);
        if (index == 0 || encoding.segments < best.encoding.segments) {
            best = FittedMessage{std::move(text), encoding, index};
            if (encoding.segments == 1) break;
        }
    }
    return best;
}

}  // namespace

std::vector<MessageFields> message_field_candidates(const std::string& clinic, const std::string& doctor,
                                                    const ClinicZone& zone, Instant appointment_utc,
                                                    const std::string& icu_locale) {
    const CandidateFields fields(clinic, doctor, zone, appointment_utc, icu_locale);
    std::vector<MessageFields> candidates;
    for (size_t index = 0; index < CandidateFields::count(); ++index) candidates.push_back(fields.at(index));
    return candidates;
}

FittedMessage render_fitting(const MessageTemplate& message_template,
                             const std::vector<MessageFields>& candidates) {
    return fit(message_template, candidates.size(), [&](size_t index) { return candidates[index]; });
}

LongestReminder longest_reminder(const MessageTemplate& message_template, const std::string& clinic,
                                 const std::vector<std::string>& doctors, const ClinicZone& zone,
                                 const std::string& icu_locale, int year) {
    std::vector<std::string> names = doctors;
    if (names.empty()) {
        // Staff type the name: a long one of plain letters (the booking refuses any that makes the SMS
        // longer).
        std::string typed = "Dr. Maximiliane Featherstonehaugh-Abbott";
        typed.resize(k_long_doctor_name_characters, 'e');
        names.push_back(typed);
    }
    LongestReminder longest;
    bool first = true;
    for (int month = 1; month <= 12; ++month) {
        for (int day = 22; day <= 28; ++day) {  // every weekday, two-digit days
            const Instant at = zone.to_utc(LocalDateTime{year, month, day, 22, 45}).utc;
            for (const std::string& doctor : names) {
                const std::string text =
                    reminder_text(message_template, clinic, doctor, zone, at, icu_locale);
                const SmsEncoding encoding = analyse_sms(text);
                if (first || encoding.segments > longest.encoding.segments ||
                    (encoding.segments == longest.encoding.segments &&
                     encoding.units > longest.encoding.units)) {
                    longest = LongestReminder{text, encoding, doctor};
                    first = false;
                }
            }
        }
    }
    return longest;
}

std::vector<std::string> sensitive_words_in(const std::string& text, const std::vector<std::string>& words) {
    icu::UnicodeString folded = icu::UnicodeString::fromUTF8(text);
    folded.foldCase();
    std::vector<std::string> found;
    for (const std::string& word : words) {
        icu::UnicodeString needle = icu::UnicodeString::fromUTF8(word);
        needle.foldCase();
        if (needle.isEmpty()) continue;
        for (int32_t at = folded.indexOf(needle); at >= 0; at = folded.indexOf(needle, at + 1)) {
            const int32_t end = at + needle.length();
            const bool starts_a_word = at == 0 || !u_isalnum(folded.char32At(folded.moveIndex32(at, -1)));
            const bool ends_a_word = end >= folded.length() || !u_isalnum(folded.char32At(end));
            if (starts_a_word && ends_a_word) {
                found.push_back(word);
                break;
            }
        }
    }
    return found;
}

std::string reminder_text(const MessageTemplate& message_template, const std::string& clinic,
                          const std::string& doctor, const ClinicZone& zone, Instant appointment_utc,
                          const std::string& icu_locale) {
    const std::string shown_clinic = clinic.empty() ? "Your clinic" : clinic;
    const CandidateFields fields(shown_clinic, doctor, zone, appointment_utc, icu_locale);
    return fit(message_template, CandidateFields::count(), [&](size_t index) { return fields.at(index); })
        .text;
}

}  // namespace sr
