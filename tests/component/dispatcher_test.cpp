// The dispatcher against a real PostgreSQL and the Sinch fake: every reminder ends with exactly one
// batch at Sinch, whatever fails on the way.
#include <cppunit/extensions/HelperMacros.h>

#include <future>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "core/appointment_changes.hpp"
#include "core/dispatcher.hpp"
#include "core/store.hpp"
#include "pg_test_db.hpp"
#include "store_and_sinch_fixture.hpp"
#include "sinch_fake_control.hpp"

using namespace std::chrono_literals;
using sr::test::CapturingLogger;
using sr::test::FakeControl;
using sr::test::JsonPtr;
using sr::test::TestDatabase;

class DispatcherTest : public sr::test::StoreAndSinchFixture {
    CPPUNIT_TEST_SUITE(DispatcherTest);
    CPPUNIT_TEST(testDueReminderIsHandedOverOnceWithItsStoredText);
    CPPUNIT_TEST(testReminderBeyondTheHorizonWaitsUntilItEntersIt);
    CPPUNIT_TEST(testServerErrorIsRetriedWithBackoffAndThenScheduled);
    CPPUNIT_TEST(testRefusalIsFinalAndKeepsSinchsCode);
    CPPUNIT_TEST(testLostAnswerIsLookedUpAndAdoptedNotResent);
    CPPUNIT_TEST(testLeaseOfADeadProcessExpiresAndIsLookedUpFirst);
    CPPUNIT_TEST(testMissedSlotBecomesTooLateInsteadOfBeingSentLate);
    CPPUNIT_TEST(testOnePassDrainsABacklogAtTheAccountsRate);
    CPPUNIT_TEST(testGracefulStopFinishesCallsInFlightAndStartsNoNewOne);
    CPPUNIT_TEST(testRefusedCredentialsPauseTheAccountAndFailNothing);
    CPPUNIT_TEST(testRefusedCredentialsBackOffExponentially);
    CPPUNIT_TEST(testRateLimitAnswerPausesTheWholeAccount);
    CPPUNIT_TEST(testCreateAfterTheLeaseWasLostIsCancelledAsAnOrphan);
    CPPUNIT_TEST(testSlowAnswerAfterTheLeaseWasLostLeavesOneLiveBatch);
    CPPUNIT_TEST(testOrphanIsAdoptedWhenTheReminderStillNeedsABatch);
    CPPUNIT_TEST(testBatchExpiresAtTheAppointmentStart);
    CPPUNIT_TEST(testUnknownOutcomeBacksOffExponentially);
    CPPUNIT_TEST(testCancelReachesSinchAndPendingRemindersNeverDo);
    CPPUNIT_TEST(testCancelDuringAnInFlightCreateStillCancelsTheBatch);
    CPPUNIT_TEST(testCancelNowWaitsForAnotherWorkersCancelAndAnswersItsEnd);
    CPPUNIT_TEST(testRescheduleLeavesExactlyOneLiveBatchAtTheNewTime);
    CPPUNIT_TEST(testFailedCancelIsRetriedNeverSwallowed);
    CPPUNIT_TEST(testTwoNodesRacingScheduleEachReminderOnce);
    CPPUNIT_TEST(testBookingStoresItsDueReminderClaimedAndHandsItOverOnce);
    CPPUNIT_TEST(testBookingBeyondTheHorizonOrTooLateIsNotClaimed);
    CPPUNIT_TEST(testHandOverHoldsNoDatabaseConnectionWhileSinchAnswers);
    CPPUNIT_TEST(testRateTokensAreTakenInChunksButNeverBeyondTheBucket);
    CPPUNIT_TEST_SUITE_END();

    int m_counter = 0;

    sr::DispatchSettings settings(const std::string& owner = "node-a:1") const {
        sr::DispatchSettings s;
        s.owner = owner;
        s.batches_per_second = 1000;
        return s;
    }

    sr::Dispatcher dispatcher(sr::DispatchSettings s) {
        return sr::Dispatcher(*m_pool, *m_sinch, m_logger, s);
    }

    // A booking whose reminder is due at `send_at`, with a fresh phone number and submission key.
    sr::NewAppointment new_booking(sr::Instant send_at) {
        sr::NewAppointment a;
        a.patient_name = "Ada Lovelace";
        a.doctor_name = "Dr. Grace Hopper";
        a.phone_e164 = "+12125550" + std::to_string(100 + m_counter);
        a.starts_at = send_at + 2h;
        a.time_zone = "America/New_York";
        a.local_wall_time = "2026-12-01T14:30";
        a.submission_key = "key-" + std::to_string(m_counter++);
        a.reminder_send_at = send_at;
        a.reminder_body =
            "Riverside Clinic reminder: appointment with Dr. Grace Hopper. Reply STOP to opt out.";
        return a;
    }

    // An appointment whose reminder is due at `send_at`, stored without a claim.
    sr::AppointmentRecord book(sr::Instant send_at,
                               sr::InitialReminderStatus status = sr::InitialReminderStatus::Pending) {
        sr::NewAppointment a = new_booking(send_at);
        a.reminder_status = status;
        sr::PgLease lease = m_pool->acquire();
        return sr::AppointmentStore(lease).create(a).appointment;
    }

    sr::CreateResult store_claimed(const sr::NewAppointment& a, sr::Dispatcher& d) {
        sr::PgLease lease = m_pool->acquire();
        return sr::AppointmentStore(lease).create(a, d.booking_claim());
    }

    sr::ReminderRecord reminder_of(const std::string& appointment_id, int revision = 0) {
        sr::PgLease lease = m_pool->acquire();
        const auto appointment = sr::AppointmentStore(lease).find(appointment_id);
        for (const auto& r : appointment->reminders) {
            if (revision ? r.revision == revision : r.revision == appointment->revision) return r;
        }
        throw std::runtime_error("no reminder");
    }

    void sql(const std::string& statement) {
        pqxx::connection c(m_db->conninfo());
        pqxx::work txn(c);
        txn.exec(statement);
        txn.commit();
    }

    std::string query_value(const std::string& statement) {
        pqxx::connection c(m_db->conninfo());
        pqxx::read_transaction txn(c);
        return txn.exec1(statement)[0].as<std::string>();
    }

    std::size_t live_batches() { return static_cast<std::size_t>(m_fake.stat("live_batches")); }

    // Live batches of one reminder revision, whatever else the fake holds.
    std::size_t live_batches_of(const std::string& client_reference) {
        const JsonPtr batches = m_fake.batches();
        std::size_t live = 0;
        for (std::size_t i = 0; i < json_array_size(batches.get()); ++i) {
            const json_t* batch = json_array_get(batches.get(), i);
            if (sr::test::string_member(batch, "client_reference") == client_reference &&
                !json_is_true(json_object_get(batch, "canceled")))
                ++live;
        }
        return live;
    }

  public:
    void testBookingStoresItsDueReminderClaimedAndHandsItOverOnce() {
        auto d = dispatcher(settings());
        const sr::NewAppointment wanted = new_booking(sr::now_utc() + 1h);
        const sr::CreateResult created = store_claimed(wanted, d);
        CPPUNIT_ASSERT(created.created);
        const sr::ReminderRecord& stored = *created.appointment.current_reminder();
        CPPUNIT_ASSERT_EQUAL(std::string("scheduling"), stored.status);
        CPPUNIT_ASSERT_EQUAL(1, stored.attempts);
        CPPUNIT_ASSERT_EQUAL(wanted.phone_e164, created.appointment.phone_e164);
        CPPUNIT_ASSERT(wanted.reminder_send_at == stored.send_at);
        CPPUNIT_ASSERT_EQUAL(reminder_of(created.appointment.id).client_reference, stored.client_reference);
        // Claimed by the booking: the background pass leaves it alone while the booking hands it over.
        CPPUNIT_ASSERT(d.run_once().idle());
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"),
                             d.hand_over_booked(created.appointment, wanted.reminder_body));
        const sr::ReminderRecord after = reminder_of(created.appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), after.status);
        const JsonPtr batches = m_fake.batches();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), json_array_size(batches.get()));
        const json_t* batch = json_array_get(batches.get(), 0);
        CPPUNIT_ASSERT_EQUAL(*after.batch_id, sr::test::string_member(batch, "id"));
        CPPUNIT_ASSERT_EQUAL(wanted.reminder_body, sr::test::string_member(batch, "body"));
        CPPUNIT_ASSERT_EQUAL(sr::format_utc_iso_millis(wanted.reminder_send_at),
                             sr::test::string_member(batch, "send_at"));
        // A second hand-over of the same booking (a retry of the request) finds nothing claimed.
        const sr::CreateResult again = store_claimed(wanted, d);
        CPPUNIT_ASSERT(!again.created);
        CPPUNIT_ASSERT_EQUAL(std::string(""), d.hand_over_booked(again.appointment, wanted.reminder_body));
        CPPUNIT_ASSERT(d.run_once().idle());
        CPPUNIT_ASSERT_EQUAL(1L, m_fake.stat("creates"));
    }

    void testBookingBeyondTheHorizonOrTooLateIsNotClaimed() {
        auto week = settings();
        week.horizon = 7 * 24h;
        auto d = dispatcher(week);
        const sr::CreateResult far = store_claimed(new_booking(sr::now_utc() + 10 * 24h), d);
        CPPUNIT_ASSERT_EQUAL(std::string("pending"), far.appointment.current_reminder()->status);
        CPPUNIT_ASSERT_EQUAL(0, far.appointment.current_reminder()->attempts);
        CPPUNIT_ASSERT_EQUAL(std::string(""), d.hand_over_booked(far.appointment, "text"));
        sr::NewAppointment late = new_booking(sr::now_utc() - 1h);
        late.reminder_status = sr::InitialReminderStatus::TooLate;
        const sr::CreateResult too_late = store_claimed(late, d);
        CPPUNIT_ASSERT_EQUAL(std::string("too_late"), too_late.appointment.current_reminder()->status);
        CPPUNIT_ASSERT_EQUAL(std::string(""), d.hand_over_booked(too_late.appointment, "text"));
        CPPUNIT_ASSERT(d.run_once().idle());
        CPPUNIT_ASSERT_EQUAL(0L, m_fake.stat("creates"));
    }

    // With one pooled connection and a slow Sinch, a second booking must not wait for the first one's call.
    void testHandOverHoldsNoDatabaseConnectionWhileSinchAnswers() {
        sr::PgPoolConfig one;
        one.conninfo = m_db->conninfo();
        one.max_connections = 1;
        one.acquire_timeout = 300ms;
        sr::PgPool pool(one, m_logger);
        sr::Dispatcher d(pool, *m_sinch, m_logger, settings());
        m_fake.add_fault(
            R"({"match":{"method":"POST","path_regex":"/batches$"},"latency_ms":1000,"count":1})");
        const sr::NewAppointment first = new_booking(sr::now_utc() + 1h);
        const auto claim = d.booking_claim();  // as the adapter does: the token before the connection
        const sr::CreateResult created = [&] {
            sr::PgLease lease = pool.acquire();
            return sr::AppointmentStore(lease).create(first, claim);
        }();
        auto slow = std::async(std::launch::async,
                               [&] { return d.hand_over_booked(created.appointment, first.reminder_body); });
        std::this_thread::sleep_for(200ms);  // the first hand-over is now waiting for Sinch
        {
            sr::PgLease lease =
                pool.acquire();  // would throw PoolTimeout if the hand-over held the connection
            CPPUNIT_ASSERT(sr::AppointmentStore(lease).create(new_booking(sr::now_utc() + 1h)).created);
        }
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), slow.get());
    }

    void testRateTokensAreTakenInChunksButNeverBeyondTheBucket() {
        sql("UPDATE sinch_rate_bucket SET tokens = 5, refilled_at = clock_timestamp()");
        sr::PgLease lease = m_pool->acquire();
        sr::ReminderQueue queue(lease, "node-a:1");
        // A rate of 0.001/s refills nothing noticeable during the test.
        CPPUNIT_ASSERT_EQUAL(3, queue.take_rate_tokens(0.001, 100, 3).tokens);
        CPPUNIT_ASSERT_EQUAL(2, queue.take_rate_tokens(0.001, 100, 3).tokens);  // only 2 were left
        CPPUNIT_ASSERT_EQUAL(0, queue.take_rate_tokens(0.001, 100, 3).tokens);
        // Unspent tokens go back: 3 returned, 3 taken again, nothing more.
        CPPUNIT_ASSERT_EQUAL(3, queue.take_rate_tokens(0.001, 100, 3, 3).tokens);
        CPPUNIT_ASSERT_EQUAL(0, queue.take_rate_tokens(0.001, 100, 3).tokens);
        CPPUNIT_ASSERT_EQUAL(2, queue.take_rate_tokens(0.001, 100, 0, 2).tokens +
                                    queue.take_rate_tokens(0.001, 100, 5).tokens);
        // The burst caps what a long idle time accumulates.
        sql("UPDATE sinch_rate_bucket SET tokens = 0, refilled_at = clock_timestamp() - interval '1 hour'");
        CPPUNIT_ASSERT_EQUAL(4, queue.take_rate_tokens(10, 4, 100).tokens);
        // While the account is paused nothing is taken, and the take says for how long.
        queue.pause_for_rate_limit(3s, "HTTP 429");
        const sr::RateTake paused = queue.take_rate_tokens(10, 4, 100);
        CPPUNIT_ASSERT_EQUAL(0, paused.tokens);
        CPPUNIT_ASSERT(paused.paused_for > 2s && paused.paused_for <= 3s);
    }

    void testDueReminderIsHandedOverOnceWithItsStoredText() {
        const auto appointment = book(sr::now_utc() + 1h);
        auto d = dispatcher(settings());
        const auto report = d.run_once();
        CPPUNIT_ASSERT_EQUAL(1, report.scheduled);
        const auto reminder = reminder_of(appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder.status);
        const JsonPtr batches = m_fake.batches();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), json_array_size(batches.get()));
        const json_t* batch = json_array_get(batches.get(), 0);
        CPPUNIT_ASSERT_EQUAL(*reminder.batch_id, sr::test::string_member(batch, "id"));
        CPPUNIT_ASSERT_EQUAL(reminder.client_reference, sr::test::string_member(batch, "client_reference"));
        CPPUNIT_ASSERT(sr::test::string_member(batch, "body").find("Riverside Clinic reminder") == 0);
        CPPUNIT_ASSERT_EQUAL(sr::format_utc_iso_millis(reminder.send_at),
                             sr::test::string_member(batch, "send_at"));
        CPPUNIT_ASSERT(d.run_once().idle());  // nothing left: never a second batch
        CPPUNIT_ASSERT_EQUAL(1L, m_fake.stat("creates"));
    }

    void testReminderBeyondTheHorizonWaitsUntilItEntersIt() {
        const auto appointment = book(sr::now_utc() + 10 * 24h);
        auto week = settings();
        week.horizon = 7 * 24h;
        CPPUNIT_ASSERT(dispatcher(week).run_once().idle());
        CPPUNIT_ASSERT_EQUAL(std::string("pending"), reminder_of(appointment.id).status);
        CPPUNIT_ASSERT_EQUAL(0L, m_fake.stat("creates"));
        auto fortnight = settings();
        fortnight.horizon = 14 * 24h;  // as if three days had passed
        CPPUNIT_ASSERT_EQUAL(1, dispatcher(fortnight).run_once().scheduled);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder_of(appointment.id).status);
    }

    void testServerErrorIsRetriedWithBackoffAndThenScheduled() {
        const auto appointment = book(sr::now_utc() + 1h);
        m_fake.add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"status":503,"count":1})");
        auto d = dispatcher(settings());
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().retrying);
        auto reminder = reminder_of(appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("retrying"), reminder.status);
        CPPUNIT_ASSERT(reminder.last_http_status == std::optional<int>(503));
        CPPUNIT_ASSERT(*reminder.next_attempt_at >= sr::now_utc() + 20s);  // 30 s +- 20 %, then doubling
        CPPUNIT_ASSERT(!d.account_state().paused(sr::now_utc()));  // no Retry-After: this reminder only
        CPPUNIT_ASSERT(d.run_once().idle());                       // not before its time
        sql("UPDATE reminders SET next_attempt_at = now()");
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().scheduled);
        reminder = reminder_of(appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder.status);
        CPPUNIT_ASSERT_EQUAL(2, reminder.attempts);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), live_batches());
    }

    void testRefusalIsFinalAndKeepsSinchsCode() {
        const auto appointment = book(sr::now_utc() + 1h);
        m_fake.add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"status":400,"count":1,
                             "body":{"code":"syntax_constraint_violation","text":"bad recipient"}})");
        auto d = dispatcher(settings());
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().failed);
        const auto reminder = reminder_of(appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("failed"), reminder.status);
        CPPUNIT_ASSERT(reminder.last_error_code == std::optional<std::string>("syntax_constraint_violation"));
        CPPUNIT_ASSERT(d.run_once().idle());
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0401"));
        CPPUNIT_ASSERT(!d.account_state().paused(sr::now_utc()));  // about this reminder, not the account
    }

    // 401, or a 403 about the account (blocked, refused token): nothing was created, so the reminder stays
    // 'retrying'; every process stops calling until the backoff ends; the first call that works clears it.
    void testRefusedCredentialsPauseTheAccountAndFailNothing() {
        const auto first = book(sr::now_utc() + 1h);
        const auto second = book(sr::now_utc() + 1h);
        m_fake.add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"status":403,"count":1,
                             "body":{"code":"blocked_account","text":"The account is blocked"}})");
        auto one_at_a_time = settings();
        one_at_a_time.workers = 1;
        one_at_a_time.pass_budget = 2s;  // ends inside the 5 s pause
        auto d = dispatcher(one_at_a_time);
        const auto report = d.run_once();
        CPPUNIT_ASSERT_EQUAL(0, report.failed);
        CPPUNIT_ASSERT_EQUAL(0, report.scheduled);
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0408"));
        const auto reminder =
            reminder_of(first.id).status == "retrying" ? reminder_of(first.id) : reminder_of(second.id);
        CPPUNIT_ASSERT_EQUAL(std::string("retrying"), reminder.status);
        CPPUNIT_ASSERT(reminder.last_error_code == std::optional<std::string>("blocked_account"));
        sr::ReminderQueue queue(*m_pool, "test");
        const sr::AccountState account = queue.account_state();
        CPPUNIT_ASSERT(account.paused(sr::now_utc()));
        CPPUNIT_ASSERT_EQUAL(std::string("credentials_rejected"), account.pause_reason);
        CPPUNIT_ASSERT_EQUAL(1, account.auth_failures);
        const long calls = m_fake.stat("requests");
        auto brief = settings("node-b:2");
        brief.pass_budget = 1s;
        CPPUNIT_ASSERT(dispatcher(brief).run_once().account_paused);  // no process calls Sinch meanwhile
        CPPUNIT_ASSERT_EQUAL(calls, m_fake.stat("requests"));
        sql("UPDATE sinch_rate_bucket SET paused_until = now() - interval '1 second'");
        auto other_node = dispatcher(settings("node-b:2"));
        CPPUNIT_ASSERT_EQUAL(2, other_node.run_once().scheduled);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder_of(first.id).status);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder_of(second.id).status);
        const sr::AccountState recovered = queue.account_state();
        CPPUNIT_ASSERT_EQUAL(std::string(""), recovered.pause_reason);
        CPPUNIT_ASSERT_EQUAL(0, recovered.auth_failures);
    }

    // Probes while the keys stay refused double the pause; calls in flight together count once.
    void testRefusedCredentialsBackOffExponentially() {
        sr::ReminderQueue queue(*m_pool, "test");
        CPPUNIT_ASSERT(queue.pause_for_refused_credentials(5s, 300s, "401") == std::optional<int>(1));
        CPPUNIT_ASSERT(!queue.pause_for_refused_credentials(5s, 300s, "401"));  // same probe
        auto pause_left = [&] { return *queue.account_state().paused_until - sr::now_utc(); };
        CPPUNIT_ASSERT(pause_left() <= 5s);
        sql("UPDATE sinch_rate_bucket SET paused_until = now()");
        CPPUNIT_ASSERT(queue.pause_for_refused_credentials(5s, 300s, "401") == std::optional<int>(2));
        CPPUNIT_ASSERT(pause_left() >= 8s && pause_left() <= 10s);
        sql("UPDATE sinch_rate_bucket SET paused_until = now(), auth_failures = 12");
        queue.pause_for_refused_credentials(5s, 300s, "401");
        CPPUNIT_ASSERT(pause_left() >= 298s && pause_left() <= 300s);  // capped
    }

    // A 429 (or any Retry-After) stops every caller for that long; the pass waits and then drains.
    void testRateLimitAnswerPausesTheWholeAccount() {
        for (int i = 0; i < 3; ++i) book(sr::now_utc() + 1h);
        m_fake.add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"status":429,"count":1,
                             "headers":{"Retry-After":"2"}})");
        auto d = dispatcher(settings());
        const auto started = std::chrono::steady_clock::now();
        const auto report = d.run_once();
        const auto took = std::chrono::steady_clock::now() - started;
        CPPUNIT_ASSERT_EQUAL(3, report.scheduled);
        CPPUNIT_ASSERT_EQUAL(0, report.failed);
        CPPUNIT_ASSERT(took >= 1900ms);  // nobody called during the pause
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0407"));
        CPPUNIT_ASSERT_EQUAL(3L, m_fake.stat("creates"));
    }

    // The fencing invariant: a process that loses its lease while Sinch answers slowly never leaves its
    // batch live beside the one its successor created.
    void testCreateAfterTheLeaseWasLostIsCancelledAsAnOrphan() {
        auto short_lease = settings("node-a:1");
        short_lease.lease_for = 1s;
        auto stalled = dispatcher(short_lease);
        const sr::NewAppointment wanted = new_booking(sr::now_utc() + 1h);
        const sr::CreateResult booked = store_claimed(wanted, stalled);
        std::this_thread::sleep_for(1500ms);  // node a stalls after its claim, before its create
        auto other = dispatcher(settings("node-b:2"));
        const auto taken_over = other.run_once();
        CPPUNIT_ASSERT_EQUAL(1, taken_over.leases_released);
        CPPUNIT_ASSERT_EQUAL(1, taken_over.scheduled);  // looked up: nothing yet, so node b created it
        // Node a resumes and its create goes out: it cannot record it, so the batch is an orphan.
        CPPUNIT_ASSERT_EQUAL(std::string(""),
                             stalled.hand_over_booked(booked.appointment, wanted.reminder_body));
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0411"));
        CPPUNIT_ASSERT_EQUAL(2L, m_fake.stat("creates"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), live_batches());  // for a moment
        const auto resolved = other.run_once();
        CPPUNIT_ASSERT_EQUAL(1, resolved.orphans_cancelled);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), live_batches());
        const auto reminder = reminder_of(booked.appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder.status);
        const JsonPtr batches = m_fake.batches();
        for (std::size_t i = 0; i < json_array_size(batches.get()); ++i) {
            const json_t* batch = json_array_get(batches.get(), i);
            const bool canceled = json_is_true(json_object_get(batch, "canceled"));
            CPPUNIT_ASSERT_EQUAL(sr::test::string_member(batch, "id") != *reminder.batch_id, canceled);
        }
    }

    // The same stall while Sinch is answering: whichever way the race goes, one live batch remains.
    void testSlowAnswerAfterTheLeaseWasLostLeavesOneLiveBatch() {
        const auto appointment = book(sr::now_utc() + 1h);
        m_fake.add_fault(
            R"({"match":{"method":"POST","path_regex":"/batches$"},"latency_ms":3000,"count":1})");
        auto short_lease = settings("node-a:1");
        short_lease.lease_for = 1s;
        const auto started = std::chrono::steady_clock::now();
        auto slow_node = std::async(std::launch::async, [&] { return dispatcher(short_lease).run_once(); });
        std::this_thread::sleep_for(1500ms);
        auto other = dispatcher(settings("node-b:2"));
        other.run_once();
        CPPUNIT_ASSERT_EQUAL(1, slow_node.get().lease_lost);
        other.run_once();  // resolves the orphan
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), live_batches());
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder_of(appointment.id).status);
        // The slow node's own create, which it gave up on, reaches Sinch only now: a second live batch.
        std::this_thread::sleep_until(started + 3500ms);
        const std::string reference = reminder_of(appointment.id).client_reference;
        CPPUNIT_ASSERT_EQUAL(2L, m_fake.stat("creates"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), live_batches_of(reference));
        // The late-create check (due two minutes after the lost answer) finds and cancels it.
        sql("UPDATE orphan_batches SET next_attempt_at = now()");
        other.run_once();  // looks up: each live batch becomes an orphan
        other.run_once();  // cancels the one that is not the reminder's
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), live_batches_of(reference));
        const auto settled = reminder_of(appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), settled.status);
        bool recorded_is_live = false;
        const JsonPtr batches = m_fake.batches();
        for (std::size_t i = 0; i < json_array_size(batches.get()); ++i) {
            const json_t* batch = json_array_get(batches.get(), i);
            if (settled.batch_id == std::optional<std::string>(sr::test::string_member(batch, "id")))
                recorded_is_live = !json_is_true(json_object_get(batch, "canceled"));
        }
        CPPUNIT_ASSERT(recorded_is_live);
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0413"));
    }

    // An orphan whose reminder still needs a batch (its successor's call failed) is adopted, not cancelled.
    void testOrphanIsAdoptedWhenTheReminderStillNeedsABatch() {
        const auto appointment = book(sr::now_utc() + 1h);
        const auto reminder = reminder_of(appointment.id);
        sr::ScheduleRequest request;
        request.to_e164 = appointment.phone_e164;
        request.body = "x";
        request.client_reference = reminder.client_reference;
        request.send_at = reminder.send_at;
        const std::string batch = m_sinch->schedule(request).batch->id;
        sql("UPDATE reminders SET status = 'retrying', next_attempt_at = now() + interval '1 hour'");
        sr::ReminderQueue queue(*m_pool, "node-a:1");
        queue.record_orphan(reminder.id, batch, reminder.client_reference);
        const auto report = dispatcher(settings()).run_once();
        CPPUNIT_ASSERT_EQUAL(1, report.orphans_adopted);
        const auto adopted = reminder_of(appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), adopted.status);
        CPPUNIT_ASSERT(adopted.batch_id == std::optional<std::string>(batch));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), live_batches_of(reminder.client_reference));
    }

    // Sinch must not deliver after the visit: expire_at is the appointment's start (at most send_at + 3
    // days).
    void testBatchExpiresAtTheAppointmentStart() {
        const auto appointment = book(sr::now_utc() + 1h);
        CPPUNIT_ASSERT_EQUAL(1, dispatcher(settings()).run_once().scheduled);
        const JsonPtr batches = m_fake.batches();
        const json_t* batch = json_array_get(batches.get(), 0);
        CPPUNIT_ASSERT_EQUAL(sr::format_utc_iso_millis(appointment.starts_at),
                             sr::test::string_member(batch, "expire_at"));
        const sr::Instant send_at = sr::now_utc();
        CPPUNIT_ASSERT(sr::reminder_expire_at(send_at, send_at + 10 * 24h) == send_at + 72h);
        CPPUNIT_ASSERT(!sr::reminder_expire_at(send_at, send_at));
    }

    // An unknown outcome is looked up again later, with the same exponential backoff as retries.
    void testUnknownOutcomeBacksOffExponentially() {
        const auto appointment = book(sr::now_utc() + 1h);
        m_fake.add_fault(
            R"({"match":{"method":"POST","path_regex":"/batches$"},"act_then_drop":true,"count":1})");
        m_fake.add_fault(R"({"match":{"method":"GET","path_regex":"/batches$"},"status":503,"count":2})");
        auto d = dispatcher(settings());
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().unknown);
        auto reminder = reminder_of(appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("unknown"), reminder.status);
        const auto first_wait = *reminder.next_attempt_at - sr::now_utc();
        CPPUNIT_ASSERT(first_wait >= 20s && first_wait <= 37s);  // 30 s +- 20 % jitter
        sql("UPDATE reminders SET next_attempt_at = now()");
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().unknown);  // the lookup failed again
        reminder = reminder_of(appointment.id);
        const auto second_wait = *reminder.next_attempt_at - sr::now_utc();
        CPPUNIT_ASSERT(second_wait >= 44s && second_wait <= 73s);  // doubled
        sql("UPDATE reminders SET next_attempt_at = now()");
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().adopted);  // found, never created twice
        CPPUNIT_ASSERT_EQUAL(1L, m_fake.stat("creates"));
    }

    void testLostAnswerIsLookedUpAndAdoptedNotResent() {
        const auto appointment = book(sr::now_utc() + 1h);
        m_fake.add_fault(
            R"({"match":{"method":"POST","path_regex":"/batches$"},"act_then_drop":true,"count":1})");
        const auto report = dispatcher(settings()).run_once();
        CPPUNIT_ASSERT_EQUAL(1, report.scheduled);
        CPPUNIT_ASSERT_EQUAL(1L, m_fake.stat("creates"));
        const auto reminder = reminder_of(appointment.id);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder.status);
        CPPUNIT_ASSERT_EQUAL(
            std::string(sr::test::string_member(json_array_get(m_fake.batches().get(), 0), "id")),
            *reminder.batch_id);
    }

    void testLeaseOfADeadProcessExpiresAndIsLookedUpFirst() {
        const auto created_at_sinch = book(sr::now_utc() + 1h);
        const auto never_reached = book(sr::now_utc() + 1h);
        {
            // A process claims both, creates one batch at Sinch, and dies before recording anything.
            sr::PgLease lease = m_pool->acquire();
            sr::ReminderQueue dead(lease, "dead-node:666");
            CPPUNIT_ASSERT_EQUAL(std::size_t(2), dead.claim_for_scheduling(24h, 60s, 10).size());
            sr::ScheduleRequest request;
            request.to_e164 = created_at_sinch.phone_e164;
            request.body = "x";
            request.client_reference = reminder_of(created_at_sinch.id).client_reference;
            request.send_at = sr::now_utc() + 1h;
            CPPUNIT_ASSERT(m_sinch->schedule(request).ok());
        }
        auto d = dispatcher(settings());
        CPPUNIT_ASSERT(d.run_once().idle());  // their leases still run
        sql("UPDATE reminders SET lease_until = now() - interval '1 second'");
        const auto report = d.run_once();
        CPPUNIT_ASSERT_EQUAL(2, report.leases_released);
        CPPUNIT_ASSERT_EQUAL(1, report.adopted);
        CPPUNIT_ASSERT_EQUAL(1, report.scheduled);
        CPPUNIT_ASSERT_EQUAL(2L, m_fake.stat("creates"));  // one each, never two for the adopted one
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder_of(created_at_sinch.id).status);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder_of(never_reached.id).status);
    }

    void testMissedSlotBecomesTooLateInsteadOfBeingSentLate() {
        const auto missed = book(sr::now_utc() - 1h);
        const auto slightly_late = book(sr::now_utc() - 5min);
        const auto report = dispatcher(settings()).run_once();  // grace 15 min
        CPPUNIT_ASSERT_EQUAL(1, report.missed_slots);
        CPPUNIT_ASSERT_EQUAL(1, report.scheduled);
        CPPUNIT_ASSERT_EQUAL(std::string("too_late"), reminder_of(missed.id).status);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), reminder_of(slightly_late.id).status);
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0405"));
    }

    // A pass keeps going at the account's rate instead of stopping at the first empty bucket.
    void testOnePassDrainsABacklogAtTheAccountsRate() {
        for (int i = 0; i < 6; ++i) book(sr::now_utc() + 1h);
        sql("UPDATE sinch_rate_bucket SET tokens = 0, refilled_at = clock_timestamp()");
        auto slow = settings();
        slow.batches_per_second = 4;
        auto d = dispatcher(slow);
        const auto started = std::chrono::steady_clock::now();
        const auto report = d.run_once();
        const auto took = std::chrono::steady_clock::now() - started;
        CPPUNIT_ASSERT_EQUAL(6, report.scheduled);
        CPPUNIT_ASSERT(!report.more_work);
        CPPUNIT_ASSERT(took >= 1250ms);  // 6 tokens at 4/s from an empty bucket: never faster than the rate
        CPPUNIT_ASSERT_EQUAL(6L, m_fake.stat("creates"));
        // The client counted its creates, and the waits for tokens were counted where its calls are.
        const sr::SinchCounters& counters = m_sinch->counters();
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(6),
                             counters.calls_of(sr::SinchOperation::CreateBatch, sr::SinchAnswer::Status2xx));
        CPPUNIT_ASSERT(counters.rate_waits.load() >= 1);
        CPPUNIT_ASSERT(counters.rate_wait_ms.load() >=
                       1000);  // one worker, at least, waited most of the pass
    }

    // A graceful stop (httpd restarting) lets the calls in flight finish and record their batch; nothing
    // else is claimed or called, and what was not handed over is still due for the next process.
    void testGracefulStopFinishesCallsInFlightAndStartsNoNewOne() {
        for (int i = 0; i < 10; ++i) book(sr::now_utc() + 1h);
        m_fake.add_fault(R"({"match":{"method":"POST","path_regex":"/batches$"},"latency_ms":600})");
        auto two = settings();
        two.workers = 2;
        auto d = dispatcher(two);
        const auto started = std::chrono::steady_clock::now();
        // Asked between calls: the stop comes while the first two calls wait for Sinch.
        const auto report = d.run_once([&] { return std::chrono::steady_clock::now() - started > 300ms; });
        CPPUNIT_ASSERT_EQUAL(2, report.scheduled);
        CPPUNIT_ASSERT(report.more_work);
        CPPUNIT_ASSERT_EQUAL(2L, m_fake.stat("creates"));
        CPPUNIT_ASSERT_EQUAL(std::string("8"),
                             query_value("SELECT count(*) FROM reminders WHERE status = 'pending'"
                                         " AND lease_owner IS NULL"));
        CPPUNIT_ASSERT_EQUAL(std::string("2"),
                             query_value("SELECT count(*) FROM reminders WHERE status = 'scheduled'"));
    }

    void testCancelReachesSinchAndPendingRemindersNeverDo() {
        const auto scheduled = book(sr::now_utc() + 1h);
        const auto far = book(sr::now_utc() + 30 * 24h);
        auto d = dispatcher(settings());
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().scheduled);
        sr::PgLease lease = m_pool->acquire();
        const auto cancel_scheduled = sr::cancel_appointment(lease, scheduled.id, {"frontdesk", "192.0.2.1"});
        const auto cancel_far = sr::cancel_appointment(lease, far.id, {"frontdesk", "192.0.2.1"});
        lease.release();
        CPPUNIT_ASSERT(cancel_scheduled.reminders_to_cancel.size() == 1);
        CPPUNIT_ASSERT(cancel_far.reminders_to_cancel.empty());  // it never reached Sinch
        CPPUNIT_ASSERT_EQUAL(std::string("cancelled"), reminder_of(far.id).status);
        CPPUNIT_ASSERT_EQUAL(std::string("cancelled"),
                             d.cancel_now(cancel_scheduled.reminders_to_cancel.at(0)));
        CPPUNIT_ASSERT_EQUAL(std::string("cancelled"), reminder_of(scheduled.id).status);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), live_batches());
        CPPUNIT_ASSERT(d.run_once().idle());
    }

    void testCancelDuringAnInFlightCreateStillCancelsTheBatch() {
        const auto appointment = book(sr::now_utc() + 1h);
        const std::int64_t id = reminder_of(appointment.id).id;
        sr::PgLease worker_lease = m_pool->acquire();
        sr::ReminderQueue worker(worker_lease, "node-a:1");
        CPPUNIT_ASSERT(worker.claim_one_for_scheduling(id, 24h, 60s).has_value());  // create call in flight
        {
            sr::PgLease lease = m_pool->acquire();
            sr::cancel_appointment(lease, appointment.id, {"frontdesk", ""});
        }
        auto other_node = dispatcher(settings("node-b:2"));
        CPPUNIT_ASSERT(other_node.run_once().idle());  // the create still holds it
        sr::ScheduleRequest request;
        request.to_e164 = appointment.phone_e164;
        request.body = "x";
        request.client_reference = reminder_of(appointment.id).client_reference;
        request.send_at = sr::now_utc() + 1h;
        const std::string batch = m_sinch->schedule(request).batch->id;
        CPPUNIT_ASSERT(worker.scheduled(id, batch));  // recorded, but it stays 'cancelling'
        CPPUNIT_ASSERT_EQUAL(std::string("cancelling"), reminder_of(appointment.id).status);
        CPPUNIT_ASSERT_EQUAL(1, other_node.run_once().cancelled);
        CPPUNIT_ASSERT_EQUAL(std::string("cancelled"), reminder_of(appointment.id).status);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), live_batches());
    }

    void testCancelNowWaitsForAnotherWorkersCancelAndAnswersItsEnd() {
        const auto appointment = book(sr::now_utc() + 1h);
        auto d = dispatcher(settings());
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().scheduled);
        const sr::ReminderRecord before = reminder_of(appointment.id);
        sr::PgLease lease = m_pool->acquire();
        const auto change = sr::cancel_appointment(lease, appointment.id, {"frontdesk", ""});
        lease.release();
        // A background pass of another node claims the cancel first and is slow to finish it.
        sr::PgLease other_lease = m_pool->acquire();
        sr::ReminderQueue other_node(other_lease, "node-b:2");
        CPPUNIT_ASSERT(other_node.claim_one_for_cancelling(before.id, 60s).has_value());
        bool other_node_finished = false;
        std::thread finishes_later([&] {
            std::this_thread::sleep_for(400ms);
            other_node_finished = m_sinch->cancel_batch(*before.batch_id).ok() &&
                                  other_node.cancelled(before.id, "cancelled", before.batch_id);
        });
        // The request's own cancel_now waits for it, so the answer staff see is the end, not 'cancelling'.
        d.cancel_now(change.reminders_to_cancel.at(0));
        const std::string when_answered = reminder_of(appointment.id).status;
        finishes_later.join();
        CPPUNIT_ASSERT(other_node_finished);
        CPPUNIT_ASSERT_EQUAL(std::string("cancelled"), when_answered);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), live_batches());

        // A holder that lets go without finishing: the request takes the cancel over itself.
        const auto second = book(sr::now_utc() + 1h);
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().scheduled);
        const std::int64_t second_id = reminder_of(second.id).id;
        lease = m_pool->acquire();
        const auto second_change = sr::cancel_appointment(lease, second.id, {"frontdesk", ""});
        lease.release();
        CPPUNIT_ASSERT(other_node.claim_one_for_cancelling(second_id, 60s).has_value());
        std::thread lets_go([&] {
            std::this_thread::sleep_for(400ms);
            sql("UPDATE reminders SET lease_owner = NULL, lease_until = NULL WHERE id = " +
                std::to_string(second_id));
        });
        const std::string answered = d.cancel_now(second_change.reminders_to_cancel.at(0));
        lets_go.join();
        CPPUNIT_ASSERT_EQUAL(std::string("cancelled"), answered);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), live_batches());
    }

    void testRescheduleLeavesExactlyOneLiveBatchAtTheNewTime() {
        const auto appointment = book(sr::now_utc() + 1h);
        auto d = dispatcher(settings());
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().scheduled);
        sr::NewTime later;
        later.starts_at = appointment.starts_at + 24h;
        later.local_wall_time = "2026-12-02T14:30";
        later.reminder_send_at = later.starts_at - 2h;
        later.reminder_body = "moved";
        sr::PgLease lease = m_pool->acquire();
        const auto change = sr::reschedule_appointment(lease, appointment.id, later, {"frontdesk", ""});
        lease.release();
        CPPUNIT_ASSERT(change.reminders_to_cancel.size() == 1 && change.reminders_to_schedule.size() == 1);
        CPPUNIT_ASSERT_EQUAL(std::string("superseded"), d.cancel_now(change.reminders_to_cancel.at(0)));
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), d.hand_over_now(change.reminders_to_schedule.at(0)));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), live_batches());
        const auto current = reminder_of(appointment.id);
        CPPUNIT_ASSERT_EQUAL(2, current.revision);
        CPPUNIT_ASSERT(current.send_at == later.reminder_send_at);
        CPPUNIT_ASSERT(current.client_reference != reminder_of(appointment.id, 1).client_reference);
    }

    void testFailedCancelIsRetriedNeverSwallowed() {
        const auto appointment = book(sr::now_utc() + 1h);
        auto d = dispatcher(settings());
        d.run_once();
        m_fake.add_fault(R"({"match":{"method":"DELETE"},"status":503,"count":1})");
        sr::PgLease lease = m_pool->acquire();
        const auto change = sr::cancel_appointment(lease, appointment.id, {"frontdesk", ""});
        lease.release();
        CPPUNIT_ASSERT_EQUAL(std::string("cancel_failed"), d.cancel_now(change.reminders_to_cancel.at(0)));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), live_batches());
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0404"));
        sql("UPDATE reminders SET next_attempt_at = now()");
        CPPUNIT_ASSERT_EQUAL(1, d.run_once().cancelled);
        CPPUNIT_ASSERT_EQUAL(std::string("cancelled"), reminder_of(appointment.id).status);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), live_batches());
    }

    void testTwoNodesRacingScheduleEachReminderOnce() {
        std::set<std::string> appointment_ids;
        for (int i = 0; i < 60; ++i) appointment_ids.insert(book(sr::now_utc() + 1h).id);
        auto settings_a = settings("node-a:1"), settings_b = settings("node-b:2");
        settings_a.workers = settings_b.workers = 3;
        auto node = [&](sr::DispatchSettings s) {
            auto d = dispatcher(s);
            int scheduled = 0;
            for (int pass = 0; pass < 30; ++pass) scheduled += d.run_once().scheduled;
            return scheduled;
        };
        auto a = std::async(std::launch::async, node, settings_a);
        auto b = std::async(std::launch::async, node, settings_b);
        CPPUNIT_ASSERT_EQUAL(60, a.get() + b.get());
        CPPUNIT_ASSERT_EQUAL(60L, m_fake.stat("creates"));
        std::set<std::string> references;
        const JsonPtr batches = m_fake.batches();
        for (std::size_t i = 0; i < json_array_size(batches.get()); ++i) {
            references.insert(sr::test::string_member(json_array_get(batches.get(), i), "client_reference"));
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(60), references.size());
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(DispatcherTest);
