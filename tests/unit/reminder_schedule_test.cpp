// SinchReminderSchedule: several reminders per appointment, each a duration before it or a clinic wall time
// N days before; quiet hours apply to each; DST gaps and overlaps as clock.hpp resolves every wall time.
// Every expected instant below is Python's zoneinfo computation (fold=0, which reads a time in a gap with the
// offset before the change, i.e. moves it forward by the gap, and takes the first of two in an overlap), e.g.
//   datetime(2027, 3, 14, 18, 0, tzinfo=ZoneInfo("America/New_York")).astimezone(timezone.utc)
// tests/integration/test_reminder_schedule.py and tests/tzcheck/schedule_cases.py compare with zoneinfo live.
#include <cppunit/extensions/HelperMacros.h>

#include <string>

#include "core/appointment_form.hpp"
#include "core/errors.hpp"
#include "core/reminder_timing.hpp"
#include "core/settings.hpp"

namespace {

using namespace std::chrono_literals;

sr::Instant at(const std::string& iso) { return *sr::parse_iso_utc(iso); }
std::string iso(sr::Instant instant) { return sr::format_utc_iso_millis(instant); }

sr::ReminderSchedule schedule(const std::vector<std::string>& entries) {
    sr::ReminderSchedule out;
    for (const std::string& entry : entries) out.push_back(sr::parse_schedule_entry(entry));
    return out;
}

// "slot@send_at" per reminder, in order.
std::string plan_text(const std::vector<sr::PlannedReminder>& planned) {
    std::string out;
    for (const sr::PlannedReminder& p : planned) {
        out += (out.empty() ? "" : " ") + std::to_string(p.slot) + "@" + iso(p.time.send_at).substr(0, 16) +
               (p.after_appointment ? "(after)" : "");
    }
    return out;
}

}  // namespace

class ReminderScheduleTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ReminderScheduleTest);
    CPPUNIT_TEST(testEntriesAreParsedAndWrittenBack);
    CPPUNIT_TEST(testBadEntriesAreRefusedWithTheReason);
    CPPUNIT_TEST(testTheDirectiveIsAListAndTheLeadTimeIsItsDefault);
    CPPUNIT_TEST(testScheduleAndLeadTimeTogetherAreRefused);
    CPPUNIT_TEST(testTheDayBeforeAtSixAndTwoHoursBeforeAcrossSpringForward);
    CPPUNIT_TEST(testTheDayBeforeIsACalendarDayInTheRulesOfThatDay);
    CPPUNIT_TEST(testAWallTimeInAGapMovesForwardAndInAnOverlapTakesTheFirst);
    CPPUNIT_TEST(testQuietHoursApplyToEachEntryAndTheSameMinuteIsOneReminder);
    CPPUNIT_TEST(testAnEntryAtOrAfterTheAppointmentIsLeftOut);
    CPPUNIT_TEST(testBookingKeepsTheOthersWhenOneSlotHasPassed);
    CPPUNIT_TEST(testBookingWithOnlyTheLeadTimeIsUnchanged);
    CPPUNIT_TEST_SUITE_END();

    sr::ClinicZone new_york = sr::ClinicZone::load("America/New_York");
    sr::QuietHours night = sr::parse_quiet_hours("21:00-08:00");

    sr::ValidationContext context(const std::string& now) {
        sr::ValidationContext c;
        c.zone = &new_york;
        c.default_country = "US";
        c.now = at(now);
        return c;
    }
    static sr::AppointmentInput input(const std::string& date, const std::string& time) {
        sr::AppointmentInput in;
        in.patient_name = "Ada Lovelace";
        in.doctor_name = "Dr. Grace Hopper";
        in.phone = "(650) 253-0000";
        in.appointment_date = date;
        in.appointment_time = time;
        return in;
    }

  public:
    void testEntriesAreParsedAndWrittenBack() {
        const sr::ScheduleEntry day_before = sr::parse_schedule_entry("1d@18:00");
        CPPUNIT_ASSERT(day_before.days_before && *day_before.days_before == 1);
        CPPUNIT_ASSERT_EQUAL(18 * 60, day_before.minute_of_day);
        CPPUNIT_ASSERT_EQUAL(std::string("1d@18:00"), day_before.text());
        const sr::ScheduleEntry same_day = sr::parse_schedule_entry("0d@07:05");
        CPPUNIT_ASSERT(same_day.days_before && *same_day.days_before == 0);
        CPPUNIT_ASSERT_EQUAL(7 * 60 + 5, same_day.minute_of_day);
        const sr::ScheduleEntry two_hours = sr::parse_schedule_entry("2h");
        CPPUNIT_ASSERT(!two_hours.days_before);
        CPPUNIT_ASSERT(two_hours.before == 2h);
        CPPUNIT_ASSERT_EQUAL(std::string("2h"), two_hours.text());
        CPPUNIT_ASSERT(sr::parse_schedule_entry("90m").before == 90min);
        CPPUNIT_ASSERT(sr::parse_schedule_entry("1d").before == 24h);  // elapsed: not "1d@" a wall time
        CPPUNIT_ASSERT_EQUAL(std::string("1d@18:00 2h"), sr::schedule_text(schedule({"1d@18:00", "2h"})));
        CPPUNIT_ASSERT(sr::parse_schedule_entry("60d@23:59").days_before == 60);
    }

    void testBadEntriesAreRefusedWithTheReason() {
        for (const char* bad : {"1d@24:00", "1d@18", "1d@6:00", "61d@10:00", "-1d@10:00", "d@10:00",
                                "1d18:00", "@18:00", "2x", "0", "30s", "31d", ""}) {
            CPPUNIT_ASSERT_THROW_MESSAGE(bad, sr::parse_schedule_entry(bad), sr::ConfigError);
        }
        try {
            sr::parse_schedule_entry("1d@6pm");
            CPPUNIT_FAIL("1d@6pm accepted");
        } catch (const sr::ConfigError& e) {
            CPPUNIT_ASSERT_MESSAGE(e.what(), std::string(e.what()).find("Nd@HH:MM") != std::string::npos);
        }
    }

    void testTheDirectiveIsAListAndTheLeadTimeIsItsDefault() {
        const sr::DirectiveSpec* spec = nullptr;
        for (const sr::DirectiveSpec& s : sr::directive_specs()) {
            if (std::string(s.name) == "SinchReminderSchedule") spec = &s;
        }
        CPPUNIT_ASSERT(spec && spec->takes_list && spec->clinic_scoped);
        sr::SettingValues values;
        spec->apply(values, "1d@18:00");
        spec->apply(values, "2h");
        CPPUNIT_ASSERT_EQUAL(std::string("1d@18:00 2h"),
                             sr::schedule_text(sr::Settings::resolve(values).schedule));
        sr::SettingValues lead;
        lead.lead_time = 3h;
        CPPUNIT_ASSERT_EQUAL(std::string("3h"), sr::schedule_text(sr::Settings::resolve(lead).schedule));
        CPPUNIT_ASSERT_EQUAL(std::string("2h"), sr::schedule_text(sr::Settings::resolve({}).schedule));
        // A mount's schedule replaces the server's, and two mounts of one clinic must agree on it.
        sr::SettingValues mount;
        mount.schedule = schedule({"2h"});
        CPPUNIT_ASSERT_EQUAL(std::string("2h"), sr::schedule_text(*sr::merge(values, mount).schedule));
        const auto differ = sr::clinic_setting_differences(values, mount);
        CPPUNIT_ASSERT(std::find(differ.begin(), differ.end(), "schedule") != differ.end());
    }

    void testScheduleAndLeadTimeTogetherAreRefused() {
        sr::SettingValues values;
        values.schedule = schedule({"1d@18:00", "2h"});
        const auto has_problem = [](const sr::SettingValues& v) {
            for (const std::string& p : sr::cross_directive_problems(v, false)) {
                if (p.find("SinchReminderSchedule and SinchReminderLeadTime") != std::string::npos)
                    return true;
            }
            return false;
        };
        CPPUNIT_ASSERT(!has_problem(values));
        values.lead_time = 2h;
        CPPUNIT_ASSERT(has_problem(values));
        sr::SettingValues many;
        many.schedule = schedule({"1h", "2h", "3h", "4h", "5h", "6h", "7h", "8h", "9h", "10h", "11h"});
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), sr::cross_directive_problems(many, false).size());
    }

    void testTheDayBeforeAtSixAndTwoHoursBeforeAcrossSpringForward() {
        // DST starts 2027-03-14 02:00. Appointment Monday 2027-03-15 09:00 EDT = 13:00Z.
        // 1d@18:00: 2027-03-14 18:00 EDT = 22:00Z; 2h: 11:00Z.
        CPPUNIT_ASSERT_EQUAL(
            std::string("1@2027-03-14T22:00 2@2027-03-15T11:00"),
            plan_text(sr::reminder_times(at("2027-03-15T13:00:00Z"), schedule({"1d@18:00", "2h"}),
                                         sr::QuietHours{}, new_york)));
        // Appointment on the DST day itself, 10:00 EDT = 14:00Z: the day before at 18:00 is still EST
        // (23:00Z), while "24 hours" is elapsed time (14:00Z, i.e. 09:00 EST).
        CPPUNIT_ASSERT_EQUAL(
            std::string("1@2027-03-13T23:00 2@2027-03-13T14:00"),
            plan_text(sr::reminder_times(at("2027-03-14T14:00:00Z"), schedule({"1d@18:00", "1d"}),
                                         sr::QuietHours{}, new_york)));
    }

    void testTheDayBeforeIsACalendarDayInTheRulesOfThatDay() {
        // Across a month and a year end: 2027-01-01 09:00 EST = 14:00Z; 2d@18:00 = 2026-12-30 18:00 EST =
        // 23:00Z.
        CPPUNIT_ASSERT_EQUAL(std::string("1@2026-12-30T23:00"),
                             plan_text(sr::reminder_times(at("2027-01-01T14:00:00Z"), schedule({"2d@18:00"}),
                                                          sr::QuietHours{}, new_york)));
        // The appointment's day is the clinic's: 2027-03-02 00:30 EST is 05:30Z on Mar 2 but the clinic's
        // day is Mar 2; 1d@18:00 is Mar 1 18:00 EST = 23:00Z.
        CPPUNIT_ASSERT_EQUAL(std::string("1@2027-03-01T23:00"),
                             plan_text(sr::reminder_times(at("2027-03-02T05:30:00Z"), schedule({"1d@18:00"}),
                                                          sr::QuietHours{}, new_york)));
    }

    void testAWallTimeInAGapMovesForwardAndInAnOverlapTakesTheFirst() {
        // 0d@02:30 on 2027-03-14 does not exist (02:00 -> 03:00): moved forward by the gap, 03:30 EDT =
        // 07:30Z.
        CPPUNIT_ASSERT_EQUAL(std::string("1@2027-03-14T07:30"),
                             plan_text(sr::reminder_times(at("2027-03-14T14:00:00Z"), schedule({"0d@02:30"}),
                                                          sr::QuietHours{}, new_york)));
        // 0d@01:30 on 2027-11-07 happens twice: the first, 01:30 EDT = 05:30Z (appointment 10:00 EST =
        // 15:00Z).
        CPPUNIT_ASSERT_EQUAL(std::string("1@2027-11-07T05:30"),
                             plan_text(sr::reminder_times(at("2027-11-07T15:00:00Z"), schedule({"0d@01:30"}),
                                                          sr::QuietHours{}, new_york)));
    }

    void testQuietHoursApplyToEachEntryAndTheSameMinuteIsOneReminder() {
        // Appointment 2027-03-16 09:00 EDT = 13:00Z. 1d@22:00 is quiet -> 20:59 EDT on Mar 15 = 00:59Z
        // Mar 16. 2h = 07:00 EDT, quiet too (the period began Mar 15 21:00) -> the same 20:59: one reminder,
        // slot 1. 1d@12:00 is outside: Mar 15 12:00 EDT = 16:00Z.
        const std::vector<sr::PlannedReminder> planned = sr::reminder_times(
            at("2027-03-16T13:00:00Z"), schedule({"1d@22:00", "2h", "1d@12:00"}), night, new_york);
        CPPUNIT_ASSERT_EQUAL(std::string("1@2027-03-16T00:59 3@2027-03-15T16:00"), plan_text(planned));
        CPPUNIT_ASSERT(planned[0].time.moved_for_quiet_hours && !planned[1].time.moved_for_quiet_hours);
        // The quiet period around a DST change: appointment 2027-03-14 08:00 EDT = 12:00Z; 0d@06:00 (EDT) is
        // quiet, the period began Mar 13 21:00 EST -> 20:59 EST = 01:59Z.
        CPPUNIT_ASSERT_EQUAL(std::string("1@2027-03-14T01:59"),
                             plan_text(sr::reminder_times(at("2027-03-14T12:00:00Z"), schedule({"0d@06:00"}),
                                                          night, new_york)));
    }

    void testAnEntryAtOrAfterTheAppointmentIsLeftOut() {
        // 06:00 EST appointment (2027-01-15, 11:00Z): 0d@07:00 is after it; 2h is 04:00 EST = 09:00Z.
        CPPUNIT_ASSERT_EQUAL(
            std::string("2@2027-01-15T09:00"),
            plan_text(sr::reminder_times(at("2027-01-15T11:00:00Z"), schedule({"0d@07:00", "2h"}),
                                         sr::QuietHours{}, new_york)));
        // At exactly the appointment's minute: left out too.
        CPPUNIT_ASSERT_EQUAL(
            std::string("2@2027-01-15T09:00"),
            plan_text(sr::reminder_times(at("2027-01-15T11:00:00Z"), schedule({"0d@06:00", "2h"}),
                                         sr::QuietHours{}, new_york)));
        // Every entry after it: the first is kept, marked, and is never sent (passed() at any time).
        const std::vector<sr::PlannedReminder> none = sr::reminder_times(
            at("2027-01-15T11:00:00Z"), schedule({"0d@07:00"}), sr::QuietHours{}, new_york);
        CPPUNIT_ASSERT_EQUAL(std::string("1@2027-01-15T12:00(after)"), plan_text(none));
        CPPUNIT_ASSERT(none[0].passed(at("2027-01-01T00:00:00Z")));
    }

    void testBookingKeepsTheOthersWhenOneSlotHasPassed() {
        // Booked at 2027-03-15 08:00 EDT (12:00Z) for 13:00 EDT (17:00Z): 1d@18:00 (Mar 14 22:00Z) is gone,
        // 2h (15:00Z) still goes.
        sr::ValidationContext c = context("2027-03-15T12:00:00Z");
        c.schedule = schedule({"1d@18:00", "2h"});
        const sr::FormValidation v = sr::validate_appointment(input("2027-03-15", "13:00"), c);
        CPPUNIT_ASSERT(v.ok());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), v.appointment->reminders.size());
        CPPUNIT_ASSERT(v.appointment->reminders[0].passed(c.now));
        CPPUNIT_ASSERT(!v.appointment->reminders[1].passed(c.now));
        CPPUNIT_ASSERT(!v.appointment->reminder_slot_passed);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), v.notices.size());
        CPPUNIT_ASSERT_MESSAGE(v.notices[0],
                               v.notices[0].find("the other reminder still goes") != std::string::npos);
        // Booked later, at 16:00Z: both are gone.
        c.now = at("2027-03-15T16:00:00Z");
        const sr::FormValidation late = sr::validate_appointment(input("2027-03-15", "13:00"), c);
        CPPUNIT_ASSERT(late.appointment->reminder_slot_passed);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), late.notices.size());
        CPPUNIT_ASSERT_MESSAGE(late.notices[1],
                               late.notices[1].find("Please tell the patient") != std::string::npos);
    }

    void testBookingWithOnlyTheLeadTimeIsUnchanged() {
        sr::ValidationContext c = context("2027-03-15T12:00:00Z");
        c.lead_time = 3h;
        const sr::FormValidation v = sr::validate_appointment(input("2027-03-15", "13:00"), c);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), v.appointment->reminders.size());
        CPPUNIT_ASSERT_EQUAL(1, v.appointment->reminders[0].slot);
        CPPUNIT_ASSERT_EQUAL(std::string("2027-03-15T14:00:00.000Z"), iso(v.appointment->reminder_at));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ReminderScheduleTest);
