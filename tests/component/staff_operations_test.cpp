// Staff operations against a real PostgreSQL and the Sinch fake: the list query, delivery reports
// applied to reminders (idempotent, ranked, flagged), and reconciliation fixing or flagging drift.
#include <cppunit/extensions/HelperMacros.h>

#include <pqxx/pqxx>

#include "core/appointment_changes.hpp"
#include "core/appointment_query.hpp"
#include "core/delivery_reports.hpp"
#include "core/dispatcher.hpp"
#include "core/reconciler.hpp"
#include "core/store.hpp"
#include "pg_test_db.hpp"
#include "store_and_sinch_fixture.hpp"
#include "sinch_fake_control.hpp"

using namespace std::chrono_literals;
using sr::test::CapturingLogger;
using sr::test::FakeControl;
using sr::test::JsonPtr;
using sr::test::TestDatabase;

class StaffOperationsComponentTest : public sr::test::StoreAndSinchFixture {
    CPPUNIT_TEST_SUITE(StaffOperationsComponentTest);
    CPPUNIT_TEST(testFindManyKeepsTheOrderAndSkipsUnknownIds);
    CPPUNIT_TEST(testListFiltersOrdersAndPages);
    CPPUNIT_TEST(testDeliveryReportsAreIdempotentAndRanked);
    CPPUNIT_TEST(testUnknownBatchAndOtherRecipientChangeNothing);
    CPPUNIT_TEST(testDeliveryOfACancelledReminderIsFlagged);
    CPPUNIT_TEST(testReconcileCancelsTheLiveBatchOfACancelledReminder);
    CPPUNIT_TEST(testReconcileFlagsABatchCancelledAtSinchOnce);
    CPPUNIT_TEST(testReconcileRetriesWhenSinchCannotBeAsked);
    CPPUNIT_TEST_SUITE_END();

    int m_counter = 0;

    sr::Dispatcher dispatcher() {
        sr::DispatchSettings s;
        s.owner = "node-a:1";
        s.batches_per_second = 1000;
        return sr::Dispatcher(*m_pool, *m_sinch, m_logger, s);
    }

    sr::AppointmentRecord book(sr::Instant starts_at, const std::string& name = "Ada Lovelace") {
        sr::NewAppointment a;
        a.patient_name = name;
        a.doctor_name = "Dr. Grace Hopper";
        a.phone_e164 = "+12125550" + std::to_string(100 + m_counter);
        a.starts_at = starts_at;
        a.time_zone = "America/New_York";
        a.local_wall_time = "2026-12-01T14:30";
        a.submission_key = "key-" + std::to_string(m_counter++);
        a.reminder_send_at = starts_at - 2h;
        a.reminder_body = "Riverside Clinic reminder. Reply STOP to opt out.";
        a.reminder_delivery_report = "per_recipient_final";
        a.reminder_callback_url = "https://clinic.example.org/appointment/callbacks/sinch/t";
        sr::PgLease lease = m_pool->acquire();
        return sr::AppointmentStore(lease).create(a).appointment;
    }

    // Booked and handed to Sinch; returns the appointment as stored afterwards.
    sr::AppointmentRecord book_scheduled() {
        const auto booked = book(sr::now_utc() + 26h);
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), dispatcher().hand_over_now(booked.reminders.at(0).id));
        return find(booked.id);
    }

    sr::AppointmentRecord find(const std::string& id) {
        sr::PgLease lease = m_pool->acquire();
        return *sr::AppointmentStore(lease).find(id);
    }

    void sql(const std::string& statement) {
        pqxx::connection c(m_db->conninfo());
        pqxx::work txn(c);
        txn.exec(statement);
        txn.commit();
    }

    long long count(const std::string& query) {
        pqxx::connection c(m_db->conninfo());
        pqxx::nontransaction txn(c);
        return txn.exec(query)[0][0].as<long long>();
    }

    sr::DeliveryReport report(const std::string& batch_id, const std::string& status, sr::Instant at,
                              const std::string& recipient = "") {
        sr::DeliveryReport r;
        r.kind = sr::CallbackKind::RecipientReport;
        r.batch_id = batch_id;
        r.status = status;
        r.code = status == "Delivered" ? 0 : 400;
        r.at = at;
        r.recipient = recipient;
        return r;
    }

    sr::ApplyResult apply(const sr::DeliveryReport& r) {
        sr::PgLease lease = m_pool->acquire();
        return sr::apply_delivery_report(lease, r, sr::now_utc(), "203.0.113.9");
    }

    bool batch_canceled(const std::string& batch_id) {
        const JsonPtr batch = m_fake.control_json("GET", "/_fake/batches/" + batch_id);
        return json_is_true(json_object_get(batch.get(), "canceled"));
    }

    sr::ReconcileReport reconcile() { return sr::reconcile(*m_pool, *m_sinch, m_logger); }

  public:
    void testFindManyKeepsTheOrderAndSkipsUnknownIds() {
        const auto a = book(sr::now_utc() + 30h);
        const auto b = book(sr::now_utc() + 20h);
        sr::PgLease lease = m_pool->acquire();
        const auto found =
            sr::AppointmentStore(lease).find_many({b.id, "00000000-0000-0000-0000-000000000000", "junk", a.id});
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), found.size());
        CPPUNIT_ASSERT_EQUAL(b.id, found[0].id);
        CPPUNIT_ASSERT_EQUAL(a.id, found[1].id);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), found[1].reminders.size());
        CPPUNIT_ASSERT_EQUAL(std::string("per_recipient_final"), found[1].reminders[0].delivery_report);
        CPPUNIT_ASSERT_EQUAL(std::string("https://clinic.example.org/appointment/callbacks/sinch/t"),
                             *found[1].reminders[0].callback_url);
        CPPUNIT_ASSERT(sr::AppointmentStore(lease).find_many({}).empty());
    }

    void testListFiltersOrdersAndPages() {
        const sr::Instant base = sr::now_utc() + 48h;
        const auto late = book(base + 3h, "Zed 100%");
        const auto early = book(base + 1h, "Ada Lovelace");
        const auto middle = book(base + 2h, "Bob Byte");
        {
            sr::PgLease lease = m_pool->acquire();
            sr::cancel_appointment(lease, middle.id, {"frontdesk", "127.0.0.1"});
        }
        auto ids = [&](const sr::ListFilter& filter) {
            sr::PgLease lease = m_pool->acquire();
            std::vector<std::string> out;
            for (const auto& a : sr::list_appointments(lease, filter).appointments) out.push_back(a.id);
            return out;
        };
        sr::ListFilter all;
        CPPUNIT_ASSERT((ids(all) == std::vector<std::string>{early.id, middle.id, late.id}));
        // A name is found by the beginnings of its words, in any case and order.
        sr::ListFilter name;
        name.name_words = "LOVE";
        CPPUNIT_ASSERT((ids(name) == std::vector<std::string>{early.id}));
        name.name_words = "lovelace ad";
        CPPUNIT_ASSERT((ids(name) == std::vector<std::string>{early.id}));
        name.name_words = "lace";  // inside a word: not a beginning
        CPPUNIT_ASSERT(ids(name).empty());
        name.name_words = "ada bob";  // every word must match
        CPPUNIT_ASSERT(ids(name).empty());
        name.name_words = "10";
        CPPUNIT_ASSERT((ids(name) == std::vector<std::string>{late.id}));
        name.name_words = "%";  // no word at all: nothing matches (not everything)
        CPPUNIT_ASSERT(ids(name).empty());
        name.name_words = "o'b\\ \"";  // quotes and backslashes end words, never become query syntax
        CPPUNIT_ASSERT(ids(name).empty());
        sr::ListFilter phone;
        phone.phone_digits = "5550101";
        CPPUNIT_ASSERT((ids(phone) == std::vector<std::string>{early.id}));
        sr::ListFilter cancelled;
        cancelled.status = "cancelled";
        CPPUNIT_ASSERT((ids(cancelled) == std::vector<std::string>{middle.id}));
        sr::ListFilter pending;
        pending.status = "pending";
        CPPUNIT_ASSERT((ids(pending) == std::vector<std::string>{early.id, late.id}));
        sr::ListFilter window;
        window.from = base + 90min;
        window.to = base + 3h;  // exclusive
        CPPUNIT_ASSERT((ids(window) == std::vector<std::string>{middle.id}));
        sr::ListFilter page;
        page.limit = 2;
        sr::PgLease lease = m_pool->acquire();
        CPPUNIT_ASSERT(sr::list_appointments(lease, page).has_more);
        page.offset = 2;
        const auto last = sr::list_appointments(lease, page);
        CPPUNIT_ASSERT(!last.has_more);
        CPPUNIT_ASSERT_EQUAL(late.id, last.appointments.at(0).id);
    }

    void testDeliveryReportsAreIdempotentAndRanked() {
        const auto a = book_scheduled();
        const std::string batch = *a.reminders[0].batch_id;
        sql("UPDATE reminders SET send_at = now() - interval '1 minute'");  // its send time has come
        const sr::Instant t0 = sr::now_utc();
        CPPUNIT_ASSERT(apply(report(batch, "Queued", t0)).outcome == sr::ApplyOutcome::Applied);
        const auto delivered = apply(report(batch, "Delivered", t0 + 20s, "12125550100"));
        CPPUNIT_ASSERT(delivered.outcome == sr::ApplyOutcome::Applied);
        CPPUNIT_ASSERT_EQUAL(std::string("sent"), delivered.reminder_status);
        CPPUNIT_ASSERT(apply(report(batch, "Dispatched", t0 + 10s)).outcome == sr::ApplyOutcome::Unchanged);
        CPPUNIT_ASSERT(apply(report(batch, "Delivered", t0 + 20s)).outcome == sr::ApplyOutcome::Unchanged);
        CPPUNIT_ASSERT(apply(report(batch, "Queued", t0 + 60s)).outcome == sr::ApplyOutcome::Unchanged);
        const auto r = find(a.id).reminders[0];
        CPPUNIT_ASSERT_EQUAL(std::string("Delivered"), *r.delivery_status);
        CPPUNIT_ASSERT(*r.delivery_at == t0 + 20s);
        CPPUNIT_ASSERT_EQUAL(std::string("sent"), r.status);
        CPPUNIT_ASSERT_EQUAL(2LL, count("SELECT count(*) FROM audit_log WHERE action = 'delivery_report'"
                                        " AND actor = 'sinch' AND remote_addr = '203.0.113.9'"));
    }

    void testUnknownBatchAndOtherRecipientChangeNothing() {
        const auto a = book_scheduled();
        CPPUNIT_ASSERT(apply(report("01NOSUCH", "Delivered", sr::now_utc())).outcome == sr::ApplyOutcome::UnknownBatch);
        CPPUNIT_ASSERT(apply(report(*a.reminders[0].batch_id, "Delivered", sr::now_utc(), "4915112345678")).outcome ==
                       sr::ApplyOutcome::RecipientMismatch);
        CPPUNIT_ASSERT(!find(a.id).reminders[0].delivery_status);
        sr::DeliveryReport ignored;
        CPPUNIT_ASSERT(apply(ignored).outcome == sr::ApplyOutcome::Ignored);
    }

    void testDeliveryOfACancelledReminderIsFlagged() {
        const auto a = book_scheduled();
        {
            sr::PgLease lease = m_pool->acquire();
            const auto change = sr::cancel_appointment(lease, a.id, {"frontdesk", ""});
            lease.release();
            CPPUNIT_ASSERT_EQUAL(std::string("cancelled"),
                                 dispatcher().cancel_now(change.reminders_to_cancel.at(0)));
        }
        sql("UPDATE reminders SET send_at = now() - interval '1 minute'");  // its send time has come
        const auto result =
            apply(report(*a.reminders[0].batch_id, "Delivered", sr::now_utc(), a.phone_e164.substr(1)));
        CPPUNIT_ASSERT(result.needs_attention);
        const auto r = find(a.id).reminders[0];
        CPPUNIT_ASSERT_EQUAL(std::string("sent"), r.status);
        CPPUNIT_ASSERT(r.attention && r.attention->find("although the appointment was cancelled") != std::string::npos);
        CPPUNIT_ASSERT(r.attention_at.has_value());
        CPPUNIT_ASSERT_EQUAL(1LL, count("SELECT count(*) FROM audit_log WHERE action = 'attention'"));
    }

    void testReconcileCancelsTheLiveBatchOfACancelledReminder() {
        const auto a = book_scheduled();
        const std::string batch = *a.reminders[0].batch_id;
        sql("UPDATE appointments SET status = 'cancelled'; UPDATE reminders SET status = 'cancelled'");
        const auto report = reconcile();
        CPPUNIT_ASSERT_EQUAL(1, report.checked);
        CPPUNIT_ASSERT_EQUAL(1, report.cancelled_at_sinch);
        CPPUNIT_ASSERT(batch_canceled(batch));
        CPPUNIT_ASSERT(m_logger.has_message_id("SR0602"));
        CPPUNIT_ASSERT_EQUAL(1LL, count("SELECT count(*) FROM audit_log WHERE action = 'reconcile'"
                                        " AND actor = 'reconciler'"));
        CPPUNIT_ASSERT_EQUAL(0, reconcile().checked);  // settled: never asked again
    }

    void testReconcileFlagsABatchCancelledAtSinchOnce() {
        const auto a = book_scheduled();
        CPPUNIT_ASSERT(m_sinch->cancel_batch(*a.reminders[0].batch_id).ok());  // e.g. in the dashboard
        const auto report = reconcile();
        CPPUNIT_ASSERT_EQUAL(1, report.flagged);
        const auto r = find(a.id).reminders[0];
        CPPUNIT_ASSERT_EQUAL(std::string("scheduled"), r.status);
        CPPUNIT_ASSERT(r.attention && r.attention->find("cancelled at Sinch outside this module") != std::string::npos);
        sql("UPDATE reminders SET reconciled_at = NULL, reconcile_done = false");
        CPPUNIT_ASSERT_EQUAL(0, reconcile().flagged);  // the same finding is not flagged twice
        CPPUNIT_ASSERT_EQUAL(1LL, count("SELECT count(*) FROM audit_log WHERE action = 'attention'"));
    }

    void testReconcileRetriesWhenSinchCannotBeAsked() {
        const auto a = book_scheduled();
        m_fake.add_fault(R"({"match":{"method":"GET","path_regex":"/batches/"},"status":503,"probability":1.0})");
        const auto report = reconcile();
        CPPUNIT_ASSERT_EQUAL(1, report.errors);
        CPPUNIT_ASSERT_EQUAL(0LL, count("SELECT count(*) FROM reminders WHERE reconciled_at IS NOT NULL"));
        m_fake.control("DELETE", "/_fake/faults");
        CPPUNIT_ASSERT_EQUAL(1, reconcile().checked);
        CPPUNIT_ASSERT(!find(a.id).reminders[0].attention);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StaffOperationsComponentTest);
