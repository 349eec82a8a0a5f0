// Every check the form makes, as staff meet it.
#include <cppunit/extensions/HelperMacros.h>

#include "core/appointment_form.hpp"

namespace {

sr::Instant at_utc(int y, int mo, int d, int h, int mi) {
    return *sr::parse_iso_utc([&] {
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:00Z", y, mo, d, h, mi);
        return std::string(buffer);
    }());
}

sr::AppointmentInput good_input() {
    sr::AppointmentInput in;
    in.patient_name = "  Ada Lovelace ";
    in.doctor_name = "Dr. Grace Hopper";
    in.phone = "(650) 253-0000";
    in.appointment_date = "2026-12-01";
    in.appointment_time = "14:30";
    return in;
}

}  // namespace

class AppointmentFormTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(AppointmentFormTest);
    CPPUNIT_TEST(testGoodInputGivesUtcAndReminderTwoHoursEarlier);
    CPPUNIT_TEST(testNamesAreRequiredTrimmedAndBounded);
    CPPUNIT_TEST(testInvalidUtf8IsRefused);
    CPPUNIT_TEST(testPhoneErrorsStayOnThePhoneField);
    CPPUNIT_TEST(testUnknownButPossibleNumberNeedsConfirmation);
    CPPUNIT_TEST(testImpossibleDatesAndTimesSayWhichIsWrong);
    CPPUNIT_TEST(testPastAppointmentIsRefused);
    CPPUNIT_TEST(testReminderSlotAlreadyPassedIsNotAnErrorButSaidPlainly);
    CPPUNIT_TEST(testDstGapIsShiftedAndSaid);
    CPPUNIT_TEST(testStrictModeRefusesGapsAndOverlaps);
    CPPUNIT_TEST(testMexicoCityUsesCurrentRules);
    CPPUNIT_TEST(testDoctorNameCannotCarryLinksMarkupOrNumbers);
    CPPUNIT_TEST(testDoctorListAndAllowedCountries);
    CPPUNIT_TEST(testReminderTextIsRenderedAndRefusedBeyondTheClinicsParts);
    CPPUNIT_TEST_SUITE_END();

    sr::ClinicZone new_york = sr::ClinicZone::load("America/New_York");

    sr::ValidationContext context(sr::Instant now) const {
        sr::ValidationContext c;
        c.zone = &new_york;
        c.default_country = "US";
        c.lead_time = std::chrono::hours(2);
        c.now = now;
        return c;
    }

  public:
    void testGoodInputGivesUtcAndReminderTwoHoursEarlier() {
        const auto v = sr::validate_appointment(good_input(), context(at_utc(2026, 11, 27, 12, 0)));
        CPPUNIT_ASSERT(v.ok());
        CPPUNIT_ASSERT(v.field_errors.empty());
        CPPUNIT_ASSERT_EQUAL(std::string("Ada Lovelace"), v.appointment->patient_name);
        CPPUNIT_ASSERT_EQUAL(std::string("+16502530000"), v.appointment->phone_e164);
        // 14:30 EST = 19:30Z; the reminder goes at 17:30Z.
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-01T19:30:00.000Z"),
                             sr::format_utc_iso_millis(v.appointment->starts.utc));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-01T17:30:00.000Z"),
                             sr::format_utc_iso_millis(v.appointment->reminder_at));
        CPPUNIT_ASSERT(!v.appointment->reminder_slot_passed);
        CPPUNIT_ASSERT(v.notices.empty());
    }

    void testNamesAreRequiredTrimmedAndBounded() {
        auto in = good_input();
        in.patient_name = "   ";
        in.doctor_name = std::string(201, 'x');
        const auto v = sr::validate_appointment(in, context(at_utc(2026, 11, 27, 12, 0)));
        CPPUNIT_ASSERT(!v.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("Enter the patient's name."), v.field_errors.at("patient_name"));
        CPPUNIT_ASSERT(v.field_errors.at("doctor_name").find("too long") != std::string::npos);
        in.doctor_name = std::string(200, 'x');
        in.patient_name = "Zoë Ωmega";  // 9 characters, 11 bytes
        CPPUNIT_ASSERT(sr::validate_appointment(in, context(at_utc(2026, 11, 27, 12, 0))).ok());
    }

    void testInvalidUtf8IsRefused() {
        auto in = good_input();
        in.patient_name = "Ada \xC3\x28";
        const auto v = sr::validate_appointment(in, context(at_utc(2026, 11, 27, 12, 0)));
        CPPUNIT_ASSERT(v.field_errors.at("patient_name").find("not valid text") != std::string::npos);
        CPPUNIT_ASSERT(!sr::is_valid_utf8("\xED\xA0\x80"));  // a surrogate
        CPPUNIT_ASSERT(!sr::is_valid_utf8("\xC0\xAF"));      // overlong '/'
        CPPUNIT_ASSERT(sr::is_valid_utf8("日本語 ✓"));
        in.patient_name = "Ada\x01";
        CPPUNIT_ASSERT(sr::validate_appointment(in, context(at_utc(2026, 11, 27, 12, 0)))
                           .field_errors.count("patient_name"));
    }

    void testPhoneErrorsStayOnThePhoneField() {
        auto in = good_input();
        in.phone = "call me";
        const auto v = sr::validate_appointment(in, context(at_utc(2026, 11, 27, 12, 0)));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), v.field_errors.size());
        CPPUNIT_ASSERT(v.field_errors.count("phone"));
    }

    void testUnknownButPossibleNumberNeedsConfirmation() {
        auto in = good_input();
        in.phone = "(645) 555-0123";
        auto v = sr::validate_appointment(in, context(at_utc(2026, 11, 27, 12, 0)));
        CPPUNIT_ASSERT(!v.ok());
        CPPUNIT_ASSERT(v.phone_needs_confirmation);
        CPPUNIT_ASSERT(v.field_errors.at("phone").find("confirm") != std::string::npos);
        in.phone_confirmed = true;
        v = sr::validate_appointment(in, context(at_utc(2026, 11, 27, 12, 0)));
        CPPUNIT_ASSERT(v.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("+16455550123"), v.appointment->phone_e164);
    }

    void testImpossibleDatesAndTimesSayWhichIsWrong() {
        auto in = good_input();
        in.appointment_date = "2026-02-30";
        auto v = sr::validate_appointment(in, context(at_utc(2026, 1, 1, 0, 0)));
        CPPUNIT_ASSERT(v.field_errors.count("appointment_date") && !v.field_errors.count("appointment_time"));
        in = good_input();
        in.appointment_time = "25:00";
        v = sr::validate_appointment(in, context(at_utc(2026, 1, 1, 0, 0)));
        CPPUNIT_ASSERT(v.field_errors.count("appointment_time") && !v.field_errors.count("appointment_date"));
        in.appointment_time = "";
        v = sr::validate_appointment(in, context(at_utc(2026, 1, 1, 0, 0)));
        CPPUNIT_ASSERT(v.field_errors.at("appointment_time").find("Enter") != std::string::npos);
    }

    void testPastAppointmentIsRefused() {
        const auto v = sr::validate_appointment(good_input(), context(at_utc(2026, 12, 1, 19, 31)));
        CPPUNIT_ASSERT_EQUAL(std::string("This appointment time has already passed."),
                             v.field_errors.at("appointment_date"));
    }

    void testReminderSlotAlreadyPassedIsNotAnErrorButSaidPlainly() {
        // One hour before the appointment: the 2-hour reminder slot is gone.
        const auto v = sr::validate_appointment(good_input(), context(at_utc(2026, 12, 1, 18, 30)));
        CPPUNIT_ASSERT(v.ok());
        CPPUNIT_ASSERT(v.appointment->reminder_slot_passed);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), v.notices.size());
        CPPUNIT_ASSERT(v.notices[0].find("no SMS will be sent") != std::string::npos);
    }

    void testDstGapIsShiftedAndSaid() {
        auto in = good_input();
        in.appointment_date = "2027-03-14";
        in.appointment_time = "02:30";  // does not exist in New York that night
        const auto v = sr::validate_appointment(in, context(at_utc(2027, 1, 1, 0, 0)));
        CPPUNIT_ASSERT(v.ok());
        CPPUNIT_ASSERT(v.appointment->starts.resolution == sr::WallTimeResolution::GapShiftedForward);
        CPPUNIT_ASSERT_EQUAL(std::string("2027-03-14T07:30:00.000Z"),
                             sr::format_utc_iso_millis(v.appointment->starts.utc));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), v.notices.size());
    }

    void testStrictModeRefusesGapsAndOverlaps() {
        auto c = context(at_utc(2027, 1, 1, 0, 0));
        c.wall_time_policy = sr::WallTimePolicy::Strict;
        auto in = good_input();
        in.appointment_date = "2027-11-07";
        in.appointment_time = "01:30";  // happens twice
        const auto v = sr::validate_appointment(in, c);
        CPPUNIT_ASSERT(!v.ok());
        CPPUNIT_ASSERT(v.field_errors.count("appointment_time"));
    }

    void testMexicoCityUsesCurrentRules() {
        const auto mexico = sr::ClinicZone::load("America/Mexico_City");
        auto c = context(at_utc(2027, 1, 1, 0, 0));
        c.zone = &mexico;
        c.default_country = "MX";
        auto in = good_input();
        in.phone = "+52 55 1234 5678";
        in.appointment_date = "2027-07-15";
        in.appointment_time = "10:00";
        const auto v = sr::validate_appointment(in, c);
        CPPUNIT_ASSERT(v.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("2027-07-15T14:00:00.000Z"),
                             sr::format_utc_iso_millis(v.appointment->reminder_at));
    }

    void testDoctorNameCannotCarryLinksMarkupOrNumbers() {
        const auto now = at_utc(2026, 11, 27, 12, 0);
        for (const char* bad :
             {"Dr. X www.refund.example", "Dr. X bit.ly/abc", "Dr. X <b>", "https://x", "Dr. X {{a}}",
              "Dr. X a@b", "Dr. X EVIL.COM", "Dr. X +1 650 253 0000", "Dr. X 0900-1234", "WWW x"}) {
            auto in = good_input();
            in.doctor_name = bad;
            const auto v = sr::validate_appointment(in, context(now));
            CPPUNIT_ASSERT_MESSAGE(bad, v.field_errors.count("doctor_name") == 1);
            CPPUNIT_ASSERT_MESSAGE(
                bad, v.field_errors.at("doctor_name").find("must not contain") != std::string::npos);
        }
        for (const char* good :
             {"Dr. Grace Hopper", "Prof. Dr. Müller-Lüdenscheidt", "Dr. O'Neil (Cardiology)",
              "Dr. A. B. Smith", "Dr. Hopper & Dr. Byron", "Dr. J. Smith Jr., MD"}) {
            auto in = good_input();
            in.doctor_name = good;
            CPPUNIT_ASSERT_MESSAGE(good, sr::validate_appointment(in, context(now)).ok());
        }
    }

    void testDoctorListAndAllowedCountries() {
        auto c = context(at_utc(2026, 11, 27, 12, 0));
        c.doctors = {"Dr. Grace Hopper", "Dr. Ada Byron"};
        CPPUNIT_ASSERT(sr::validate_appointment(good_input(), c).ok());
        auto in = good_input();
        in.doctor_name = "Dr. Mallory";
        CPPUNIT_ASSERT_EQUAL(std::string("Choose the doctor from the list."),
                             sr::validate_appointment(in, c).field_errors.at("doctor_name"));
        c.allowed_countries = {"CA", "US"};
        CPPUNIT_ASSERT(sr::validate_appointment(good_input(), c).ok());
        in = good_input();
        in.phone = "+44 20 7946 0958";
        const auto v = sr::validate_appointment(in, c);
        CPPUNIT_ASSERT(v.field_errors.at("phone").find("only to numbers of CA, US") != std::string::npos);
        c.allowed_countries = {"GB"};
        CPPUNIT_ASSERT(sr::validate_appointment(in, c).ok());
        CPPUNIT_ASSERT(sr::validate_appointment(good_input(), c).field_errors.count("phone") == 1);
    }

    void testReminderTextIsRenderedAndRefusedBeyondTheClinicsParts() {
        const sr::MessageTemplate message = sr::MessageTemplate::parse(sr::MessageTemplate::kDefaultText);
        auto c = context(at_utc(2026, 11, 27, 12, 0));
        c.message = &message;
        c.clinic_name = "Riverside Clinic";
        c.max_segments = 1;
        auto in = good_input();
        in.doctor_name = "Dr. Grace Hopper";
        const auto fits = sr::validate_appointment(in, c);
        CPPUNIT_ASSERT(fits.ok());
        CPPUNIT_ASSERT_EQUAL(
            std::string("Riverside Clinic reminder: your appointment with Dr. Grace Hopper is on "
                        "Tue, Dec 1, 2026, 2:30 PM EST. Reply STOP to opt out."),
            fits.appointment->reminder_body);
        // A long name needs a second part: refused under the doctor's name, which is what staff can change.
        in.doctor_name = "Dr. Maximiliane Alexandra Featherstonehaugh-Abbott of Cardiology";
        auto refused = sr::validate_appointment(in, c);
        CPPUNIT_ASSERT(!refused.ok());
        CPPUNIT_ASSERT_EQUAL(
            std::string("With this doctor's name the reminder SMS would need 2 parts; this clinic "
                        "sends at most 1. Please shorten the name."),
            refused.field_errors["doctor_name"]);
        // One letter outside the GSM-7 alphabet makes the whole SMS Unicode, 70 characters a part; the
        // message says so.
        in.doctor_name = "Dr. \xC5\x81ukasz Nowak";  // Ł
        refused = sr::validate_appointment(in, c);
        CPPUNIT_ASSERT(!refused.ok());
        CPPUNIT_ASSERT(refused.field_errors["doctor_name"].find("outside the basic SMS alphabet") !=
                       std::string::npos);
        c.max_segments = 2;
        CPPUNIT_ASSERT(sr::validate_appointment(in, c).ok());
        // Without a message in the context nothing is rendered (reschedule's time checks, the fuzz targets).
        CPPUNIT_ASSERT(sr::validate_appointment(good_input(), context(at_utc(2026, 11, 27, 12, 0)))
                           .appointment->reminder_body.empty());
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(AppointmentFormTest);
