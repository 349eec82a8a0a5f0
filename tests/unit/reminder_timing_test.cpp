// When a reminder goes: the lead time, moved out of the clinic's quiet hours (SinchReminderQuietHours).
#include <cppunit/extensions/HelperMacros.h>

#include <string>

#include "core/appointment_form.hpp"
#include "core/errors.hpp"
#include "core/reminder_timing.hpp"

namespace {

using namespace std::chrono_literals;

sr::Instant at(const std::string& iso) { return *sr::parse_iso_utc(iso); }
std::string iso(sr::Instant instant) { return sr::format_utc_iso_millis(instant); }

}  // namespace

class ReminderTimingTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ReminderTimingTest);
    CPPUNIT_TEST(testQuietHoursAreParsedInTwentyFourHourClinicTime);
    CPPUNIT_TEST(testOutsideQuietHoursTheLeadTimeHolds);
    CPPUNIT_TEST(testAnEarlyMorningReminderGoesTheEveningBefore);
    CPPUNIT_TEST(testALateEveningReminderGoesJustBeforeTheQuietHoursThatDay);
    CPPUNIT_TEST(testQuietHoursFromMidnightMoveToTheDayBefore);
    CPPUNIT_TEST(testTheEveningBeforeIsInTheRulesOfThatEveningAcrossDst);
    CPPUNIT_TEST(testBookingSaysWhenTheLastMinuteBeforeQuietHoursHasPassed);
    CPPUNIT_TEST_SUITE_END();

    sr::ClinicZone new_york = sr::ClinicZone::load("America/New_York");
    sr::QuietHours night = sr::parse_quiet_hours("21:00-08:00");

  public:
    void testQuietHoursAreParsedInTwentyFourHourClinicTime() {
        CPPUNIT_ASSERT_EQUAL(21 * 60, night.start);
        CPPUNIT_ASSERT_EQUAL(8 * 60, night.end);
        CPPUNIT_ASSERT_EQUAL(std::string("21:00\u201308:00"), night.text());
        CPPUNIT_ASSERT(!sr::parse_quiet_hours("off").active());
        CPPUNIT_ASSERT_THROW(sr::parse_quiet_hours("9pm-8am"), sr::ConfigError);
        CPPUNIT_ASSERT_THROW(sr::parse_quiet_hours("24:00-08:00"), sr::ConfigError);
        CPPUNIT_ASSERT_THROW(sr::parse_quiet_hours("08:00-08:00"), sr::ConfigError);
        // Wrapping past midnight, and a period within one day.
        CPPUNIT_ASSERT(night.contains(21 * 60) && night.contains(23 * 60 + 59) && night.contains(0) &&
                       night.contains(7 * 60 + 59));
        CPPUNIT_ASSERT(!night.contains(8 * 60) && !night.contains(20 * 60 + 59));
        const sr::QuietHours lunch = sr::parse_quiet_hours("12:00-13:30");
        CPPUNIT_ASSERT(lunch.contains(12 * 60) && lunch.contains(13 * 60 + 29) &&
                       !lunch.contains(13 * 60 + 30));
    }

    void testOutsideQuietHoursTheLeadTimeHolds() {
        // 14:30 EST appointment, 2 h before: 12:30 EST.
        const sr::ReminderTime t = sr::reminder_time(at("2026-12-09T19:30:00Z"), 2h, night, new_york);
        CPPUNIT_ASSERT(!t.moved_for_quiet_hours);
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-09T17:30:00.000Z"), iso(t.send_at));
        CPPUNIT_ASSERT(t.send_at == t.lead_time_slot);
        // Without quiet hours nothing ever moves, not even a 06:00 reminder.
        const sr::ReminderTime none =
            sr::reminder_time(at("2026-12-09T13:00:00Z"), 2h, sr::QuietHours{}, new_york);
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-09T11:00:00.000Z"), iso(none.send_at));
    }

    void testAnEarlyMorningReminderGoesTheEveningBefore() {
        // 08:00 EST appointment: 06:00 is inside 21:00-08:00, which began at 21:00 the day before.
        const sr::ReminderTime t = sr::reminder_time(at("2026-12-09T13:00:00Z"), 2h, night, new_york);
        CPPUNIT_ASSERT(t.moved_for_quiet_hours);
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-09T01:59:00.000Z"), iso(t.send_at));  // Dec 8, 20:59 EST
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-09T11:00:00.000Z"), iso(t.lead_time_slot));
    }

    void testALateEveningReminderGoesJustBeforeTheQuietHoursThatDay() {
        // 00:30 EST appointment on Dec 10: 22:30 on Dec 9 is inside; the period began at 21:00 on Dec 9.
        const sr::ReminderTime t = sr::reminder_time(at("2026-12-10T05:30:00Z"), 2h, night, new_york);
        CPPUNIT_ASSERT(t.moved_for_quiet_hours);
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-10T01:59:00.000Z"), iso(t.send_at));  // Dec 9, 20:59 EST
        // A period within one day: 12:45 moves to 11:59 the same day.
        const sr::ReminderTime lunch =
            sr::reminder_time(at("2026-12-09T19:45:00Z"), 2h, sr::parse_quiet_hours("12:00-13:30"), new_york);
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-09T16:59:00.000Z"), iso(lunch.send_at));
    }

    void testQuietHoursFromMidnightMoveToTheDayBefore() {
        // 07:00 EST appointment, quiet 00:00-06:00: 05:00 moves to 23:59 the day before.
        const sr::ReminderTime t =
            sr::reminder_time(at("2026-12-09T12:00:00Z"), 2h, sr::parse_quiet_hours("00:00-06:00"), new_york);
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-09T04:59:00.000Z"), iso(t.send_at));  // Dec 8, 23:59 EST
        // Across a month and a year boundary.
        const sr::ReminderTime new_year =
            sr::reminder_time(at("2027-01-01T12:00:00Z"), 2h, sr::parse_quiet_hours("00:00-06:00"), new_york);
        CPPUNIT_ASSERT_EQUAL(std::string("2027-01-01T04:59:00.000Z"),
                             iso(new_year.send_at));  // Dec 31, 23:59
    }

    void testTheEveningBeforeIsInTheRulesOfThatEveningAcrossDst() {
        // DST starts in New York on 2027-03-14 at 02:00. An 08:00 EDT appointment (12:00Z): 06:00 EDT is
        // quiet, the period began on Mar 13 at 21:00 EST, so the reminder goes at 20:59 EST = 01:59Z (python:
        // datetime(2027,3,13,20,59,tzinfo=ZoneInfo("America/New_York")).astimezone(timezone.utc)).
        const sr::ReminderTime t = sr::reminder_time(at("2027-03-14T12:00:00Z"), 2h, night, new_york);
        CPPUNIT_ASSERT_EQUAL(std::string("2027-03-14T01:59:00.000Z"), iso(t.send_at));
        // And back in November (ends 2027-11-07 02:00): 08:00 EST = 13:00Z, the evening before at 20:59 EDT.
        const sr::ReminderTime fall = sr::reminder_time(at("2027-11-07T13:00:00Z"), 2h, night, new_york);
        CPPUNIT_ASSERT_EQUAL(std::string("2027-11-07T00:59:00.000Z"), iso(fall.send_at));
    }

    void testBookingSaysWhenTheLastMinuteBeforeQuietHoursHasPassed() {
        sr::ValidationContext context;
        context.zone = &new_york;
        context.default_country = "US";
        context.quiet_hours = night;
        context.now = at("2026-12-09T04:00:00Z");  // Dec 8, 23:00 EST: inside the quiet hours
        sr::AppointmentInput input;
        input.patient_name = "Ada Lovelace";
        input.doctor_name = "Dr. Grace Hopper";
        input.phone = "(650) 253-0000";
        input.appointment_date = "2026-12-09";
        input.appointment_time = "08:00";  // its reminder would go at 20:59 on Dec 8: passed
        sr::FormValidation v = sr::validate_appointment(input, context);
        CPPUNIT_ASSERT(v.ok());
        CPPUNIT_ASSERT(v.appointment->reminder_slot_passed);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), v.notices.size());
        CPPUNIT_ASSERT_MESSAGE(v.notices[0],
                               v.notices[0].find("quiet hours (21:00\u201308:00)") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(v.notices[0],
                               v.notices[0].find("Please tell the patient directly") != std::string::npos);
        // Booked the afternoon before, the same appointment is reminded at 20:59.
        context.now = at("2026-12-08T20:00:00Z");
        v = sr::validate_appointment(input, context);
        CPPUNIT_ASSERT(!v.appointment->reminder_slot_passed);
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-09T01:59:00.000Z"), iso(v.appointment->reminder_at));
        CPPUNIT_ASSERT(v.notices.empty());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ReminderTimingTest);
