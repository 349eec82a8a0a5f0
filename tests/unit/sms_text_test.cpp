// The reminder SMS: only non-clinical placeholders, plain text, one SMS where it can be, and honest part
// counts for GSM-7 and UCS-2.
#include <cppunit/extensions/HelperMacros.h>

#include "core/clock.hpp"
#include "core/errors.hpp"
#include "core/sms_text.hpp"

#include <ctime>
#include <string>

namespace {

using sr::analyse_sms;
using sr::ClinicZone;
using sr::ConfigError;
using sr::Instant;
using sr::MessageFields;
using sr::MessageTemplate;

Instant utc(int year, int month, int day, int hour, int minute) {
    std::tm fields{};
    fields.tm_year = year - 1900;
    fields.tm_mon = month - 1;
    fields.tm_mday = day;
    fields.tm_hour = hour;
    fields.tm_min = minute;
    return Instant(std::chrono::seconds(timegm(&fields)));
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string repeat(const std::string& piece, size_t times) {
    std::string text;
    for (size_t i = 0; i < times; ++i) text += piece;
    return text;
}

// The ConfigError message parse() gives, or "" if it accepts the template.
std::string parse_error(const std::string& text) {
    try {
        MessageTemplate::parse(text);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

MessageFields sample_fields() {
    MessageFields fields;
    fields.clinic = "St. Mary's Hospital";
    fields.doctor = "Dr. Ana Lopez";
    fields.date = "Sat, Nov 28, 2026";
    fields.time = "2:30 PM EST";
    fields.date_time = "Sat, Nov 28, 2026, 2:30 PM EST";
    return fields;
}

}  // namespace

class SmsTextTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SmsTextTest);
    CPPUNIT_TEST(testDefaultTemplateFitsOneGsmSmsForRealisticValues);
    CPPUNIT_TEST(testLongNamesFallBackToShorterDates);
    CPPUNIT_TEST(testCandidatesFollowOsRulesAndLocale);
    CPPUNIT_TEST(testPatientDataPlaceholdersAreRefused);
    CPPUNIT_TEST(testSyntaxErrorsAndOtherTagsAreRefused);
    CPPUNIT_TEST(testRenderIsPlainTextNotHtml);
    CPPUNIT_TEST(testEmptyValueCountsAsFalseInSections);
    CPPUNIT_TEST(testGsm7AndUcs2Detection);
    CPPUNIT_TEST(testSegmentBoundaries);
    CPPUNIT_TEST(testCharactersAreNeverSplitAcrossParts);
    CPPUNIT_TEST(testLongestReminderIsTheWorstDateWithTheLongestDoctor);
    CPPUNIT_TEST(testSensitiveWordsAreWholeWordsInAnyCase);
    CPPUNIT_TEST_SUITE_END();

  public:
    void testDefaultTemplateFitsOneGsmSmsForRealisticValues() {
        const MessageTemplate message = MessageTemplate::parse(MessageTemplate::kDefaultText);
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const auto candidates = sr::message_field_candidates("St. Mary's Hospital", "Dr. Ana Lopez", new_york,
                                                             utc(2026, 11, 28, 19, 30), "en_US");
        const sr::FittedMessage fitted = sr::render_fitting(message, candidates);
        CPPUNIT_ASSERT_EQUAL(
            std::string("St. Mary's Hospital reminder: your appointment with Dr. Ana Lopez is on "
                        "Sat, Nov 28, 2026, 2:30 PM EST. Reply STOP to opt out."),
            fitted.text);
        CPPUNIT_ASSERT_EQUAL(size_t(0), fitted.candidate);
        CPPUNIT_ASSERT(fitted.encoding.gsm7);
        CPPUNIT_ASSERT_EQUAL(size_t(1), fitted.encoding.segments);

        // The header's promise: clinic + doctor up to 66 characters fit with the full date.
        MessageFields fields = sample_fields();
        fields.clinic = repeat("C", 36);
        fields.doctor = repeat("D", 30);
        CPPUNIT_ASSERT_EQUAL(size_t(160), analyse_sms(message.render(fields)).units);
    }

    void testLongNamesFallBackToShorterDates() {
        const MessageTemplate message = MessageTemplate::parse(MessageTemplate::kDefaultText);
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const Instant appointment = utc(2026, 11, 28, 19, 30);
        const auto candidates =
            sr::message_field_candidates("Saint Bartholomew's University Hospital",
                                         "Dr. Elizabeth Montgomery-Smith", new_york, appointment, "en_US");
        const sr::FittedMessage fitted = sr::render_fitting(message, candidates);
        CPPUNIT_ASSERT_EQUAL(size_t(1), fitted.encoding.segments);
        CPPUNIT_ASSERT_MESSAGE(fitted.text, fitted.candidate > 0);
        CPPUNIT_ASSERT_MESSAGE(fitted.text,
                               contains(fitted.text, "Nov 28") && contains(fitted.text, "2:30 PM EST"));
        CPPUNIT_ASSERT_MESSAGE(fitted.text, !contains(fitted.text, "2026"));
        // reminder_text() builds the candidates one at a time and picks the same text.
        CPPUNIT_ASSERT_EQUAL(
            fitted.text, sr::reminder_text(message, "Saint Bartholomew's University Hospital",
                                           "Dr. Elizabeth Montgomery-Smith", new_york, appointment, "en_US"));

        // Nothing fits: the fewest parts (the full date would need 3), and the most informative text of
        // those.
        const auto huge =
            sr::message_field_candidates(repeat("Clinic ", 30), "Dr. X", new_york, appointment, "en_US");
        CPPUNIT_ASSERT_EQUAL(size_t(3), analyse_sms(message.render(huge[0])).segments);
        const sr::FittedMessage overflow = sr::render_fitting(message, huge);
        CPPUNIT_ASSERT_EQUAL(size_t(2), overflow.encoding.segments);
        CPPUNIT_ASSERT_EQUAL(size_t(1), overflow.candidate);

        CPPUNIT_ASSERT_THROW(sr::render_fitting(message, {}), std::invalid_argument);
    }

    void testCandidatesFollowOsRulesAndLocale() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const Instant appointment = utc(2026, 11, 28, 19, 30);
        const auto candidates = sr::message_field_candidates("C", "D", new_york, appointment, "en_US");
        CPPUNIT_ASSERT_EQUAL(size_t(4), candidates.size());
        CPPUNIT_ASSERT_EQUAL(new_york.format(appointment, "en_US"), candidates[0].date_time);
        CPPUNIT_ASSERT_EQUAL(std::string("Sat, Nov 28, 2026"), candidates[0].date);
        CPPUNIT_ASSERT_EQUAL(std::string("Sat, Nov 28, 2:30 PM EST"), candidates[1].date_time);
        CPPUNIT_ASSERT_EQUAL(std::string("Nov 28, 2:30 PM EST"), candidates[2].date_time);
        CPPUNIT_ASSERT_EQUAL(std::string("11/28, 2:30 PM EST"), candidates[3].date_time);
        CPPUNIT_ASSERT_EQUAL(std::string("11/28"), candidates[3].date);
        for (const MessageFields& fields : candidates) {
            CPPUNIT_ASSERT_EQUAL(std::string("2:30 PM EST"), fields.time);
            CPPUNIT_ASSERT_EQUAL(std::string("C"), fields.clinic);
            CPPUNIT_ASSERT_EQUAL(std::string("D"), fields.doctor);
            CPPUNIT_ASSERT_MESSAGE(fields.date_time, analyse_sms(fields.date_time).gsm7);  // no U+202F
        }
        // Summer time, a numeric zone, another locale.
        CPPUNIT_ASSERT_EQUAL(
            std::string("10:00 AM EDT"),
            sr::message_field_candidates("C", "D", new_york, utc(2026, 7, 15, 14, 0), "en_US")[1].time);
        const ClinicZone almaty = ClinicZone::load("Asia/Almaty");
        CPPUNIT_ASSERT_EQUAL(
            std::string("Wed, Jul 15, 9:00 PM UTC+05"),
            sr::message_field_candidates("C", "D", almaty, utc(2026, 7, 15, 16, 0), "en_US")[1].date_time);
        const ClinicZone berlin = ClinicZone::load("Europe/Berlin");
        const auto german = sr::message_field_candidates("C", "D", berlin, utc(2026, 7, 15, 12, 30), "de_DE");
        CPPUNIT_ASSERT_EQUAL(std::string("14:30 CEST"), german[1].time);
        CPPUNIT_ASSERT_MESSAGE(german[2].date, contains(german[2].date, "15."));
    }

    void testPatientDataPlaceholdersAreRefused() {
        const std::string message = parse_error("Hello {{patient_name}}, see you {{date_time}}");
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "unknown placeholder {{patient_name}}"));
        CPPUNIT_ASSERT_MESSAGE(
            message, contains(message, "{{clinic}}, {{doctor}}, {{date}}, {{time}}, {{date_time}}"));
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "patient names"));
        CPPUNIT_ASSERT_MESSAGE(message, contains(message, "character 7:"));
        CPPUNIT_ASSERT(
            contains(parse_error("\xC3\xA9t\xC3\xA9 {{ward}}"), "character 5:"));  // "été {{ward}}"
        CPPUNIT_ASSERT(contains(parse_error("{{#diagnosis}}x{{/diagnosis}}"), "{{diagnosis}}"));
        CPPUNIT_ASSERT(contains(parse_error("{{{department}}}"), "{{department}}"));
        CPPUNIT_ASSERT(contains(parse_error("{{clinic.name}}"), "{{clinic.name}}"));
        CPPUNIT_ASSERT(contains(parse_error("{{.}}"), "unknown placeholder"));
        // Every allowed placeholder, in every allowed form, is accepted.
        CPPUNIT_ASSERT_EQUAL(std::string(),
                             parse_error("{{clinic}} {{ doctor }} {{date}} {{time}} {{{date_time}}} "
                                         "{{& clinic}}{{! a comment }}{{^doctor}}-{{/doctor}}"));
    }

    void testSyntaxErrorsAndOtherTagsAreRefused() {
        CPPUNIT_ASSERT(contains(parse_error("{{#clinic}} open"), "Unclosed section \"clinic\""));
        CPPUNIT_ASSERT(contains(parse_error("{{clinic"), "Unclosed tag"));
        CPPUNIT_ASSERT(contains(parse_error("{{> header}} {{date}}"), "partials"));
        CPPUNIT_ASSERT(contains(parse_error("{{=<% %>=}} <%clinic%>"), "set-delimiter"));
        CPPUNIT_ASSERT(contains(parse_error("   "), "empty"));
        CPPUNIT_ASSERT(contains(parse_error("Visit \xC3("), "UTF-8"));
    }

    void testRenderIsPlainTextNotHtml() {
        const MessageTemplate message =
            MessageTemplate::parse("{{clinic}}: {{doctor}} at {{time}} on {{date}}");
        MessageFields fields = sample_fields();
        fields.clinic = "Smith & Jones <Family> \"Care\"";
        fields.doctor = "Dr. O'Brien\r\nCall\t555";
        CPPUNIT_ASSERT_EQUAL(
            std::string(
                "Smith & Jones <Family> \"Care\": Dr. O'Brien  Call 555 at 2:30 PM EST on Sat, Nov 28, 2026"),
            message.render(fields));
        CPPUNIT_ASSERT_EQUAL(std::string("{{clinic}}: {{doctor}} at {{time}} on {{date}}"), message.text());
    }

    void testEmptyValueCountsAsFalseInSections() {
        const MessageTemplate message = MessageTemplate::parse(
            "{{clinic}}{{#doctor}} with {{doctor}}{{/doctor}}{{^doctor}} visit{{/doctor}}.");
        MessageFields fields = sample_fields();
        CPPUNIT_ASSERT_EQUAL(std::string("St. Mary's Hospital with Dr. Ana Lopez."), message.render(fields));
        fields.doctor = "";
        CPPUNIT_ASSERT_EQUAL(std::string("St. Mary's Hospital visit."), message.render(fields));
    }

    void testGsm7AndUcs2Detection() {
        const sr::SmsEncoding e_acute = analyse_sms("Caf\xC3\xA9");  // é is in the GSM-7 table
        CPPUNIT_ASSERT(e_acute.gsm7);
        CPPUNIT_ASSERT_EQUAL(size_t(4), e_acute.units);

        const sr::SmsEncoding l_stroke = analyse_sms(
            "\xC5\x81"
            "\xC3\xB3"
            "d\xC5\xBA");  // Łódź
        CPPUNIT_ASSERT(!l_stroke.gsm7);
        CPPUNIT_ASSERT_EQUAL(size_t(4), l_stroke.units);

        const sr::SmsEncoding euro = analyse_sms("10\xE2\x82\xAC");  // € is an extension character
        CPPUNIT_ASSERT(euro.gsm7);
        CPPUNIT_ASSERT_EQUAL(size_t(4), euro.units);
        CPPUNIT_ASSERT_EQUAL(size_t(2), analyse_sms("[").units);
        CPPUNIT_ASSERT_EQUAL(size_t(1), analyse_sms("@").units);

        const sr::SmsEncoding emoji = analyse_sms("ok \xF0\x9F\x98\x80");  // outside the BMP: 2 UTF-16 units
        CPPUNIT_ASSERT(!emoji.gsm7);
        CPPUNIT_ASSERT_EQUAL(size_t(5), emoji.units);

        // Typographic quotes and U+202F (ICU's space before "PM") are not GSM-7.
        CPPUNIT_ASSERT(!analyse_sms("Mary\xE2\x80\x99s").gsm7);
        CPPUNIT_ASSERT(!analyse_sms("2:30\xE2\x80\xAFPM").gsm7);
        CPPUNIT_ASSERT(!analyse_sms("bad \xC3").gsm7);  // malformed UTF-8 is never cheaper

        const sr::SmsEncoding empty = analyse_sms("");
        CPPUNIT_ASSERT(empty.gsm7);
        CPPUNIT_ASSERT_EQUAL(size_t(0), empty.units);
        CPPUNIT_ASSERT_EQUAL(size_t(1), empty.segments);
    }

    void testSegmentBoundaries() {
        CPPUNIT_ASSERT_EQUAL(size_t(1), analyse_sms(repeat("a", 160)).segments);
        CPPUNIT_ASSERT_EQUAL(size_t(2), analyse_sms(repeat("a", 161)).segments);
        CPPUNIT_ASSERT_EQUAL(size_t(2), analyse_sms(repeat("a", 306)).segments);
        CPPUNIT_ASSERT_EQUAL(size_t(3), analyse_sms(repeat("a", 307)).segments);
        // € counts 2: 80 of them are 160 septets.
        CPPUNIT_ASSERT_EQUAL(size_t(1), analyse_sms(repeat("\xE2\x82\xAC", 80)).segments);
        CPPUNIT_ASSERT_EQUAL(size_t(2), analyse_sms(repeat("\xE2\x82\xAC", 80) + "a").segments);

        const std::string l_stroke = "\xC5\x82";  // ł
        CPPUNIT_ASSERT_EQUAL(size_t(1), analyse_sms(repeat(l_stroke, 70)).segments);
        CPPUNIT_ASSERT_EQUAL(size_t(2), analyse_sms(repeat(l_stroke, 71)).segments);
        CPPUNIT_ASSERT_EQUAL(size_t(2), analyse_sms(repeat(l_stroke, 134)).segments);
        CPPUNIT_ASSERT_EQUAL(size_t(3), analyse_sms(repeat(l_stroke, 135)).segments);
        // One non-GSM character turns 160 septets into 3 UCS-2 parts.
        const sr::SmsEncoding mixed = analyse_sms(repeat("a", 159) + l_stroke);
        CPPUNIT_ASSERT(!mixed.gsm7);
        CPPUNIT_ASSERT_EQUAL(size_t(160), mixed.units);
        CPPUNIT_ASSERT_EQUAL(size_t(3), mixed.segments);
    }

    void testCharactersAreNeverSplitAcrossParts() {
        // 306 septets is 2 parts by arithmetic, but the € at septets 153-154 cannot be split.
        const std::string text = repeat("a", 152) + "\xE2\x82\xAC" + repeat("a", 152);
        CPPUNIT_ASSERT_EQUAL(size_t(306), analyse_sms(text).units);
        CPPUNIT_ASSERT_EQUAL(size_t(3), analyse_sms(text).segments);
        // Likewise a surrogate pair at UTF-16 units 67-68.
        const std::string emoji = "\xF0\x9F\x98\x80";
        const std::string ucs2 = repeat("\xC5\x82", 66) + emoji + repeat("\xC5\x82", 66);
        CPPUNIT_ASSERT_EQUAL(size_t(134), analyse_sms(ucs2).units);
        CPPUNIT_ASSERT_EQUAL(size_t(3), analyse_sms(ucs2).segments);
    }

    void testLongestReminderIsTheWorstDateWithTheLongestDoctor() {
        const MessageTemplate message = MessageTemplate::parse("{{clinic}}: {{doctor}}, {{date_time}}");
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        // The listed doctor with the longest name, at 22:45 (the longest time words) in the year asked for.
        // en_US abbreviates every weekday and month to three letters, so the first sample is as long as any.
        const sr::LongestReminder listed = sr::longest_reminder(
            message, "Clinic", {"Dr. Li", "Dr. Montgomery-Smith", "Dr. Ng"}, new_york, "en_US", 2027);
        CPPUNIT_ASSERT_EQUAL(std::string("Dr. Montgomery-Smith"), listed.doctor);
        CPPUNIT_ASSERT_EQUAL(std::string("Clinic: Dr. Montgomery-Smith, Fri, Jan 22, 2027, 10:45 PM EST"),
                             listed.text);
        CPPUNIT_ASSERT_EQUAL(analyse_sms(listed.text).units, listed.encoding.units);
        // Typed names: one of 40 characters stands for them.
        const sr::LongestReminder typed =
            sr::longest_reminder(message, "Clinic", {}, new_york, "en_US", 2027);
        CPPUNIT_ASSERT_EQUAL(sr::k_long_doctor_name_characters, typed.doctor.size());
        CPPUNIT_ASSERT(contains(typed.text, typed.doctor));
        // Another language: its own words and its 24-hour clock.
        const sr::LongestReminder german = sr::longest_reminder(
            message, "Praxis", {"Dr. Weiß"}, ClinicZone::load("Europe/Berlin"), "de_DE", 2027);
        CPPUNIT_ASSERT_MESSAGE(german.text, contains(german.text, "2027") && contains(german.text, "22:45"));
        CPPUNIT_ASSERT_EQUAL(size_t(1), german.encoding.segments);
    }

    void testSensitiveWordsAreWholeWordsInAnyCase() {
        const std::vector<std::string> words = {"oncology", "hiv", "Onkologie"};
        const auto found = [&](const std::string& text) {
            std::string out;
            for (const std::string& word : sr::sensitive_words_in(text, words))
                out += (out.empty() ? "" : ",") + word;
            return out;
        };
        CPPUNIT_ASSERT_EQUAL(std::string(""), found("Riverside Clinic"));
        CPPUNIT_ASSERT_EQUAL(std::string("oncology"), found("Riverside ONCOLOGY reminder"));
        CPPUNIT_ASSERT_EQUAL(std::string("hiv"), found("HIV clinic: {{date}}"));
        // Whole words only: "archive" and "Oncologyst" are not matches.
        CPPUNIT_ASSERT_EQUAL(std::string(""), found("archive Oncologyst"));
        // Case folding beyond ASCII.
        CPPUNIT_ASSERT_EQUAL(std::string("Onkologie"), found("Praxis f\xC3\xBCr ONKOLOGIE"));
        CPPUNIT_ASSERT_EQUAL(std::string("oncology,hiv"), found("hiv and oncology"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SmsTextTest);
