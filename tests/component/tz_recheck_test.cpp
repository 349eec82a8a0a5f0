// After a tzdata update: stored future appointments follow the wall time staff booked.
#include <cppunit/extensions/HelperMacros.h>

#include <pqxx/pqxx>

#include "core/reminder_timing.hpp"
#include "core/store.hpp"
#include "core/tz_recheck.hpp"
#include "pg_test_db.hpp"

using namespace std::chrono_literals;
using sr::test::CapturingLogger;
using sr::test::TestDatabase;

class TzRecheckTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TzRecheckTest);
    CPPUNIT_TEST(testTimeComputedWithStaleRulesIsMovedToWhatTheWallTimeMeansNow);
    CPPUNIT_TEST(testTheMovedReminderFollowsTheSitesLeadTimeAndQuietHours);
    CPPUNIT_TEST(testTheMovedReminderIsWrittenInTheLanguageItWasBookedIn);
    CPPUNIT_TEST(testDryRunChangesNothing);
    CPPUNIT_TEST(testStartupCheckRunsOnlyWhenThisNodesRulesAreNewer);
    CPPUNIT_TEST(testNodeWithOlderRulesOnlyWarns);
    CPPUNIT_TEST_SUITE_END();

    std::unique_ptr<TestDatabase> m_db;
    std::unique_ptr<sr::PgPool> m_pool;
    CapturingLogger m_logger;
    // The text says which language it was asked for ("-" = the clinic's own).
    const sr::ReminderText m_text = [](const std::string&, const std::optional<std::string>& language,
                                       const std::string& doctor, sr::Instant starts_at,
                                       const sr::ClinicZone& zone) {
        return language.value_or("-") + ": with " + doctor + " at " + zone.format_local_iso(starts_at);
    };

    // 10:00 on 15 July 2027 in Mexico City, stored as ICU's built-in 2022 rules had it (UTC-5, with DST
    // Mexico no longer has): 15:00Z instead of 16:00Z, reminder 13:00Z instead of 14:00Z.
    std::string book_with_stale_rules(const std::string& language = "") {
        sr::NewAppointment a;
        a.language = language;
        a.patient_name = "Ada Lovelace";
        a.doctor_name = "Dr. Grace Hopper";
        a.phone_e164 = "+525512345678";
        a.starts_at = *sr::parse_iso_utc("2027-07-15T15:00:00Z");
        a.time_zone = "America/Mexico_City";
        a.local_wall_time = "2027-07-15T10:00";
        a.reminder_send_at = *sr::parse_iso_utc("2027-07-15T13:00:00Z");
        a.reminder_body = "stale";
        sr::PgLease lease = m_pool->acquire();
        return sr::AppointmentStore(lease).create(a).appointment.id;
    }

    sr::AppointmentRecord find(const std::string& id) {
        sr::PgLease lease = m_pool->acquire();
        return *sr::AppointmentStore(lease).find(id);
    }

  public:
    void setUp() override {
        m_db = std::make_unique<TestDatabase>();
        sr::PgPoolConfig config;
        config.conninfo = m_db->conninfo();
        m_pool = std::make_unique<sr::PgPool>(config, m_logger);
    }
    void tearDown() override {
        m_pool.reset();
        m_db.reset();
    }

    void testTimeComputedWithStaleRulesIsMovedToWhatTheWallTimeMeansNow() {
        const std::string id = book_with_stale_rules();
        const sr::TzRecheckReport report = sr::recheck_time_zones(*m_pool, m_text, false);
        CPPUNIT_ASSERT_EQUAL(1, report.checked);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), report.changes.size());
        const auto moved = find(id);
        CPPUNIT_ASSERT_EQUAL(std::string("2027-07-15T16:00:00.000Z"),
                             sr::format_utc_iso_millis(moved.starts_at));
        CPPUNIT_ASSERT_EQUAL(std::string("2027-07-15T10:00"), moved.local_wall_time);
        CPPUNIT_ASSERT_EQUAL(2, moved.revision);
        const sr::ReminderRecord* reminder = moved.current_reminder();
        CPPUNIT_ASSERT_EQUAL(std::string("2027-07-15T14:00:00.000Z"),
                             sr::format_utc_iso_millis(reminder->send_at));
        CPPUNIT_ASSERT_EQUAL(std::string("pending"), reminder->status);
        CPPUNIT_ASSERT_EQUAL(std::string("superseded"),
                             moved.reminders.front().status);  // never reached Sinch
        // A second run finds nothing more to do.
        CPPUNIT_ASSERT(sr::recheck_time_zones(*m_pool, m_text, false).changes.empty());
    }

    void testTheMovedReminderIsWrittenInTheLanguageItWasBookedIn() {
        const std::string spanish = book_with_stale_rules("es");
        const std::string own = book_with_stale_rules();  // stored NULL: the clinic's own language
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), sr::recheck_time_zones(*m_pool, m_text, false).changes.size());
        const sr::AppointmentRecord moved_spanish = find(spanish);
        CPPUNIT_ASSERT_EQUAL(std::string("es"), moved_spanish.language.value_or("none"));
        CPPUNIT_ASSERT_EQUAL(std::string("es: with Dr. Grace Hopper at 2027-07-15T10:00-06:00"),
                             moved_spanish.current_reminder()->body);
        const sr::AppointmentRecord moved_own = find(own);
        CPPUNIT_ASSERT(!moved_own.language);
        CPPUNIT_ASSERT_EQUAL(std::string("-: with Dr. Grace Hopper at"),
                             moved_own.current_reminder()->body.substr(0, 27));
    }

    void testTheMovedReminderFollowsTheSitesLeadTimeAndQuietHours() {
        const std::string id = book_with_stale_rules();
        // 3 h before 10:00 is 07:00, inside 21:00-08:00: the evening before at 20:59 (UTC-6) = 02:59Z.
        const sr::QuietHours night = sr::parse_quiet_hours("21:00-08:00");
        const sr::ReminderTiming timing = [&](const std::string&, sr::Instant starts_at,
                                              const sr::ClinicZone& zone) {
            return sr::reminder_times(
                starts_at, sr::ReminderSchedule{{std::chrono::hours(3), std::nullopt, 0}}, night, zone);
        };
        CPPUNIT_ASSERT_EQUAL(std::size_t(1),
                             sr::recheck_time_zones(*m_pool, m_text, false, timing).changes.size());
        const sr::AppointmentRecord moved = find(id);  // current_reminder() points into it
        CPPUNIT_ASSERT_EQUAL(std::string("2027-07-15T02:59:00.000Z"),
                             sr::format_utc_iso_millis(moved.current_reminder()->send_at));
    }

    void testDryRunChangesNothing() {
        const std::string id = book_with_stale_rules();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), sr::recheck_time_zones(*m_pool, m_text, true).changes.size());
        CPPUNIT_ASSERT_EQUAL(1, find(id).revision);
    }

    void testStartupCheckRunsOnlyWhenThisNodesRulesAreNewer() {
        const std::string id = book_with_stale_rules();
        // First start on an empty cluster: the times were computed with these rules; just record them.
        sr::recheck_time_zones_if_rules_changed(*m_pool, m_text, m_logger);
        CPPUNIT_ASSERT_EQUAL(sr::computing_tz_rules_version(), sr::recorded_tz_rules_version(*m_pool));
        CPPUNIT_ASSERT_EQUAL(1, find(id).revision);
        // Then the cluster's record says 2022e and this node has newer rules: re-check and record.
        sr::record_tz_rules_version(*m_pool, "2022e");
        sr::recheck_time_zones_if_rules_changed(*m_pool, m_text, m_logger);
        CPPUNIT_ASSERT_EQUAL(2, find(id).revision);
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0025"));
        CPPUNIT_ASSERT_EQUAL(sr::computing_tz_rules_version(), sr::recorded_tz_rules_version(*m_pool));
    }

    void testNodeWithOlderRulesOnlyWarns() {
        const std::string id = book_with_stale_rules();
        sr::record_tz_rules_version(*m_pool, "2099a");
        sr::recheck_time_zones_if_rules_changed(*m_pool, m_text, m_logger);
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0024"));
        CPPUNIT_ASSERT_EQUAL(1, find(id).revision);
        CPPUNIT_ASSERT_EQUAL(std::string("2099a"), sr::recorded_tz_rules_version(*m_pool));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(TzRecheckTest);
