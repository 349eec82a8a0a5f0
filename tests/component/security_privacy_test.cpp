// Issue 12 items 3, 5, 6 and issue 11 item 6 against a real PostgreSQL: what a delivery report may change
// (recipient, send time, replayed nonces, adoption of an unstored batch), per-user booking slots, and the
// retention purge.
#include <cppunit/extensions/HelperMacros.h>

#include <pqxx/pqxx>

#include "core/booking_limit.hpp"
#include "core/delivery_reports.hpp"
#include "core/retention.hpp"
#include "core/store.hpp"
#include "pg_test_db.hpp"
#include "store_and_sinch_fixture.hpp"

using namespace std::chrono_literals;

class SecurityPrivacyTest : public sr::test::StoreAndSinchFixture {
    CPPUNIT_TEST_SUITE(SecurityPrivacyTest);
    CPPUNIT_TEST(testSentNeedsTheNumberAndTheSendTime);
    CPPUNIT_TEST(testAReplayedNonceChangesNothing);
    CPPUNIT_TEST(testAdoptionOfAnUnstoredBatch);
    CPPUNIT_TEST(testBookingSlotsPerUserPerHour);
    CPPUNIT_TEST(testPurgeAnonymisesOnlyWhatIsOldEnough);
    CPPUNIT_TEST_SUITE_END();

    int m_counter = 0;

    sr::AppointmentRecord book(sr::Instant starts_at) {
        sr::NewAppointment a;
        a.patient_name = "Ada Lovelace";
        a.doctor_name = "Dr. Grace Hopper";
        a.phone_e164 = "+12125550" + std::to_string(100 + m_counter);
        a.starts_at = starts_at;
        a.time_zone = "America/New_York";
        a.local_wall_time = "2026-12-01T14:30";
        a.submission_key = "key-" + std::to_string(m_counter++);
        a.created_from = "198.51.100.7";
        a.reminder_send_at = starts_at - 2h;
        a.reminder_body = "Riverside Clinic reminder. Reply STOP to opt out.";
        sr::PgLease lease = m_pool->acquire();
        return sr::AppointmentStore(lease).create(a).appointment;
    }

    void sql(const std::string& statement) {
        pqxx::connection c(m_db->conninfo());
        pqxx::work txn(c);
        txn.exec(statement);
        txn.commit();
    }

    std::string scalar(const std::string& query) {
        pqxx::connection c(m_db->conninfo());
        pqxx::nontransaction txn(c);
        const auto rows = txn.exec(query);
        return rows.empty() || rows[0][0].is_null() ? "" : rows[0][0].as<std::string>();
    }

    // The reminder of `a` as if handed to Sinch as `batch`, with its send time `send_in` from now.
    void scheduled(const sr::AppointmentRecord& a, const std::string& batch, const std::string& send_in) {
        sql("UPDATE reminders SET status = 'scheduled', batch_id = '" + batch +
            "', send_at = now() + interval '" + send_in + "' WHERE appointment_id = '" + a.id + "'");
    }

    sr::DeliveryReport report(const std::string& batch, const std::string& status,
                              const std::string& recipient, sr::Instant at = sr::now_utc()) {
        sr::DeliveryReport r;
        r.kind = sr::CallbackKind::RecipientReport;
        r.batch_id = batch;
        r.status = status;
        r.code = 0;
        r.at = at;
        r.recipient = recipient;
        return r;
    }

    sr::ApplyResult apply(const sr::DeliveryReport& r, const std::string& nonce = "") {
        sr::ReportOrigin origin;
        origin.received_at = sr::now_utc();
        origin.remote_addr = "203.0.113.9";
        origin.nonce = nonce;
        origin.nonce_expires_at = sr::now_utc() + 1h;
        sr::PgLease lease = m_pool->acquire();
        return sr::apply_delivery_report(lease, r, origin);
    }

    std::string status_of(const sr::AppointmentRecord& a) {
        return scalar("SELECT status FROM reminders WHERE appointment_id = '" + a.id + "'");
    }

  public:
    void testSentNeedsTheNumberAndTheSendTime() {
        const auto a = book(sr::now_utc() + 30h);
        const std::string number = a.phone_e164.substr(1);
        scheduled(a, "B1", "1 day");
        // Dispatched a day before its send time: impossible, ignored.
        CPPUNIT_ASSERT(apply(report("B1", "Dispatched", number)).outcome == sr::ApplyOutcome::BeforeSendTime);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), status_of(a));
        // Dated after the send time but arriving before it (a forged date): ignored too.
        CPPUNIT_ASSERT(apply(report("B1", "Dispatched", number, sr::now_utc() + 25h)).outcome ==
                       sr::ApplyOutcome::BeforeSendTime);
        // Queued before the send time is normal.
        CPPUNIT_ASSERT(apply(report("B1", "Queued", number)).outcome == sr::ApplyOutcome::Applied);
        sql("UPDATE reminders SET send_at = now() + interval '30 seconds'");  // within the 60 s tolerance
        // Without the number: recorded, not sent.
        CPPUNIT_ASSERT(apply(report("B1", "Dispatched", "")).outcome == sr::ApplyOutcome::Applied);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), status_of(a));
        CPPUNIT_ASSERT(apply(report("B1", "Delivered", "4915112345678")).outcome ==
                       sr::ApplyOutcome::RecipientMismatch);
        // The number's own report, even one ranking no higher than what a summary recorded, marks it sent.
        CPPUNIT_ASSERT(apply(report("B1", "Dispatched", number)).outcome == sr::ApplyOutcome::Applied);
        CPPUNIT_ASSERT_EQUAL(std::string("sent"), status_of(a));
    }

    void testAReplayedNonceChangesNothing() {
        const auto a = book(sr::now_utc() + 30h);
        scheduled(a, "B2", "-1 minute");
        const std::string number = a.phone_e164.substr(1);
        CPPUNIT_ASSERT(apply(report("B2", "Queued", number), "n-1").outcome == sr::ApplyOutcome::Applied);
        CPPUNIT_ASSERT(apply(report("B2", "Delivered", number), "n-1").outcome == sr::ApplyOutcome::Replayed);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), status_of(a));
        // A report for an unknown batch spends its nonce too.
        CPPUNIT_ASSERT(apply(report("NOPE", "Delivered", number), "n-2").outcome ==
                       sr::ApplyOutcome::UnknownBatch);
        CPPUNIT_ASSERT(apply(report("NOPE", "Delivered", number), "n-2").outcome ==
                       sr::ApplyOutcome::Replayed);
        sql("UPDATE callback_nonces SET expires_at = now() - interval '1 second' WHERE nonce = 'n-1'");
        sr::PgLease lease = m_pool->acquire();
        CPPUNIT_ASSERT_EQUAL(1LL, sr::forget_expired_callback_nonces(lease));
        CPPUNIT_ASSERT_EQUAL(std::string("1"), scalar("SELECT count(*) FROM callback_nonces"));
    }

    void testAdoptionOfAnUnstoredBatch() {
        const auto a = book(sr::now_utc() + 30h);
        const std::string number = a.phone_e164.substr(1);
        const std::string reference = "sr-" + a.id + "-r1";
        sql("UPDATE reminders SET status = 'scheduling', lease_owner = 'other:1', lease_until = now() + "
            "interval "
            "'1 minute', send_at = now() - interval '1 minute' WHERE appointment_id = '" +
            a.id + "'");
        auto r = report("B3", "Delivered", number);
        r.client_reference = reference;
        CPPUNIT_ASSERT(apply(r, "n-3").outcome == sr::ApplyOutcome::Busy);
        CPPUNIT_ASSERT_EQUAL(std::string(""), scalar("SELECT batch_id FROM reminders"));
        CPPUNIT_ASSERT_EQUAL(std::string("0"),
                             scalar("SELECT count(*) FROM callback_nonces"));  // Sinch may retry it
        sql("UPDATE reminders SET status = 'unknown', lease_owner = NULL, lease_until = NULL");
        // Without the number a report cannot attach a batch.
        auto anonymous = r;
        anonymous.recipient.clear();
        CPPUNIT_ASSERT(apply(anonymous).outcome == sr::ApplyOutcome::UnknownBatch);
        const auto adopted = apply(r, "n-3");
        CPPUNIT_ASSERT(adopted.outcome == sr::ApplyOutcome::Applied);
        CPPUNIT_ASSERT(adopted.adopted);
        CPPUNIT_ASSERT_EQUAL(std::string("sent"), adopted.reminder_status);
        CPPUNIT_ASSERT_EQUAL(std::string("B3"), scalar("SELECT batch_id FROM reminders"));
        CPPUNIT_ASSERT_EQUAL(std::string("1"),
                             scalar("SELECT count(*) FROM audit_log WHERE action = 'adopt_batch'"));
        // A second batch for the same revision does not replace it.
        auto second = report("B4", "Delivered", number);
        second.client_reference = reference;
        const auto other = apply(second);
        CPPUNIT_ASSERT(other.outcome == sr::ApplyOutcome::OtherBatch);
        CPPUNIT_ASSERT_EQUAL(std::string("B3"), other.other_batch_id);
        // A cancelled reminder whose batch turns out to be live is cancelled at Sinch by the dispatcher.
        const auto b = book(sr::now_utc() + 30h);
        sql("UPDATE reminders SET status = 'cancelled' WHERE appointment_id = '" + b.id + "'");
        auto queued = report("B5", "Queued", b.phone_e164.substr(1));
        queued.client_reference = "sr-" + b.id + "-r1";
        CPPUNIT_ASSERT(apply(queued).adopted);
        CPPUNIT_ASSERT_EQUAL(std::string("cancelling"), status_of(b));
    }

    void testBookingSlotsPerUserPerHour() {
        sr::PgLease lease = m_pool->acquire();
        for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT(!sr::take_booking_slot(lease, "frontdesk", 3));
        const auto wait = sr::take_booking_slot(lease, "frontdesk", 3);
        CPPUNIT_ASSERT(wait);
        CPPUNIT_ASSERT(*wait > 3500s && *wait <= 3600s);
        CPPUNIT_ASSERT(!sr::take_booking_slot(lease, "someone-else", 3));
        CPPUNIT_ASSERT(!sr::take_booking_slot(lease, "frontdesk", 0));  // 0: no limit
        // Bookings of 50 minutes ago leave the hour in about 10 minutes.
        sql("UPDATE booking_counts SET minute = minute - interval '50 minutes' WHERE actor = 'frontdesk'");
        CPPUNIT_ASSERT(!sr::take_booking_slot(lease, "frontdesk", 4));
        const auto later = sr::take_booking_slot(lease, "frontdesk", 4);
        CPPUNIT_ASSERT(later && *later > 500s && *later <= 600s);
    }

    void testPurgeAnonymisesOnlyWhatIsOldEnough() {
        const auto old_one = book(sr::now_utc() + 30h);
        const auto recent = book(sr::now_utc() + 30h);
        sql("UPDATE appointments SET starts_at = now() - interval '200 days' WHERE id = '" + old_one.id +
            "'");
        sql("UPDATE appointments SET starts_at = now() - interval '100 days' WHERE id = '" + recent.id + "'");
        sql("INSERT INTO audit_log (action, actor, remote_addr, details, at) VALUES"
            " ('list', 'frontdesk', '198.51.100.7', '{\"q\": \"Ada\"}', now() - interval '200 days'),"
            " ('list', 'frontdesk', '198.51.100.7', '{\"q\": \"Ada\"}', now())");
        const auto dry = sr::purge_patient_data(*m_pool, 180 * 24h, true);
        CPPUNIT_ASSERT_EQUAL(1LL, dry.appointments);
        CPPUNIT_ASSERT_EQUAL(std::string("Ada Lovelace"),
                             scalar("SELECT patient_name FROM appointments WHERE id = '" + old_one.id + "'"));
        const auto done = sr::purge_patient_data(*m_pool, 180 * 24h, false, 1);
        CPPUNIT_ASSERT_EQUAL(1LL, done.appointments);
        CPPUNIT_ASSERT_EQUAL(1LL, done.reminders);
        CPPUNIT_ASSERT(done.transactions >= 2);
        CPPUNIT_ASSERT_EQUAL(
            std::string("(removed)||"),
            scalar("SELECT patient_name || '|' || phone_e164 || '|' || coalesce(created_from, '')"
                   " FROM appointments WHERE id = '" +
                   old_one.id + "'"));
        CPPUNIT_ASSERT_EQUAL(std::string(""), scalar("SELECT body FROM reminders WHERE appointment_id = '" +
                                                     old_one.id + "'"));
        CPPUNIT_ASSERT_EQUAL(std::string("0"),
                             scalar("SELECT count(*) FROM audit_log WHERE appointment_id = '" + old_one.id +
                                    "' AND (details <> '{}' OR remote_addr IS NOT NULL)"));
        CPPUNIT_ASSERT_EQUAL(std::string("1"),
                             scalar("SELECT count(*) FROM audit_log WHERE appointment_id IS NULL"
                                    " AND details <> '{}'"));  // only the recent list read
        CPPUNIT_ASSERT_EQUAL(std::string("Ada Lovelace"),
                             scalar("SELECT patient_name FROM appointments WHERE id = '" + recent.id + "'"));
        CPPUNIT_ASSERT_EQUAL(std::string("2"), scalar("SELECT count(*) FROM appointments"));
        // Daily: the first caller runs it, the next one the same day does not.
        CPPUNIT_ASSERT(sr::purge_patient_data_if_due(*m_pool, 90 * 24h, m_logger));
        CPPUNIT_ASSERT(!sr::purge_patient_data_if_due(*m_pool, 90 * 24h, m_logger));
        CPPUNIT_ASSERT_EQUAL(std::string("(removed)"),
                             scalar("SELECT patient_name FROM appointments WHERE id = '" + recent.id + "'"));
    }
};
CPPUNIT_TEST_SUITE_REGISTRATION(SecurityPrivacyTest);
