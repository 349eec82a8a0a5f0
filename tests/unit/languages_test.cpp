// The languages a clinic writes reminders in (SinchReminderLanguages, SinchReminderMessage LANG "text").
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>

#include "core/appointment_form.hpp"
#include "core/languages.hpp"
#include "core/settings.hpp"

namespace {

const sr::DirectiveSpec& spec(const std::string& name) {
    for (const auto& s : sr::directive_specs()) {
        if (name == s.name) return s;
    }
    throw std::logic_error("no directive " + name);
}

bool mentions(const std::vector<std::string>& problems, const std::string& text) {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
}

const char* const k_spanish =
    "{{clinic}}: cita con {{doctor}} el {{date_time}}. Responda STOP para no recibir más.";

}  // namespace

class LanguagesTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LanguagesTest);
    CPPUNIT_TEST(testALanguageIsAnIso639CodeIcuKnows);
    CPPUNIT_TEST(testWithoutLanguagesTheClinicWritesInItsOwnLanguageAsBefore);
    CPPUNIT_TEST(testEachOfferedLanguageHasItsTextAndItsWayOfWritingDates);
    CPPUNIT_TEST(testAnOfferedLanguageWithoutTextOrATextNobodyCanChooseIsRefused);
    CPPUNIT_TEST(testTheDirectiveTakesAnOptionalLanguageAndMountsAddTexts);
    CPPUNIT_TEST(testAStoredLanguageIsKeptAndAnOldRowIsTheClinicsOwn);
    CPPUNIT_TEST(testTheFormRendersTheChosenLanguagesTextAndRefusesOneNotOffered);
    CPPUNIT_TEST_SUITE_END();

  public:
    void testALanguageIsAnIso639CodeIcuKnows() {
        CPPUNIT_ASSERT_EQUAL(std::string("es"), sr::parse_language("es"));
        CPPUNIT_ASSERT_EQUAL(std::string("vi"), sr::parse_language("vi"));
        CPPUNIT_ASSERT_EQUAL(std::string("haw"), sr::parse_language("haw"));
        for (const char* bad : {"", "e", "EN", "en_US", "es-MX", "english", "qq", "xx"}) {
            CPPUNIT_ASSERT_THROW_MESSAGE(bad, sr::parse_language(bad), sr::ConfigError);
        }
    }

    void testWithoutLanguagesTheClinicWritesInItsOwnLanguageAsBefore() {
        const sr::ClinicLanguages english({}, "en_US", std::nullopt, {});
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), english.all().size());
        CPPUNIT_ASSERT_EQUAL(std::string("en"), english.preselected().code);
        CPPUNIT_ASSERT_EQUAL(std::string("en_US"), english.preselected().icu_locale);
        CPPUNIT_ASSERT_EQUAL(std::string(sr::MessageTemplate::kDefaultText),
                             english.preselected().message.text());
        // A German clinic that never set a message kept the built-in text before languages existed: still so.
        const sr::ClinicLanguages german({}, "de_DE", std::nullopt, {});
        CPPUNIT_ASSERT_EQUAL(std::string("de"), german.preselected().code);
        CPPUNIT_ASSERT_EQUAL(std::string(sr::MessageTemplate::kDefaultText),
                             german.preselected().message.text());
        CPPUNIT_ASSERT(sr::language_problems({}, "de_DE", std::nullopt, {}).empty());
        const sr::ClinicLanguages mexican({}, "es_MX", std::string(k_spanish), {});
        CPPUNIT_ASSERT_EQUAL(std::string(k_spanish), mexican.preselected().message.text());
        CPPUNIT_ASSERT_EQUAL(std::string("es_MX"), mexican.preselected().icu_locale);
    }

    void testEachOfferedLanguageHasItsTextAndItsWayOfWritingDates() {
        const sr::ClinicLanguages clinic(
            {"en", "es", "vi"}, "en_US", std::nullopt,
            {{"es", k_spanish}, {"vi", "{{clinic}}: hẹn {{doctor}} {{date_time}}."}});
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), clinic.all().size());
        CPPUNIT_ASSERT_EQUAL(std::string("en"), clinic.preselected().code);
        const sr::ClinicLanguage* spanish = clinic.find("es");
        CPPUNIT_ASSERT(spanish);
        CPPUNIT_ASSERT_EQUAL(std::string("es_US"), spanish->icu_locale);  // Spanish, the clinic's country
        CPPUNIT_ASSERT_EQUAL(std::string("español"), spanish->display_name);
        CPPUNIT_ASSERT_EQUAL(std::string(k_spanish), spanish->message.text());
        CPPUNIT_ASSERT_EQUAL(std::string("Tiếng Việt"), clinic.find("vi")->display_name);
        CPPUNIT_ASSERT_EQUAL(std::string("English"), clinic.find("en")->display_name);
        CPPUNIT_ASSERT(!clinic.find("fr"));
        // The first listed is preselected, whatever the locale says.
        const sr::ClinicLanguages spanish_first({"es", "en"}, "en_US", std::nullopt, {{"es", k_spanish}});
        CPPUNIT_ASSERT_EQUAL(std::string("es"), spanish_first.preselected().code);
    }

    void testAnOfferedLanguageWithoutTextOrATextNobodyCanChooseIsRefused() {
        const auto no_french = sr::language_problems({"en", "fr"}, "en_US", std::nullopt, {});
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), no_french.size());
        CPPUNIT_ASSERT(mentions(no_french, "SinchReminderLanguages offers fr but there is no text in it"));
        CPPUNIT_ASSERT(mentions(no_french, "SinchReminderMessage fr"));
        CPPUNIT_ASSERT_THROW(sr::ClinicLanguages({"en", "fr"}, "en_US", std::nullopt, {}), sr::ConfigError);
        // A text in a language the form never offers is a typo or a forgotten SinchReminderLanguages.
        const auto unused = sr::language_problems({}, "en_US", std::nullopt, {{"es", k_spanish}});
        CPPUNIT_ASSERT(mentions(unused, "SinchReminderMessage es: es is not offered"));
        // Offering languages explicitly: the clinic's own needs a real text unless it is English.
        CPPUNIT_ASSERT(mentions(sr::language_problems({"de", "en"}, "de_DE", std::nullopt, {}),
                                "offers de but there is no text in it"));
        CPPUNIT_ASSERT(
            sr::language_problems({"de", "en"}, "de_DE", std::string("Termin {{date_time}}"), {}).empty());
        CPPUNIT_ASSERT(
            mentions(sr::language_problems({"en", "en"}, "en_US", std::nullopt, {}), "names en twice"));
    }

    void testTheDirectiveTakesAnOptionalLanguageAndMountsAddTexts() {
        sr::SettingValues server;
        spec("SinchReminderMessage").apply(server, "Reminder {{date_time}}");
        CPPUNIT_ASSERT(spec("SinchReminderMessage").apply_labelled);
        spec("SinchReminderMessage").apply_labelled(server, "es", k_spanish);
        CPPUNIT_ASSERT_THROW(spec("SinchReminderMessage").apply_labelled(server, "spanish", k_spanish),
                             sr::ConfigError);
        CPPUNIT_ASSERT_THROW(spec("SinchReminderMessage").apply_labelled(server, "fr", "{{diagnosis}}"),
                             sr::ConfigError);
        CPPUNIT_ASSERT(!spec("SinchReminderLocale").apply_labelled);  // one argument only
        sr::SettingValues mount;
        spec("SinchReminderMessage").apply_labelled(mount, "fr", "{{clinic}} : rendez-vous {{date_time}}.");
        spec("SinchReminderLanguages").apply(mount, "en");
        spec("SinchReminderLanguages").apply(mount, "es");
        spec("SinchReminderLanguages").apply(mount, "fr");
        const sr::Settings merged = sr::Settings::resolve(sr::merge(server, mount));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), merged.messages.size());  // the server's es and the mount's fr
        CPPUNIT_ASSERT_EQUAL(std::string("Reminder {{date_time}}"), merged.own_message.value_or(""));
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), merged.languages.size());
        CPPUNIT_ASSERT(
            sr::language_problems(merged.languages, merged.locale, merged.own_message, merged.messages)
                .empty());
        // Two mounts with one key must agree on their texts too.
        sr::SettingValues other = mount;
        spec("SinchReminderMessage").apply_labelled(other, "fr", "{{clinic}} : RDV {{date_time}}.");
        const auto differ =
            sr::clinic_setting_differences(sr::merge(server, mount), sr::merge(server, other));
        CPPUNIT_ASSERT(std::find(differ.begin(), differ.end(), "messages") != differ.end());
    }

    void testAStoredLanguageIsKeptAndAnOldRowIsTheClinicsOwn() {
        const sr::ClinicLanguages clinic({"es", "en"}, "en_US", std::nullopt, {{"es", k_spanish}});
        CPPUNIT_ASSERT_EQUAL(std::string("es"), clinic.for_stored(std::string("es")).code);
        CPPUNIT_ASSERT_EQUAL(std::string("en"), clinic.for_stored(std::string("en")).code);
        // Booked before languages existed (NULL): the clinic's own language, not the preselected one.
        CPPUNIT_ASSERT_EQUAL(std::string("en"), clinic.for_stored(std::nullopt).code);
        // A language the clinic no longer offers: its own.
        CPPUNIT_ASSERT_EQUAL(std::string("en"), clinic.for_stored(std::string("fr")).code);
    }

    void testTheFormRendersTheChosenLanguagesTextAndRefusesOneNotOffered() {
        const sr::ClinicZone zone = sr::ClinicZone::load("America/New_York");
        const sr::ClinicLanguages clinic({"en", "es"}, "en_US", std::nullopt, {{"es", k_spanish}});
        sr::ValidationContext context;
        context.zone = &zone;
        context.languages = &clinic;
        context.clinic_name = "Clínica Norte";
        context.now = *sr::parse_iso_utc("2026-11-20T12:00:00Z");
        sr::AppointmentInput input;
        input.patient_name = "Ana García";
        input.doctor_name = "Dr. Ruiz";
        input.phone = "+1 650 253 0000";
        input.appointment_date = "2026-12-01";
        input.appointment_time = "14:30";
        input.language = "es";
        const sr::FormValidation spanish = sr::validate_appointment(input, context);
        CPPUNIT_ASSERT(spanish.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("es"), spanish.appointment->language);
        // Spanish words, Spanish date wording (US Spanish: the clinic is in the US).
        CPPUNIT_ASSERT_EQUAL(
            std::string("Clínica Norte: cita con Dr. Ruiz el mar, 1 de dic de 2026, 2:30 p. m. EST. "
                        "Responda STOP para no recibir más."),
            spanish.appointment->reminder_body);
        input.language = "";
        const sr::FormValidation preselected = sr::validate_appointment(input, context);
        CPPUNIT_ASSERT_EQUAL(std::string("en"), preselected.appointment->language);
        CPPUNIT_ASSERT_EQUAL(
            std::string("Clínica Norte reminder: your appointment with Dr. Ruiz is on Tue, Dec 1, "
                        "2026, 2:30 PM EST. Reply STOP to opt out."),
            preselected.appointment->reminder_body);
        input.language = "fr";
        const sr::FormValidation french = sr::validate_appointment(input, context);
        CPPUNIT_ASSERT(!french.ok());
        CPPUNIT_ASSERT_EQUAL(
            std::string("This clinic writes reminders in en (English), es (español); choose one of "
                        "them."),
            french.field_errors.at("language"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LanguagesTest);
