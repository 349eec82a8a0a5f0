// The schema (sql/), its migrations, and AppointmentStore against a real PostgreSQL.
#include "component/pg_test_db.hpp"
#include "core/appointment_changes.hpp"
#include "core/migrations.hpp"
#include "core/pg_pool.hpp"
#include "core/reminder_queue.hpp"
#include "core/store.hpp"

#include <cppunit/extensions/HelperMacros.h>

#include <pqxx/except>
#include <pqxx/nontransaction>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <thread>

namespace {

using namespace std::chrono_literals;
using sr::test::CapturingLogger;
using sr::test::TestDatabase;
namespace fs = std::filesystem;

// 2026-11-28T19:30:17Z: deliberately not on a minute boundary, so lost seconds would show.
const sr::Instant k_starts_at{std::chrono::seconds(1795894217)};
const sr::Instant k_send_at = k_starts_at - 2h;

long long count_rows(const std::string& conninfo, const std::string& sql) {
    pqxx::connection conn(conninfo);
    pqxx::nontransaction txn(conn);
    return txn.exec(sql)[0][0].as<long long>();
}

bool relation_exists(pqxx::connection& conn, const std::string& name) {
    pqxx::nontransaction txn(conn);
    return !txn.exec_params("SELECT to_regclass($1)", name)[0][0].is_null();
}

// A scratch copy of the repository's migrations plus extra files, removed afterwards.
class ScratchSqlDir {
  public:
    ScratchSqlDir() {
        char dir_template[] = "/tmp/sr-sql.XXXXXX";
        m_path = ::mkdtemp(dir_template);
        for (const fs::directory_entry& entry : fs::directory_iterator(sr::test::repository_sql_dir())) {
            fs::copy(entry.path(), m_path / entry.path().filename());
        }
    }
    ~ScratchSqlDir() { fs::remove_all(m_path); }
    void add(const std::string& file_name, const std::string& sql) {
        std::ofstream(m_path / file_name) << sql;
    }
    std::string path() const { return m_path.string(); }

  private:
    fs::path m_path;
};

// Lower-case 8-4-4-4-12 hex with version 4 (random) and the RFC 4122 variant.
bool is_random_uuid(const std::string& id) {
    if (id.size() != 36) return false;
    for (std::size_t i = 0; i < id.size(); ++i) {
        const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        const bool hex = std::isxdigit(static_cast<unsigned char>(id[i])) && !std::isupper(id[i]);
        if (dash_position ? id[i] != '-' : !hex) return false;
    }
    return id[14] == '4' && std::string("89ab").find(id[19]) != std::string::npos;
}

sr::NewAppointment sample_appointment(const std::string& submission_key = "form-token-1") {
    sr::NewAppointment appointment;
    appointment.patient_name = "Ada Lovelace";
    appointment.doctor_name = "Dr. Grace Hopper";
    appointment.phone_e164 = "+12125550123";
    appointment.starts_at = k_starts_at;
    appointment.time_zone = "America/New_York";
    appointment.local_wall_time = "2026-11-28T14:30";
    appointment.wall_time_resolution = sr::WallTimeResolution::Exact;
    appointment.submission_key = submission_key;
    appointment.created_by = "frontdesk";
    appointment.created_from = "192.0.2.10";
    appointment.reminder_send_at = k_send_at;
    return appointment;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
class MigrationsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(MigrationsTest);
    CPPUNIT_TEST(testEmptyDatabaseIsMigratedToTheExpectedVersion);
    CPPUNIT_TEST(testSecondRunAppliesNothing);
    CPPUNIT_TEST(testTwoMigratorsAtOnceApplyEachFileOnce);
    CPPUNIT_TEST(testFailingFileIsNamedWithPostgresMessageAndRolledBack);
    CPPUNIT_TEST(testTransactionStatementsAreRefusedBeforeAnythingRuns);
    CPPUNIT_TEST(testBadlyNamedSqlFileIsRefused);
    CPPUNIT_TEST_SUITE_END();

  public:
    void testEmptyDatabaseIsMigratedToTheExpectedVersion() {
        TestDatabase db(TestDatabase::Schema::Empty);
        pqxx::connection conn(db.conninfo());
        const std::string sql_dir = sr::test::repository_sql_dir();
        CPPUNIT_ASSERT_EQUAL(0, sr::schema_version(conn));

        const sr::MigrationReport report = sr::apply_migrations(conn, sql_dir, m_logger);

        CPPUNIT_ASSERT(sr::expected_schema_version(sql_dir) >= 1);
        CPPUNIT_ASSERT_EQUAL(0, report.version_before);
        CPPUNIT_ASSERT_EQUAL(sr::expected_schema_version(sql_dir), report.version_after);
        CPPUNIT_ASSERT_EQUAL(sr::expected_schema_version(sql_dir), sr::schema_version(conn));
        CPPUNIT_ASSERT_EQUAL(std::string("001_initial_schema.sql"), report.applied_files.at(0));
        CPPUNIT_ASSERT_EQUAL(sr::list_migrations(sql_dir).size(), report.applied_files.size());
        CPPUNIT_ASSERT(relation_exists(conn, "appointments"));
        CPPUNIT_ASSERT(relation_exists(conn, "reminders"));
        CPPUNIT_ASSERT(relation_exists(conn, "audit_log"));
        CPPUNIT_ASSERT(m_logger.contains("applied migration 001_initial_schema.sql"));
    }

    void testSecondRunAppliesNothing() {
        TestDatabase db(TestDatabase::Schema::Empty);
        pqxx::connection conn(db.conninfo());
        const std::string sql_dir = sr::test::repository_sql_dir();
        sr::apply_migrations(conn, sql_dir, m_logger);

        const sr::MigrationReport again = sr::apply_migrations(conn, sql_dir, m_logger);

        CPPUNIT_ASSERT(again.applied_files.empty());
        CPPUNIT_ASSERT_EQUAL(again.version_before, again.version_after);
        CPPUNIT_ASSERT_EQUAL(static_cast<long long>(sr::list_migrations(sql_dir).size()),
                             count_rows(db.conninfo(), "SELECT count(*) FROM schema_migrations"));
    }

    // Several httpd nodes (or admins) migrating at once: without the advisory lock one of them fails on
    // "relation already exists". Repeated, because a race that is lost once may be won the next time.
    void testTwoMigratorsAtOnceApplyEachFileOnce() {
        const std::string sql_dir = sr::test::repository_sql_dir();
        for (int round = 0; round < 3; ++round) {
            TestDatabase db(TestDatabase::Schema::Empty);
            pqxx::connection first(db.conninfo());
            pqxx::connection second(db.conninfo());
            std::promise<void> start_signal;
            std::shared_future<void> start = start_signal.get_future().share();
            auto migrate = [&](pqxx::connection& conn) {
                start.wait();
                sr::NullLogger quiet;
                return sr::apply_migrations(conn, sql_dir, quiet);
            };
            auto first_result = std::async(std::launch::async, migrate, std::ref(first));
            auto second_result = std::async(std::launch::async, migrate, std::ref(second));
            start_signal.set_value();
            const sr::MigrationReport a = first_result.get();  // rethrows if that migrator failed
            const sr::MigrationReport b = second_result.get();

            CPPUNIT_ASSERT_EQUAL(sr::list_migrations(sql_dir).size(),
                                 a.applied_files.size() + b.applied_files.size());
            CPPUNIT_ASSERT_EQUAL(sr::expected_schema_version(sql_dir), sr::schema_version(first));
        }
    }

    void testFailingFileIsNamedWithPostgresMessageAndRolledBack() {
        TestDatabase db(TestDatabase::Schema::Empty);
        ScratchSqlDir sql_dir;
        sql_dir.add("900_broken.sql",
                    "CREATE TABLE half_done (x integer);\n"
                    "SELECT no_such_function_sr();\n");
        pqxx::connection conn(db.conninfo());

        std::string message;
        try {
            sr::apply_migrations(conn, sql_dir.path(), m_logger);
            CPPUNIT_FAIL("a broken migration was applied");
        } catch (const sr::MigrationError& e) {
            message = e.what();
        }
        CPPUNIT_ASSERT_MESSAGE(message, message.find("900_broken.sql") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(message, message.find("no_such_function_sr") != std::string::npos);
        CPPUNIT_ASSERT(!relation_exists(conn, "half_done"));  // nothing of the failed file remains
        // The good files before it stay applied.
        CPPUNIT_ASSERT_EQUAL(sr::expected_schema_version(sr::test::repository_sql_dir()),
                             sr::schema_version(conn));
    }

    void testTransactionStatementsAreRefusedBeforeAnythingRuns() {
        TestDatabase db(TestDatabase::Schema::Empty);
        ScratchSqlDir sql_dir;
        sql_dir.add("900_commits.sql", "CREATE TABLE t (x integer);\nCOMMIT;\n");
        pqxx::connection conn(db.conninfo());

        std::string message;
        try {
            sr::apply_migrations(conn, sql_dir.path(), m_logger);
            CPPUNIT_FAIL("a migration with COMMIT was accepted");
        } catch (const sr::MigrationError& e) {
            message = e.what();
        }
        CPPUNIT_ASSERT_MESSAGE(message, message.find("900_commits.sql line 2") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(0, sr::schema_version(conn));
    }

    void testBadlyNamedSqlFileIsRefused() {
        ScratchSqlDir sql_dir;
        sql_dir.add("2_typo.sql", "SELECT 1;");
        CPPUNIT_ASSERT_THROW(sr::list_migrations(sql_dir.path()), sr::MigrationError);
        CPPUNIT_ASSERT_THROW(sr::expected_schema_version("/nonexistent/sr-sql"), sr::MigrationError);
    }

  private:
    CapturingLogger m_logger;
};

// ---------------------------------------------------------------------------------------------------------
class AppointmentStoreTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(AppointmentStoreTest);
    CPPUNIT_TEST(testCreatedAppointmentIsFoundWithEveryField);
    CPPUNIT_TEST(testFirstReminderIsRevisionOneWithDeterministicClientReference);
    CPPUNIT_TEST(testStoredInstantIsTheExactInstantWhateverTheSessionZone);
    CPPUNIT_TEST(testAppointmentIdsAreRandomUuids);
    CPPUNIT_TEST(testCreateWritesAnAuditRowWithoutThePhoneNumber);
    CPPUNIT_TEST(testDoubleSubmitReturnsTheFirstAppointmentAndOneReminder);
    CPPUNIT_TEST(testConcurrentDoubleSubmitCreatesOneAppointment);
    CPPUNIT_TEST(testAppointmentsWithoutSubmissionKeyAreIndependent);
    CPPUNIT_TEST(testTooLateReminderIsStoredButNeverClaimed);
    CPPUNIT_TEST(testAScheduleStoresAReminderPerSlotAndClaimsOnlyTheEarliest);
    CPPUNIT_TEST(testCancelAndRescheduleEndEverySlot);
    CPPUNIT_TEST(testAReminderStoredWithoutASlotIsSlotOneWithTheOldReference);
    CPPUNIT_TEST(testOnlyOneConnectionCanClaimAReminder);
    CPPUNIT_TEST(testOnlyOneOfManyRacingClaimersWins);
    CPPUNIT_TEST(testScheduledReminderKeepsItsBatchId);
    CPPUNIT_TEST(testUnclaimedReminderCannotBeMarkedScheduled);
    CPPUNIT_TEST(testBatchIdBelongsToOneReminder);
    CPPUNIT_TEST(testFailedAttemptKeepsSinchsError);
    CPPUNIT_TEST(testUnknownOutcomeIsRecordedWithoutHttpStatus);
    CPPUNIT_TEST(testUpdatedAtMovesOnUpdate);
    CPPUNIT_TEST(testInvalidIdsAreNotFound);
    CPPUNIT_TEST(testPhoneThatIsNotE164IsRejectedByTheSchema);
    CPPUNIT_TEST(testPingSucceedsOnALiveConnection);
    CPPUNIT_TEST(testLostConnectionBecomesDatabaseUnavailableAndIsDiscarded);
    CPPUNIT_TEST_SUITE_END();

    // Claims and outcomes go through the dispatcher's queue, as in the module.
    static bool claim(sr::PgLease& lease, std::int64_t reminder_id, const std::string& owner = "node-a:1") {
        return sr::ReminderQueue(lease, owner)
            .claim_one_for_scheduling(reminder_id, std::chrono::hours(24 * 3650), std::chrono::seconds(60))
            .has_value();
    }

  public:
    void setUp() override {
        m_db = std::make_unique<TestDatabase>();
        sr::PgPoolConfig config;
        config.conninfo = m_db->conninfo();
        config.max_connections = 4;
        config.acquire_timeout = 5000ms;
        config.connect_timeout = 2s;
        m_pool = std::make_unique<sr::PgPool>(config, m_logger);
    }
    void tearDown() override {
        m_pool.reset();
        m_db.reset();
    }

    void testCreatedAppointmentIsFoundWithEveryField() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const sr::CreateResult result = store.create(sample_appointment());
        CPPUNIT_ASSERT(result.created);

        const std::optional<sr::AppointmentRecord> found = store.find(result.appointment.id);
        CPPUNIT_ASSERT(found.has_value());
        CPPUNIT_ASSERT_EQUAL(result.appointment.id, found->id);
        CPPUNIT_ASSERT_EQUAL(std::string("Ada Lovelace"), found->patient_name);
        CPPUNIT_ASSERT_EQUAL(std::string("Dr. Grace Hopper"), found->doctor_name);
        CPPUNIT_ASSERT_EQUAL(std::string("+12125550123"), found->phone_e164);
        CPPUNIT_ASSERT(found->starts_at == k_starts_at);
        CPPUNIT_ASSERT_EQUAL(std::string("America/New_York"), found->time_zone);
        CPPUNIT_ASSERT_EQUAL(std::string("2026-11-28T14:30"), found->local_wall_time);
        CPPUNIT_ASSERT_EQUAL(std::string("exact"), found->wall_time_resolution);
        CPPUNIT_ASSERT_EQUAL(std::string("active"), found->status);
        CPPUNIT_ASSERT_EQUAL(1, found->revision);
        CPPUNIT_ASSERT(found->submission_key == std::optional<std::string>("form-token-1"));
        CPPUNIT_ASSERT_EQUAL(std::string("frontdesk"), found->created_by);
        CPPUNIT_ASSERT(found->created_from == std::optional<std::string>("192.0.2.10"));
        CPPUNIT_ASSERT(found->created_at == found->updated_at);
        const auto age = sr::now_utc() - found->created_at;
        CPPUNIT_ASSERT(age >= -5s && age <= 60s);
        // What create() returned is what find() reads.
        CPPUNIT_ASSERT_EQUAL(found->patient_name, result.appointment.patient_name);
        CPPUNIT_ASSERT_EQUAL(found->reminders.size(), result.appointment.reminders.size());
    }

    void testFirstReminderIsRevisionOneWithDeterministicClientReference() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const sr::AppointmentRecord appointment = store.create(sample_appointment()).appointment;

        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, appointment.reminders.size());
        const sr::ReminderRecord* reminder = appointment.current_reminder();
        CPPUNIT_ASSERT(reminder != nullptr);
        CPPUNIT_ASSERT_EQUAL(1, reminder->revision);
        CPPUNIT_ASSERT_EQUAL(appointment.id, reminder->appointment_id);
        CPPUNIT_ASSERT(reminder->send_at == k_send_at);
        CPPUNIT_ASSERT_EQUAL(std::string("America/New_York"), reminder->time_zone);
        CPPUNIT_ASSERT_EQUAL(std::string(sr::reminder_status::pending), reminder->status);
        CPPUNIT_ASSERT_EQUAL("sr-" + appointment.id + "-r1", reminder->client_reference);
        CPPUNIT_ASSERT(!reminder->batch_id);
        CPPUNIT_ASSERT_EQUAL(0, reminder->attempts);
        CPPUNIT_ASSERT(!reminder->last_error_code && !reminder->last_http_status &&
                       !reminder->next_attempt_at);
    }

    // TIMESTAMPTZ stores an instant; a session in another zone must read the same instant, not the same
    // wall-clock digits.
    void testStoredInstantIsTheExactInstantWhateverTheSessionZone() {
        std::string id;
        {
            sr::PgLease lease = m_pool->acquire();
            id = sr::AppointmentStore(lease).create(sample_appointment()).appointment.id;
        }
        pqxx::connection elsewhere(m_db->conninfo());
        pqxx::nontransaction txn(elsewhere);
        txn.exec("SET TIME ZONE 'Asia/Kolkata'");
        const pqxx::row row = txn.exec_params1(
            "SELECT a.starts_at = '2026-11-28T19:30:17Z'::timestamptz, r.send_at = "
            "'2026-11-28T17:30:17Z'::timestamptz"
            " FROM appointments a JOIN reminders r ON r.appointment_id = a.id WHERE a.id = $1::uuid",
            id);
        CPPUNIT_ASSERT(row[0].as<bool>());
        CPPUNIT_ASSERT(row[1].as<bool>());
    }

    void testAppointmentIdsAreRandomUuids() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const std::string first = store.create(sample_appointment("token-a")).appointment.id;
        const std::string second = store.create(sample_appointment("token-b")).appointment.id;
        CPPUNIT_ASSERT_MESSAGE(first, is_random_uuid(first));
        CPPUNIT_ASSERT_MESSAGE(second, is_random_uuid(second));
        CPPUNIT_ASSERT(first != second);
    }

    void testCreateWritesAnAuditRowWithoutThePhoneNumber() {
        std::string id;
        {
            sr::PgLease lease = m_pool->acquire();
            id = sr::AppointmentStore(lease).create(sample_appointment()).appointment.id;
        }
        pqxx::connection conn(m_db->conninfo());
        pqxx::nontransaction txn(conn);
        const pqxx::result audit = txn.exec_params(
            "SELECT action, actor, remote_addr, details::text, details->>'reminder_status'"
            " FROM audit_log WHERE appointment_id = $1::uuid",
            id);
        CPPUNIT_ASSERT_EQUAL(1, static_cast<int>(audit.size()));
        CPPUNIT_ASSERT_EQUAL(std::string("create"), audit[0][0].as<std::string>());
        CPPUNIT_ASSERT_EQUAL(std::string("frontdesk"), audit[0][1].as<std::string>());
        CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.10"), audit[0][2].as<std::string>());
        CPPUNIT_ASSERT_EQUAL(std::string("pending"), audit[0][4].as<std::string>());
        const std::string details = audit[0][3].as<std::string>();
        CPPUNIT_ASSERT_MESSAGE(details, details.find("5550123") == std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(details, details.find("Lovelace") == std::string::npos);
    }

    void testDoubleSubmitReturnsTheFirstAppointmentAndOneReminder() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const sr::CreateResult first = store.create(sample_appointment("same-token"));
        sr::NewAppointment resubmitted = sample_appointment("same-token");
        resubmitted.patient_name = "Someone Else";
        const sr::CreateResult second = store.create(resubmitted);

        CPPUNIT_ASSERT(first.created);
        CPPUNIT_ASSERT(!second.created);
        CPPUNIT_ASSERT_EQUAL(first.appointment.id, second.appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("Ada Lovelace"), second.appointment.patient_name);
        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, second.appointment.reminders.size());
        CPPUNIT_ASSERT_EQUAL(1LL, count_rows(m_db->conninfo(), "SELECT count(*) FROM appointments"));
        CPPUNIT_ASSERT_EQUAL(1LL, count_rows(m_db->conninfo(), "SELECT count(*) FROM reminders"));
        CPPUNIT_ASSERT_EQUAL(1LL, count_rows(m_db->conninfo(), "SELECT count(*) FROM audit_log"));
    }

    // A double click sends two requests that may run at the same moment on two connections (or two nodes).
    void testConcurrentDoubleSubmitCreatesOneAppointment() {
        for (int round = 0; round < 5; ++round) {
            const std::string token = "racing-token-" + std::to_string(round);
            std::promise<void> start_signal;
            std::shared_future<void> start = start_signal.get_future().share();
            auto submit = [&] {
                sr::PgLease lease = m_pool->acquire();
                start.wait();
                return sr::AppointmentStore(lease).create(sample_appointment(token));
            };
            auto first = std::async(std::launch::async, submit);
            auto second = std::async(std::launch::async, submit);
            start_signal.set_value();
            const sr::CreateResult a = first.get();
            const sr::CreateResult b = second.get();
            CPPUNIT_ASSERT_EQUAL(1, int(a.created) + int(b.created));
            CPPUNIT_ASSERT_EQUAL(a.appointment.id, b.appointment.id);
        }
        CPPUNIT_ASSERT_EQUAL(5LL, count_rows(m_db->conninfo(), "SELECT count(*) FROM appointments"));
        CPPUNIT_ASSERT_EQUAL(5LL, count_rows(m_db->conninfo(), "SELECT count(*) FROM reminders"));
    }

    void testAppointmentsWithoutSubmissionKeyAreIndependent() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const sr::CreateResult first = store.create(sample_appointment(""));
        const sr::CreateResult second = store.create(sample_appointment(""));
        CPPUNIT_ASSERT(first.created && second.created);
        CPPUNIT_ASSERT(first.appointment.id != second.appointment.id);
        CPPUNIT_ASSERT(!first.appointment.submission_key);
    }

    void testTooLateReminderIsStoredButNeverClaimed() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        sr::NewAppointment late = sample_appointment();
        late.reminder_status = sr::InitialReminderStatus::TooLate;
        const sr::AppointmentRecord appointment = store.create(late).appointment;
        const std::int64_t reminder_id = appointment.current_reminder()->id;

        CPPUNIT_ASSERT_EQUAL(std::string(sr::reminder_status::too_late),
                             appointment.current_reminder()->status);
        CPPUNIT_ASSERT(!claim(lease, reminder_id));
        CPPUNIT_ASSERT_EQUAL(std::string("too_late"), store.find(appointment.id)->current_reminder()->status);
    }

    // SinchReminderSchedule: one row per entry, each with its own client_reference; the booking claims one.
    void testAScheduleStoresAReminderPerSlotAndClaimsOnlyTheEarliest() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        sr::NewAppointment booking = sample_appointment();
        const sr::Instant now = sr::now_utc();
        booking.starts_at = now + 48h;
        booking.reminders = {{1, now + 30h, sr::InitialReminderStatus::Pending},
                             {2, now + 46h, sr::InitialReminderStatus::Pending},
                             {3, now - 1h, sr::InitialReminderStatus::TooLate}};
        const sr::AppointmentRecord a =
            store.create(booking, sr::ReminderClaim{"node-a:1", 60s, std::chrono::hours(24 * 7)}).appointment;
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), a.reminders.size());
        const std::string ref = "sr-" + a.id + "-r1";
        CPPUNIT_ASSERT_EQUAL(ref, a.reminders[0].client_reference);
        CPPUNIT_ASSERT_EQUAL(ref + "-s2", a.reminders[1].client_reference);
        CPPUNIT_ASSERT_EQUAL(ref + "-s3", a.reminders[2].client_reference);
        // Only the earliest pending one inside the horizon is claimed (one rate token); too_late never.
        CPPUNIT_ASSERT_EQUAL(std::string("scheduling"), a.reminders[0].status);
        CPPUNIT_ASSERT_EQUAL(std::string("pending"), a.reminders[1].status);
        CPPUNIT_ASSERT_EQUAL(std::string("too_late"), a.reminders[2].status);
        CPPUNIT_ASSERT_EQUAL(0, a.reminders[1].attempts);
        // The next to go is the claimed one; find() reads the same rows in slot order.
        CPPUNIT_ASSERT_EQUAL(1, a.current_reminder()->slot);
        const sr::AppointmentRecord found = *store.find(a.id);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), found.current_reminders().size());
        CPPUNIT_ASSERT_EQUAL(3, found.current_reminders().front()->slot);  // by send time
        CPPUNIT_ASSERT(claim(lease, found.reminders[1].id));
        // The same slot twice is refused by the schema.
        CPPUNIT_ASSERT_THROW(
            [&] {
                pqxx::nontransaction txn(lease.connection());
                txn.exec_params(
                    "INSERT INTO reminders (appointment_id, revision, slot, send_at, time_zone)"
                    " VALUES ($1::uuid, 1, 2, now(), 'UTC')",
                    a.id);
            }(),
            pqxx::unique_violation);
    }

    void testCancelAndRescheduleEndEverySlot() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        sr::NewAppointment booking = sample_appointment();
        const sr::Instant now = sr::now_utc();
        booking.starts_at = now + 48h;
        booking.reminders = {{1, now + 30h, sr::InitialReminderStatus::Pending},
                             {2, now + 46h, sr::InitialReminderStatus::Pending}};
        const sr::AppointmentRecord a = store.create(booking).appointment;
        CPPUNIT_ASSERT(claim(lease, a.reminders[0].id));  // as if it were at Sinch now
        sr::NewTime later;
        later.starts_at = now + 72h;
        later.local_wall_time = "2026-11-29T14:30";
        later.reminders = {{1, now + 54h, sr::InitialReminderStatus::Pending},
                           {2, now + 70h, sr::InitialReminderStatus::Pending}};
        const sr::ChangeResult moved =
            sr::reschedule_appointment(lease, a.id, later, {"frontdesk", "192.0.2.1"});
        CPPUNIT_ASSERT(moved.outcome == sr::ChangeOutcome::Done);
        CPPUNIT_ASSERT(moved.reminders_to_cancel == std::vector<std::int64_t>{a.reminders[0].id});
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), moved.reminders_to_schedule.size());
        sr::AppointmentRecord now_stored = *store.find(a.id);
        std::string statuses;
        for (const sr::ReminderRecord& r : now_stored.reminders) {
            statuses += std::to_string(r.revision) + "." + std::to_string(r.slot) + "=" + r.status + " ";
        }
        CPPUNIT_ASSERT_EQUAL(std::string("1.1=cancelling 1.2=superseded 2.1=pending 2.2=pending "), statuses);
        CPPUNIT_ASSERT_EQUAL("sr-" + a.id + "-r2-s2", now_stored.reminders[3].client_reference);

        CPPUNIT_ASSERT(claim(lease, moved.reminders_to_schedule[1]));
        const sr::ChangeResult cancelled = sr::cancel_appointment(lease, a.id, {"frontdesk", "192.0.2.1"});
        CPPUNIT_ASSERT(cancelled.reminders_to_cancel ==
                       std::vector<std::int64_t>{moved.reminders_to_schedule[1]});
        now_stored = *store.find(a.id);
        CPPUNIT_ASSERT_EQUAL(std::string("cancelled"), now_stored.reminders[2].status);
        CPPUNIT_ASSERT_EQUAL(std::string("cancelling"), now_stored.reminders[3].status);
    }

    // Rolling upgrade: a node running the previous module version inserts reminders without a slot.
    void testAReminderStoredWithoutASlotIsSlotOneWithTheOldReference() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const sr::AppointmentRecord a = store.create(sample_appointment()).appointment;
        {
            pqxx::nontransaction txn(lease.connection());
            txn.exec_params("UPDATE appointments SET revision = 2 WHERE id = $1::uuid", a.id);
            txn.exec_params(
                "INSERT INTO reminders (appointment_id, revision, send_at, time_zone, status, body, "
                "delivery_report,"
                " callback_url) SELECT id, revision, now() + interval '1 day', time_zone, 'pending', 'old "
                "node',"
                " 'none', NULL FROM appointments WHERE id = $1::uuid",
                a.id);
        }
        const sr::AppointmentRecord upgraded = *store.find(a.id);  // current_reminder() points into it
        const sr::ReminderRecord* old_node = upgraded.current_reminder();
        CPPUNIT_ASSERT_EQUAL(1, old_node->slot);
        CPPUNIT_ASSERT_EQUAL("sr-" + a.id + "-r2", old_node->client_reference);
    }

    void testOnlyOneConnectionCanClaimAReminder() {
        sr::PgLease first_lease = m_pool->acquire();
        sr::PgLease second_lease = m_pool->acquire();
        CPPUNIT_ASSERT(first_lease->backendpid() != second_lease->backendpid());
        sr::AppointmentStore first(first_lease);
        sr::AppointmentStore second(second_lease);
        const sr::AppointmentRecord appointment = first.create(sample_appointment()).appointment;
        const std::int64_t reminder_id = appointment.current_reminder()->id;

        CPPUNIT_ASSERT(claim(first_lease, reminder_id, "node-a:1"));
        CPPUNIT_ASSERT(!claim(second_lease, reminder_id, "node-b:2"));
        CPPUNIT_ASSERT(!claim(first_lease, reminder_id, "node-a:1"));

        const sr::ReminderRecord claimed = *second.find(appointment.id)->current_reminder();
        CPPUNIT_ASSERT_EQUAL(std::string(sr::reminder_status::scheduling), claimed.status);
        CPPUNIT_ASSERT_EQUAL(1, claimed.attempts);
    }

    void testOnlyOneOfManyRacingClaimersWins() {
        std::vector<std::int64_t> reminder_ids;
        {
            sr::PgLease lease = m_pool->acquire();
            sr::AppointmentStore store(lease);
            for (int i = 0; i < 10; ++i) {
                reminder_ids.push_back(store.create(sample_appointment("claim-" + std::to_string(i)))
                                           .appointment.reminders[0]
                                           .id);
            }
        }
        for (const std::int64_t reminder_id : reminder_ids) {
            std::promise<void> start_signal;
            std::shared_future<void> start = start_signal.get_future().share();
            auto race = [&] {
                sr::PgLease lease = m_pool->acquire();
                start.wait();
                return claim(lease, reminder_id, "racer:" + std::to_string(lease->backendpid()));
            };
            std::vector<std::future<bool>> claimers;
            for (int i = 0; i < 3; ++i) claimers.push_back(std::async(std::launch::async, race));
            start_signal.set_value();
            int winners = 0;
            for (auto& claimer : claimers) winners += claimer.get() ? 1 : 0;
            CPPUNIT_ASSERT_EQUAL(1, winners);
        }
    }

    void testScheduledReminderKeepsItsBatchId() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const sr::AppointmentRecord appointment = store.create(sample_appointment()).appointment;
        const std::int64_t reminder_id = appointment.current_reminder()->id;

        sr::ReminderQueue queue(lease, "node-a:1");
        CPPUNIT_ASSERT(claim(lease, reminder_id));
        CPPUNIT_ASSERT(queue.scheduled(reminder_id, "01FC66621XXXXX119Z8PMV1QPQ"));
        CPPUNIT_ASSERT(!queue.scheduled(reminder_id, "another-batch"));  // only the lease holder, once

        const sr::ReminderRecord reminder = *store.find(appointment.id)->current_reminder();
        CPPUNIT_ASSERT_EQUAL(std::string(sr::reminder_status::scheduled), reminder.status);
        CPPUNIT_ASSERT(reminder.batch_id == std::optional<std::string>("01FC66621XXXXX119Z8PMV1QPQ"));
    }

    void testUnclaimedReminderCannotBeMarkedScheduled() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const sr::AppointmentRecord appointment = store.create(sample_appointment()).appointment;
        const std::int64_t reminder_id = appointment.current_reminder()->id;

        sr::ReminderQueue queue(lease, "node-a:1");
        CPPUNIT_ASSERT(!queue.scheduled(reminder_id, "batch-without-claim"));
        CPPUNIT_ASSERT(!queue.failed(reminder_id, "failed", 400, "x", "y", std::nullopt));
        CPPUNIT_ASSERT(claim(lease, reminder_id, "node-b:2"));
        CPPUNIT_ASSERT(!queue.scheduled(reminder_id, "batch-of-another-owner"));
        const sr::ReminderRecord reminder = *store.find(appointment.id)->current_reminder();
        CPPUNIT_ASSERT_EQUAL(std::string(sr::reminder_status::scheduling), reminder.status);
        CPPUNIT_ASSERT(!reminder.batch_id);
    }

    void testBatchIdBelongsToOneReminder() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const std::int64_t first = store.create(sample_appointment("t1")).appointment.reminders[0].id;
        const std::int64_t second = store.create(sample_appointment("t2")).appointment.reminders[0].id;
        sr::ReminderQueue queue(lease, "node-a:1");
        CPPUNIT_ASSERT(claim(lease, first) && claim(lease, second));
        CPPUNIT_ASSERT(queue.scheduled(first, "batch-1"));
        CPPUNIT_ASSERT_THROW(queue.scheduled(second, "batch-1"), pqxx::unique_violation);
    }

    void testFailedAttemptKeepsSinchsError() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const sr::AppointmentRecord appointment = store.create(sample_appointment()).appointment;
        const std::int64_t reminder_id = appointment.current_reminder()->id;
        const sr::Instant retry_at = k_send_at - 1h;

        CPPUNIT_ASSERT(claim(lease, reminder_id));
        CPPUNIT_ASSERT(sr::ReminderQueue(lease, "node-a:1")
                           .failed(reminder_id, "retrying", 503, "", "Service Unavailable", retry_at));

        const sr::ReminderRecord reminder = *store.find(appointment.id)->current_reminder();
        CPPUNIT_ASSERT_EQUAL(std::string(sr::reminder_status::retrying), reminder.status);
        CPPUNIT_ASSERT(reminder.last_http_status == std::optional<int>(503));
        CPPUNIT_ASSERT(!reminder.last_error_code);
        CPPUNIT_ASSERT(reminder.last_error_text == std::optional<std::string>("Service Unavailable"));
        CPPUNIT_ASSERT(reminder.next_attempt_at == std::optional<sr::Instant>(retry_at));
        CPPUNIT_ASSERT(!reminder.batch_id);
    }

    void testUnknownOutcomeIsRecordedWithoutHttpStatus() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const sr::AppointmentRecord appointment = store.create(sample_appointment()).appointment;
        const std::int64_t reminder_id = appointment.current_reminder()->id;
        const std::string long_text(5000, 'x');

        CPPUNIT_ASSERT(claim(lease, reminder_id));
        CPPUNIT_ASSERT(sr::ReminderQueue(lease, "node-a:1")
                           .failed(reminder_id, "unknown", 0, "timeout", long_text, sr::now_utc() + 1h));

        const sr::ReminderRecord reminder = *store.find(appointment.id)->current_reminder();
        CPPUNIT_ASSERT_EQUAL(std::string(sr::reminder_status::unknown), reminder.status);
        CPPUNIT_ASSERT(!reminder.last_http_status);
        CPPUNIT_ASSERT(reminder.last_error_code == std::optional<std::string>("timeout"));
        CPPUNIT_ASSERT(reminder.last_error_text && reminder.last_error_text->size() < long_text.size());
        // Unknown is looked up at Sinch before anything is resent, and not before its next attempt time.
        CPPUNIT_ASSERT(!claim(lease, reminder_id));
    }

    void testUpdatedAtMovesOnUpdate() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const std::string id = store.create(sample_appointment()).appointment.id;
        CPPUNIT_ASSERT(claim(lease, store.find(id)->current_reminder()->id));
        // Microsecond precision in SQL: the claim ran in a later transaction than the insert.
        CPPUNIT_ASSERT_EQUAL(1LL, count_rows(m_db->conninfo(),
                                             "SELECT count(*) FROM reminders WHERE updated_at > created_at"));
    }

    void testInvalidIdsAreNotFound() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        const std::string id = store.create(sample_appointment()).appointment.id;
        std::string upper = id;
        std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);

        CPPUNIT_ASSERT(!store.find(""));
        CPPUNIT_ASSERT(!store.find("not-a-uuid"));
        CPPUNIT_ASSERT(!store.find("' OR 1=1 --"));
        CPPUNIT_ASSERT(!store.find(id + "0"));
        CPPUNIT_ASSERT(!store.find("00000000-0000-0000-0000-00000000000g"));
        CPPUNIT_ASSERT(!store.find("00000000-0000-4000-8000-000000000000"));  // well-formed, absent
        CPPUNIT_ASSERT(store.find(upper).has_value());
        // The connection is still healthy: no failed statement left a transaction aborted.
        CPPUNIT_ASSERT(store.find(id).has_value());
    }

    void testPhoneThatIsNotE164IsRejectedByTheSchema() {
        sr::PgLease lease = m_pool->acquire();
        sr::AppointmentStore store(lease);
        for (const char* phone :
             {"2125550123", "+02125550123", "+1 212 555 0123", "+12345", "+1234567890123456"}) {
            sr::NewAppointment appointment = sample_appointment(std::string("phone-") + phone);
            appointment.phone_e164 = phone;
            CPPUNIT_ASSERT_THROW_MESSAGE(phone, store.create(appointment), pqxx::check_violation);
        }
        CPPUNIT_ASSERT_EQUAL(0LL, count_rows(m_db->conninfo(), "SELECT count(*) FROM appointments"));
        // The shortest and longest E.164 numbers are accepted.
        sr::NewAppointment shortest = sample_appointment("short");
        shortest.phone_e164 = "+1234567";
        sr::NewAppointment longest = sample_appointment("long");
        longest.phone_e164 = "+123456789012345";
        CPPUNIT_ASSERT(store.create(shortest).created);
        CPPUNIT_ASSERT(store.create(longest).created);
    }

    void testPingSucceedsOnALiveConnection() {
        sr::PgLease lease = m_pool->acquire();
        CPPUNIT_ASSERT_NO_THROW(sr::AppointmentStore(lease).ping());
        CPPUNIT_ASSERT(!lease.invalidated());
    }

    void testLostConnectionBecomesDatabaseUnavailableAndIsDiscarded() {
        sr::PgLease lease = m_pool->acquire();
        {
            pqxx::connection admin(m_db->conninfo());
            pqxx::nontransaction txn(admin);
            txn.exec_params("SELECT pg_terminate_backend($1)", lease->backendpid());
        }
        sr::AppointmentStore store(lease);
        CPPUNIT_ASSERT_THROW(store.find("00000000-0000-4000-8000-000000000000"), sr::DatabaseUnavailable);
        CPPUNIT_ASSERT(lease.invalidated());
        lease.release();
        CPPUNIT_ASSERT_EQUAL(std::size_t{0}, m_pool->stats().open);
    }

  private:
    std::unique_ptr<TestDatabase> m_db;
    std::unique_ptr<sr::PgPool> m_pool;
    CapturingLogger m_logger;
};

CPPUNIT_TEST_SUITE_REGISTRATION(MigrationsTest);
CPPUNIT_TEST_SUITE_REGISTRATION(AppointmentStoreTest);
