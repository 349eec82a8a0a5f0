// Specification of the configuration surface, without httpd: parsing, merge, defaults and the
// checks that need several directives.
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/message_check.hpp"
#include "core/pg_pool.hpp"
#include "core/settings.hpp"

namespace {

std::string error_of(void (*apply)(sr::SettingValues&, const std::string&), const std::string& value) {
    sr::SettingValues values;
    try {
        apply(values, value);
    } catch (const sr::ConfigError& e) {
        return e.what();
    }
    return "";
}

const sr::DirectiveSpec& spec(const std::string& name) {
    for (const auto& s : sr::directive_specs()) {
        if (name == s.name) return s;
    }
    throw std::runtime_error("no directive " + name);
}

void apply(sr::SettingValues& values, const std::string& directive, const std::string& value) {
    spec(directive).apply(values, value);
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace

class SettingsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SettingsTest);
    CPPUNIT_TEST(testEveryDirectiveHasSyntaxAndHelp);
    CPPUNIT_TEST(testRegionAcceptsTheFiveSinchRegionsOnly);
    CPPUNIT_TEST(testClinicKeyIsAStableLowerCaseIdentifier);
    CPPUNIT_TEST(testClinicSettingsAreTheOnesAllowedInALocation);
    CPPUNIT_TEST(testTwoClinicsDifferOnlyInClinicSettings);
    CPPUNIT_TEST(testLeadTimeUnderstandsHumanDurations);
    CPPUNIT_TEST(testLeadTimeRejectsZeroAndGarbage);
    CPPUNIT_TEST(testTimeZoneMustBeAnIanaZone);
    CPPUNIT_TEST(testDefaultCountryIsUpperCasedAndChecked);
    CPPUNIT_TEST(testSenderIsE164ShortCodeOrAlphanumeric);
    CPPUNIT_TEST(testBaseUrlMustBeHttpAndLosesTrailingSlash);
    CPPUNIT_TEST(testConninfoIsCheckedByLibpq);
    CPPUNIT_TEST(testPoolMaxRange);
    CPPUNIT_TEST(testSecretFileReadsFirstLine);
    CPPUNIT_TEST(testSecretFileMissingSaysWhich);
    CPPUNIT_TEST(testMergeKeepsBaseWhenOverrideUnset);
    CPPUNIT_TEST(testDefaultsWhenNothingIsSet);
    CPPUNIT_TEST(testServicePlanWinsWhenBothCredentialSetsComplete);
    CPPUNIT_TEST(testDefaultHostsFollowRegionAndAuthMode);
    CPPUNIT_TEST(testIncompleteCredentialsAreReported);
    CPPUNIT_TEST(testMountedHandlerNeedsDatabaseCredentialsAndZone);
    CPPUNIT_TEST(testUnmountedServerNeedsNothing);
    CPPUNIT_TEST(testOAuthOutsideUsAndEuIsRefused);
    CPPUNIT_TEST(testPlainHttpBaseUrlsOnlyForLoopback);
    CPPUNIT_TEST(testDeliveryReportsNeedAWayToAuthenticateCallbacks);
    CPPUNIT_TEST(testListDirectivesAddUpAndCheckEachValue);
    CPPUNIT_TEST(testRetentionAndBookingLimit);
    CPPUNIT_TEST(testTheSmsIsCheckedForItsLengthAndForSensitiveWords);
    CPPUNIT_TEST_SUITE_END();

  public:
    void testEveryDirectiveHasSyntaxAndHelp() {
        CPPUNIT_ASSERT(sr::directive_specs().size() >= 16);
        for (const auto& s : sr::directive_specs()) {
            CPPUNIT_ASSERT_MESSAGE(s.name, std::string(s.name).rfind("SinchReminder", 0) == 0);
            CPPUNIT_ASSERT_MESSAGE(s.name, *s.syntax && *s.help);
        }
    }

    void testClinicKeyIsAStableLowerCaseIdentifier() {
        for (const char* key : {"default", "cardiology", "north-wing_2", "a"})
            CPPUNIT_ASSERT_EQUAL(std::string(key), sr::parse_clinic_key(key));
        for (const char* bad : {"", "Cardiology", "-lead", "x y", "caf\xc3\xa9", "a;b"}) {
            const std::string error = error_of(spec("SinchReminderClinic").apply, bad);
            CPPUNIT_ASSERT_MESSAGE(bad, contains(error, "is not a clinic key"));
        }
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderClinic").apply, std::string(64, 'a')).empty());
        CPPUNIT_ASSERT_EQUAL(std::string("{cardiology,north-wing_2}"),
                             sr::pg_clinic_array({"cardiology", "north-wing_2"}));
        CPPUNIT_ASSERT_EQUAL(std::string("{}"), sr::pg_clinic_array({}));
        CPPUNIT_ASSERT_THROW(sr::pg_clinic_array({"a,b"}), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(sr::pg_clinic_array({"\"}"}), std::invalid_argument);
    }

    void testClinicSettingsAreTheOnesAllowedInALocation() {
        std::vector<std::string> clinic;
        for (const auto& d : sr::directive_specs())
            if (d.clinic_scoped) clinic.push_back(d.name);
        for (const char* name : {"SinchReminderClinic", "SinchReminderTimeZone", "SinchReminderFrom",
                                 "SinchReminderMessage", "SinchReminderLeadTime", "SinchReminderTemplateDir"})
            CPPUNIT_ASSERT_MESSAGE(name, std::find(clinic.begin(), clinic.end(), name) != clinic.end());
        // The account, the database and the dispatcher are the server's: one per node, shared by its clinics.
        for (const char* name :
             {"SinchReminderDatabase", "SinchReminderApiToken", "SinchReminderServicePlanId",
              "SinchReminderMaxBatchesPerSecond", "SinchReminderAllowAnonymous"})
            CPPUNIT_ASSERT_MESSAGE(name, std::find(clinic.begin(), clinic.end(), name) == clinic.end());
    }

    void testTwoClinicsDifferOnlyInClinicSettings() {
        sr::SettingValues a, b;
        spec("SinchReminderTimeZone").apply(a, "America/New_York");
        spec("SinchReminderTimeZone").apply(b, "America/New_York");
        spec("SinchReminderMaxBatchesPerSecond").apply(b, "20");  // a server setting: not the clinic's
        CPPUNIT_ASSERT(sr::clinic_setting_differences(a, b).empty());
        spec("SinchReminderTimeZone").apply(b, "America/Chicago");
        spec("SinchReminderDoctors").apply(b, "Dr. Who");
        CPPUNIT_ASSERT(
            (sr::clinic_setting_differences(a, b) == std::vector<std::string>{"time_zone", "doctors"}));
    }

    void testRegionAcceptsTheFiveSinchRegionsOnly() {
        for (const char* region : {"us", "eu", "au", "br", "ca"})
            CPPUNIT_ASSERT_EQUAL(std::string(region), sr::parse_region(region));
        const std::string error = error_of(spec("SinchReminderRegion").apply, "xx");
        CPPUNIT_ASSERT_MESSAGE(error,
                               contains(error, "'xx' is not a Sinch region; use one of us, eu, au, br, ca"));
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderRegion").apply, "US").empty());
    }

    void testLeadTimeUnderstandsHumanDurations() {
        using namespace std::chrono;
        CPPUNIT_ASSERT(sr::parse_lead_time("2h") == hours(2));
        CPPUNIT_ASSERT(sr::parse_lead_time("90m") == minutes(90));
        CPPUNIT_ASSERT(sr::parse_lead_time("1h30m") == minutes(90));
        CPPUNIT_ASSERT(sr::parse_lead_time("1d") == hours(24));
        CPPUNIT_ASSERT(sr::parse_lead_time("3600") == hours(1));
        CPPUNIT_ASSERT_EQUAL(std::string("1h30m"), sr::format_duration(minutes(90)));
        CPPUNIT_ASSERT_EQUAL(std::string("2h"), sr::format_duration(hours(2)));
    }

    void testLeadTimeRejectsZeroAndGarbage() {
        const auto apply_lead = spec("SinchReminderLeadTime").apply;
        CPPUNIT_ASSERT(contains(error_of(apply_lead, "0"), "must be between 1m and 30d"));
        CPPUNIT_ASSERT(contains(error_of(apply_lead, "31d"), "must be between 1m and 30d"));
        CPPUNIT_ASSERT(contains(error_of(apply_lead, "two hours"), "is not a duration"));
        CPPUNIT_ASSERT(contains(error_of(apply_lead, "-2h"), "is not a duration"));
        CPPUNIT_ASSERT(contains(error_of(apply_lead, ""), "is not a duration"));
    }

    void testTimeZoneMustBeAnIanaZone() {
        CPPUNIT_ASSERT_EQUAL(std::string("America/New_York"), sr::parse_time_zone("America/New_York"));
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderTimeZone").apply, "Mars/Olympus_Mons").empty());
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderTimeZone").apply, "../../etc/passwd").empty());
    }

    void testDefaultCountryIsUpperCasedAndChecked() {
        CPPUNIT_ASSERT_EQUAL(std::string("GB"), sr::parse_country("gb"));
        CPPUNIT_ASSERT(contains(error_of(spec("SinchReminderDefaultCountry").apply, "XX"), "ISO 3166"));
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderDefaultCountry").apply, "USA").empty());
    }

    void testSenderIsE164ShortCodeOrAlphanumeric() {
        CPPUNIT_ASSERT_EQUAL(std::string("+12025550100"), sr::parse_sender("+12025550100"));
        CPPUNIT_ASSERT_EQUAL(std::string("12345"), sr::parse_sender("12345"));
        CPPUNIT_ASSERT_EQUAL(std::string("StMaryClin"), sr::parse_sender("StMaryClin"));
        CPPUNIT_ASSERT(contains(error_of(spec("SinchReminderFrom").apply, "+0123"), "is not a sender"));
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderFrom").apply, "St Mary's Hospital").empty());
    }

    void testBaseUrlMustBeHttpAndLosesTrailingSlash() {
        CPPUNIT_ASSERT_EQUAL(std::string("http://127.0.0.1:9999"),
                             sr::parse_base_url("http://127.0.0.1:9999/"));
        CPPUNIT_ASSERT(
            contains(error_of(spec("SinchReminderSmsBaseUrl").apply, "ftp://x"), "not an http(s) base URL"));
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderAuthBaseUrl").apply, "us.sms.api.sinch.com").empty());
    }

    void testConninfoIsCheckedByLibpq() {
        CPPUNIT_ASSERT_NO_THROW(sr::parse_conninfo("host=/tmp dbname=x"));
        CPPUNIT_ASSERT_NO_THROW(sr::parse_conninfo("postgresql://u@localhost/db"));
        const std::string error = error_of(spec("SinchReminderDatabase").apply, "host=x bogus=1");
        CPPUNIT_ASSERT_MESSAGE(
            error, contains(error, "not a valid libpq connection string") && contains(error, "bogus"));
    }

    void testPoolMaxRange() {
        CPPUNIT_ASSERT_EQUAL(5, sr::parse_pool_max("5"));
        CPPUNIT_ASSERT(contains(error_of(spec("SinchReminderDbPoolMax").apply, "0"), "from 1 to 1000"));
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderDbPoolMax").apply, "many").empty());
    }

    void testSecretFileReadsFirstLine() {
        const std::string path = "/tmp/sr_settings_test_secret";
        std::ofstream(path) << "s3cret-token\nignored second line\n";
        sr::SettingValues values;
        apply(values, "SinchReminderApiTokenFile", path);
        std::remove(path.c_str());
        CPPUNIT_ASSERT_EQUAL(std::string("s3cret-token"), values.api_token.value());
        CPPUNIT_ASSERT(spec("SinchReminderApiTokenFile").argument_is_path);
    }

    void testSecretFileMissingSaysWhich() {
        const std::string error = error_of(spec("SinchReminderKeySecretFile").apply, "/nonexistent/secret");
        CPPUNIT_ASSERT_MESSAGE(error, contains(error, "cannot read '/nonexistent/secret'"));
    }

    void testMergeKeepsBaseWhenOverrideUnset() {
        sr::SettingValues base, vhost;
        apply(base, "SinchReminderTimeZone", "Europe/London");
        apply(base, "SinchReminderRegion", "eu");
        apply(vhost, "SinchReminderTimeZone", "America/Chicago");
        const sr::SettingValues merged = sr::merge(base, vhost);
        CPPUNIT_ASSERT_EQUAL(std::string("America/Chicago"), merged.time_zone.value());
        CPPUNIT_ASSERT_EQUAL(std::string("eu"), merged.region.value());
        CPPUNIT_ASSERT(!merged.database.has_value());
    }

    void testDefaultsWhenNothingIsSet() {
        const sr::Settings s = sr::Settings::resolve({});
        CPPUNIT_ASSERT(!s.auth.has_value());
        CPPUNIT_ASSERT_EQUAL(std::string("us"), s.region);
        CPPUNIT_ASSERT(s.lead_time == std::chrono::hours(2));
        CPPUNIT_ASSERT_EQUAL(10, s.db_pool_max);
        CPPUNIT_ASSERT_EQUAL(std::string("https://auth.sinch.com"), s.auth_base_url);
    }

    void testServicePlanWinsWhenBothCredentialSetsComplete() {
        sr::SettingValues v;
        apply(v, "SinchReminderProjectId", "p");
        apply(v, "SinchReminderKeyId", "k");
        apply(v, "SinchReminderKeySecret", "s");
        CPPUNIT_ASSERT(sr::Settings::resolve(v).auth == sr::SinchAuthMode::Project);
        apply(v, "SinchReminderServicePlanId", "plan");
        apply(v, "SinchReminderApiToken", "t");
        CPPUNIT_ASSERT(sr::Settings::resolve(v).auth == sr::SinchAuthMode::ServicePlan);
    }

    void testDefaultHostsFollowRegionAndAuthMode() {
        sr::SettingValues v;
        apply(v, "SinchReminderProjectId", "p");
        apply(v, "SinchReminderKeyId", "k");
        apply(v, "SinchReminderKeySecret", "s");
        apply(v, "SinchReminderRegion", "eu");
        CPPUNIT_ASSERT_EQUAL(std::string("https://zt.eu.sms.api.sinch.com"),
                             sr::Settings::resolve(v).sms_base_url);
        sr::SettingValues plan;
        apply(plan, "SinchReminderServicePlanId", "plan");
        apply(plan, "SinchReminderApiToken", "t");
        apply(plan, "SinchReminderRegion", "au");
        CPPUNIT_ASSERT_EQUAL(std::string("https://au.sms.api.sinch.com"),
                             sr::Settings::resolve(plan).sms_base_url);
        apply(plan, "SinchReminderSmsBaseUrl", "http://127.0.0.1:1234");
        CPPUNIT_ASSERT_EQUAL(std::string("http://127.0.0.1:1234"), sr::Settings::resolve(plan).sms_base_url);
    }

    void testIncompleteCredentialsAreReported() {
        sr::SettingValues v;
        apply(v, "SinchReminderProjectId", "p");
        const auto problems = sr::cross_directive_problems(v, false);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), problems.size());
        CPPUNIT_ASSERT(contains(problems[0], "project credentials are incomplete"));
        sr::SettingValues plan;
        apply(plan, "SinchReminderApiToken", "t");
        CPPUNIT_ASSERT(
            contains(sr::cross_directive_problems(plan, false).at(0), "SinchReminderServicePlanId"));
    }

    void testMountedHandlerNeedsDatabaseCredentialsAndZone() {
        const auto problems = sr::cross_directive_problems({}, true);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), problems.size());
        CPPUNIT_ASSERT(contains(problems[0], "SinchReminderDatabase is not set"));
        CPPUNIT_ASSERT(contains(problems[1], "no Sinch credentials"));
        CPPUNIT_ASSERT(contains(problems[2], "SinchReminderTimeZone is not set"));
    }

    void testUnmountedServerNeedsNothing() {
        CPPUNIT_ASSERT(sr::cross_directive_problems({}, false).empty());
    }

    void testOAuthOutsideUsAndEuIsRefused() {
        sr::SettingValues v;
        apply(v, "SinchReminderProjectId", "p");
        apply(v, "SinchReminderKeyId", "k");
        apply(v, "SinchReminderKeySecret", "s");
        apply(v, "SinchReminderRegion", "br");
        const auto problems = sr::cross_directive_problems(v, false);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), problems.size());
        CPPUNIT_ASSERT(contains(problems[0], "only in us and eu"));
    }

    void testPlainHttpBaseUrlsOnlyForLoopback() {
        for (const char* directive :
             {"SinchReminderPublicBaseUrl", "SinchReminderSmsBaseUrl", "SinchReminderAuthBaseUrl"}) {
            const std::string error = error_of(spec(directive).apply, "http://clinic.example.org");
            CPPUNIT_ASSERT_MESSAGE(error, contains(error, "plain HTTP"));
            CPPUNIT_ASSERT(
                contains(error_of(spec(directive).apply, "http://127.0.0.1.example.org"), "plain HTTP"));
            for (const char* fine : {"http://127.0.0.1:8080", "http://127.1.2.3", "http://localhost:1/x",
                                     "http://[::1]:9", "https://clinic.example.org"}) {
                CPPUNIT_ASSERT_MESSAGE(std::string(directive) + " " + fine,
                                       error_of(spec(directive).apply, fine).empty());
            }
        }
    }

    void testDeliveryReportsNeedAWayToAuthenticateCallbacks() {
        sr::SettingValues v;
        apply(v, "SinchReminderDatabase", "dbname=x");
        apply(v, "SinchReminderServicePlanId", "p");
        apply(v, "SinchReminderApiToken", "t");
        apply(v, "SinchReminderTimeZone", "America/New_York");
        CPPUNIT_ASSERT(sr::cross_directive_problems(v, true).empty());  // no reports asked for
        apply(v, "SinchReminderPublicBaseUrl", "https://clinic.example.org");
        auto problems = sr::cross_directive_problems(v, true);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), problems.size());
        CPPUNIT_ASSERT(contains(problems[0], "SinchReminderCallbackSecretFile"));
        sr::SettingValues token = v;
        apply(token, "SinchReminderCallbackAuth", "url-token");
        CPPUNIT_ASSERT(sr::cross_directive_problems(token, true).empty());
        sr::SettingValues none = v;
        apply(none, "SinchReminderDeliveryReport", "none");
        CPPUNIT_ASSERT(sr::cross_directive_problems(none, true).empty());
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderCallbackAuth").apply, "token").empty());
        CPPUNIT_ASSERT_EQUAL(std::string("hmac"), sr::Settings::resolve({}).callback_auth);
    }

    void testListDirectivesAddUpAndCheckEachValue() {
        CPPUNIT_ASSERT(spec("SinchReminderDoctors").takes_list);
        CPPUNIT_ASSERT(!spec("SinchReminderRegion").takes_list);
        sr::SettingValues v;
        apply(v, "SinchReminderDoctors", "Dr. Rivera");
        apply(v, "SinchReminderDoctors", " Dr. Chen ");
        apply(v, "SinchReminderAllowedCountries", "us");
        apply(v, "SinchReminderAllowedCountries", "CA");
        const auto s = sr::Settings::resolve(v);
        CPPUNIT_ASSERT((s.doctors == std::vector<std::string>{"Dr. Rivera", "Dr. Chen"}));
        CPPUNIT_ASSERT((s.allowed_countries == std::vector<std::string>{"US", "CA"}));
        CPPUNIT_ASSERT(contains(error_of(spec("SinchReminderDoctors").apply, "Dr. Evil www.x.example"),
                                "web addresses"));
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderAllowedCountries").apply, "XX").empty());
        // A virtual host's list replaces the main server's.
        sr::SettingValues vhost;
        apply(vhost, "SinchReminderDoctors", "Dr. Okafor");
        CPPUNIT_ASSERT(
            (sr::Settings::resolve(sr::merge(v, vhost)).doctors == std::vector<std::string>{"Dr. Okafor"}));
        CPPUNIT_ASSERT(sr::Settings::resolve({}).doctors.empty());
    }

    void testRetentionAndBookingLimit() {
        CPPUNIT_ASSERT(sr::Settings::resolve({}).retention == std::chrono::hours(24 * 180));
        CPPUNIT_ASSERT_EQUAL(100, sr::Settings::resolve({}).bookings_per_user_per_hour);
        CPPUNIT_ASSERT(sr::parse_retention("off").count() == 0);
        CPPUNIT_ASSERT(sr::parse_retention("365d") == std::chrono::hours(24 * 365));
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderRetention").apply, "1h").empty());
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderRetention").apply, "soon").empty());
        CPPUNIT_ASSERT_EQUAL(0, sr::parse_bookings_per_hour("0"));
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderBookingsPerUserPerHour").apply, "-1").empty());
    }

    void testTheSmsIsCheckedForItsLengthAndForSensitiveWords() {
        CPPUNIT_ASSERT_EQUAL(2, sr::Settings::resolve({}).max_segments);
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderMaxSegments").apply, "0").empty());
        CPPUNIT_ASSERT(!error_of(spec("SinchReminderMaxSegments").apply, "11").empty());
        CPPUNIT_ASSERT(
            contains(error_of(spec("SinchReminderSensitiveWords").apply, "two words"), "one word"));
        CPPUNIT_ASSERT(!sr::Settings::resolve({}).sensitive_words.empty());  // the built-in list

        sr::SettingValues v;
        apply(v, "SinchReminderTimeZone", "America/New_York");
        apply(v, "SinchReminderClinicName", "Riverside Clinic");
        // The shipped message fits the default 2 parts with any typed doctor's name up to 40 characters.
        sr::MessageCheck check = sr::check_reminder_message(sr::Settings::resolve(v), 2027);
        CPPUNIT_ASSERT(check.problems.empty());
        CPPUNIT_ASSERT(check.warnings.empty());
        // One part is too few with a long clinic name: refused, with the text and the name that make it long.
        apply(v, "SinchReminderClinicName", "Saint Bartholomew's University Hospital of London");
        apply(v, "SinchReminderMaxSegments", "1");
        check = sr::check_reminder_message(sr::Settings::resolve(v), 2027);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), check.problems.size());
        CPPUNIT_ASSERT_MESSAGE(
            check.problems[0],
            contains(check.problems[0], "needs 2 parts (GSM-7") &&
                contains(check.problems[0], "SinchReminderMaxSegments 1") &&
                contains(check.problems[0], "London reminder: your appointment with Dr. "));
        // With a list of short names it fits.
        apply(v, "SinchReminderDoctors", "Dr. Li");
        CPPUNIT_ASSERT(sr::check_reminder_message(sr::Settings::resolve(v), 2027).problems.empty());

        // A department word in the clinic's name (shown in the SMS) or the message: a warning naming both.
        apply(v, "SinchReminderClinicName", "Riverside Oncology");
        apply(v, "SinchReminderMessage", "HIV clinic: {{clinic}}, {{date_time}}");
        check = sr::check_reminder_message(sr::Settings::resolve(v), 2027);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), check.warnings.size());
        CPPUNIT_ASSERT_MESSAGE(check.warnings[0],
                               contains(check.warnings[0], "SR0027: SinchReminderMessage puts \"hiv\""));
        CPPUNIT_ASSERT_MESSAGE(
            check.warnings[1],
            contains(check.warnings[1], "SR0027: SinchReminderClinicName puts \"oncology\""));
        // A listed doctor goes into the SMS too.
        apply(v, "SinchReminderDoctors", "Dr. Okafor (Oncology)");
        check = sr::check_reminder_message(sr::Settings::resolve(v), 2027);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), check.warnings.size());
        CPPUNIT_ASSERT_MESSAGE(check.warnings[2],
                               contains(check.warnings[2], "SR0027: SinchReminderDoctors puts \"oncology\""));
        // The clinic's own list replaces the built-in one; "none" checks nothing.
        apply(v, "SinchReminderSensitiveWords", "none");
        CPPUNIT_ASSERT(sr::check_reminder_message(sr::Settings::resolve(v), 2027).warnings.empty());
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(SettingsTest);
