// Every statement of the request paths, the dispatcher, the reconciler, delivery reports, tz-recheck and the
// retention purge, planned over enough rows for the planner to care, uses an index that fits it: no sequential
// scan of appointments or reminders (issue 17).
//
// How: 150 000 past appointments with their reminders and audit rows (bench/load_history.sql, the scale
// benchmark's loader), a few thousand future ones and some open work, ANALYZE; then the module's own code
// runs each operation on pooled connections that have auto_explain loaded (session_preload_libraries,
// superuser conninfo of the test server) with log_level NOTICE, so the plan of every statement it executes,
// with the parameters it really sends, arrives here as a notice. The statements are never copied into the
// test: what runs is what ships. The dispatcher's and the booking's prepared statements are executed more
// than five times, and once more under plan_cache_mode = force_generic_plan, so their generic plans are
// checked too.
#include <cppunit/extensions/HelperMacros.h>

#include <pqxx/pqxx>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

#include "component/pg_test_db.hpp"
#include "component/sinch_fake_control.hpp"
#include "core/appointment_changes.hpp"
#include "core/appointment_query.hpp"
#include "core/curl_transport.hpp"
#include "core/delivery_reports.hpp"
#include "core/dispatcher.hpp"
#include "core/reconciler.hpp"
#include "core/retention.hpp"
#include "core/sinch_client.hpp"
#include "core/store.hpp"
#include "core/tz_recheck.hpp"

using namespace std::chrono_literals;
using sr::test::CapturingLogger;
using sr::test::FakeControl;
using sr::test::TestDatabase;

namespace {

constexpr long k_history_rows = 150000;

// Every plan auto_explain sends on the connections it is attached to.
class PlanCapture {
  public:
    class Handler final : public pqxx::errorhandler {
      public:
        Handler(pqxx::connection_base& connection, PlanCapture& capture)
            : pqxx::errorhandler(connection), m_capture(capture) {}
        bool operator()(const char message[]) noexcept override {
            try {
                m_capture.add(message);
            } catch (...) {
            }
            return true;
        }

      private:
        PlanCapture& m_capture;
    };

    void attach(pqxx::connection_base& connection) {
        m_handlers.push_back(std::make_unique<Handler>(connection, *this));
    }
    void detach_all() { m_handlers.clear(); }

    void add(const std::string& message) {
        if (message.find("Query Text:") == std::string::npos) return;
        std::lock_guard<std::mutex> lock(m_mutex);
        m_plans.push_back(message);
    }
    std::vector<std::string> plans() const {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_plans;
    }
    void clear() {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_plans.clear();
    }

  private:
    mutable std::mutex m_mutex;
    std::vector<std::string> m_plans;
    std::vector<std::unique_ptr<Handler>> m_handlers;
};

std::string query_text(const std::string& plan) {
    const std::size_t at = plan.find("Query Text:");
    const std::size_t end = plan.find('\n', at);
    return plan.substr(at + 11, end == std::string::npos ? std::string::npos : end - at - 11);
}

bool scans_a_big_table(const std::string& plan) {
    static const std::regex seq_scan(R"(Seq Scan on (appointments|reminders)\b)");
    return std::regex_search(plan, seq_scan);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

class QueryPlansTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(QueryPlansTest);
    CPPUNIT_TEST(testNoStatementScansAppointmentsOrReminders);
    CPPUNIT_TEST_SUITE_END();

  public:
    void setUp() override {
        m_db = std::make_unique<TestDatabase>();
        load();
        m_fake.reset();
        m_transport = std::make_unique<sr::CurlTransport>();
        auto sinch_config = m_fake.service_plan_config();
        sinch_config.total_timeout_ms = 3000;
        m_sinch = std::make_unique<sr::SinchClient>(sinch_config, *m_transport, m_logger);

        sr::PgPoolConfig config;
        config.conninfo =
            m_db->conninfo() +
            " options='-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0"
            " -c auto_explain.log_level=notice -c auto_explain.log_nested_statements=on'";
        config.max_connections = k_connections;
        config.keep_idle = k_connections;
        m_pool = std::make_unique<sr::PgPool>(config, m_logger);
        // Every connection the pool will hand out, opened now and listened to.
        std::vector<sr::PgLease> leases;
        for (std::size_t i = 0; i < k_connections; ++i) {
            leases.push_back(m_pool->acquire());
            m_capture.attach(leases.back().connection());
        }
    }

    void tearDown() override {
        m_capture.detach_all();
        m_sinch.reset();
        m_pool.reset();
        m_db.reset();
    }

    void testNoStatementScansAppointmentsOrReminders() {
        // The detector itself: a lookup by id::text (what cancel did before) is a table scan, and is caught.
        {
            sr::PgLease lease = m_pool->acquire();
            pqxx::read_transaction txn(lease.connection());
            txn.exec_params("SELECT status FROM appointments WHERE id::text = $1", std::string("x"));
        }
        const std::vector<std::string> control = m_capture.plans();
        CPPUNIT_ASSERT_EQUAL_MESSAGE("auto_explain sends one plan per statement", std::size_t(1),
                                     control.size());
        CPPUNIT_ASSERT_MESSAGE(control[0], scans_a_big_table(control[0]));
        m_capture.clear();

        run_every_operation();
        {  // The prepared statements once more, with the plan PostgreSQL would cache for them.
            std::vector<sr::PgLease> leases;
            for (std::size_t i = 0; i < k_connections; ++i) leases.push_back(m_pool->acquire());
            for (sr::PgLease& lease : leases)
                pqxx::nontransaction(lease.connection()).exec("SET plan_cache_mode = force_generic_plan");
        }
        run_prepared_paths();

        const std::vector<std::string> plans = m_capture.plans();
        if (const char* dump = std::getenv("SR_PLANS_DUMP")) {  // every plan, for reading them (not needed)
            std::ofstream out(dump);
            for (const std::string& plan : plans) out << plan << "\n----\n";
        }
        std::set<std::string> texts;
        std::string failures;
        for (const std::string& plan : plans) {
            texts.insert(query_text(plan));
            if (!scans_a_big_table(plan)) continue;
            failures += "\n----\n" + plan;
        }
        // Each path really ran and was seen (so the test cannot pass by capturing nothing).
        const char* const expected[] = {
            "INSERT INTO appointments",              // the booking
            "SKIP LOCKED",                           // the dispatcher's and the reconciler's claims
            "UPDATE reminders",                      // marking reminders
            "tsquery",                               // name search (the words of the name)
            "reverse(a.phone_e164) LIKE",            // phone search, last digits
            "reverse(a.phone_e164) =",               // phone search, whole number
            "(a.starts_at, a.id) >",                 // next page
            "(a.starts_at, a.id) <",                 // previous page
            "clinic = ANY($2::text[])) FOR UPDATE",  // cancel and reschedule lock the appointment
            "r.batch_id = $1",                       // delivery reports
            "a.starts_at > now()",                   // tz-recheck
            "FROM audit_log WHERE appointment_id",   // the audit trail
            "purged_at IS NULL AND starts_at >=",    // the retention purge
        };
        for (const char* fragment : expected) {
            bool seen = false;
            for (const std::string& text : texts) seen = seen || text.find(fragment) != std::string::npos;
            CPPUNIT_ASSERT_MESSAGE(std::string("no statement with '") + fragment + "' was planned", seen);
        }
        CPPUNIT_ASSERT_MESSAGE("only " + std::to_string(texts.size()) + " distinct statements seen",
                               texts.size() >= 30);
        CPPUNIT_ASSERT_MESSAGE("sequential scans of appointments or reminders:" + failures, failures.empty());
    }

  private:
    static constexpr std::size_t k_connections = 6;

    void sql(const std::string& statement) {
        pqxx::connection c(m_db->conninfo());
        pqxx::nontransaction txn(c);
        txn.exec(statement);
    }

    std::string value(const std::string& query) {
        pqxx::connection c(m_db->conninfo());
        pqxx::nontransaction txn(c);
        return txn.exec1(query)[0].as<std::string>();
    }

    void load() {
        sql("SET sr.load_from = 0; SET sr.load_to = " + std::to_string(k_history_rows) +
            "; SET sr.load_total = " + std::to_string(k_history_rows) + ";\n" +
            read_file(sr::test::required_env("SR_SOURCE_DIR") + "/bench/load_history.sql"));
        // What the future and the open work look like: 6 000 appointments over the next 60 days (reminders
        // handed over inside the 7-day horizon, pending beyond it), work due now for the dispatcher, a few
        // problems, and unsettled batches for reconciliation.
        sql(R"(
            INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time,
                                      created_by)
            SELECT 'Future Patient ' || n, 'Dr. Future', '+1650' || (2000000 + n)::text,
                   now() + n * interval '14 minutes' + interval '3 hours', 'America/New_York',
                   '2030-01-01T10:00', 'plans-test'
            FROM generate_series(1, 6000) AS n;
            INSERT INTO reminders (appointment_id, revision, send_at, time_zone, status, batch_id, body)
            SELECT id, 1, starts_at - interval '2 hours', time_zone,
                   CASE WHEN starts_at < now() + interval '7 days' THEN 'scheduled' ELSE 'pending' END,
                   CASE WHEN starts_at < now() + interval '7 days' THEN 'fut-' || id END, 'Reminder text.'
            FROM appointments WHERE created_by = 'plans-test';
            WITH due AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM reminders
                         WHERE status = 'scheduled' ORDER BY id LIMIT 60)
            UPDATE reminders r SET
                status = CASE WHEN k <= 20 THEN 'pending' WHEN k <= 35 THEN 'retrying' WHEN k <= 40 THEN 'unknown'
                              WHEN k <= 50 THEN 'cancelling' ELSE 'cancel_failed' END,
                batch_id = CASE WHEN k > 40 THEN r.batch_id END,
                next_attempt_at = CASE WHEN k > 20 THEN now() - interval '1 minute' END
            FROM due WHERE r.id = due.id;
            UPDATE reminders SET status = 'failed', last_error_code = 'refused' WHERE id IN (SELECT id FROM reminders
                WHERE batch_id LIKE 'hist%' AND id % 5000 = 7);
            UPDATE reminders SET attention = 'checked by hand' WHERE id IN (SELECT id FROM reminders
                WHERE batch_id LIKE 'hist%' AND id % 7000 = 11);
            UPDATE reminders SET reconcile_done = false WHERE id IN (SELECT id FROM reminders
                WHERE batch_id LIKE 'hist%' ORDER BY send_at DESC LIMIT 300);
        )");
        sql("VACUUM ANALYZE");
    }

    sr::NewAppointment new_booking(int n) {
        sr::NewAppointment a;
        a.patient_name = "Grace Booking";
        a.doctor_name = "Dr. Hopper";
        a.phone_e164 = "+1212555" + std::to_string(1000 + n);
        a.starts_at = sr::now_utc() + 26h + std::chrono::minutes(n);
        a.time_zone = "America/New_York";
        a.local_wall_time = "2030-01-01T10:00";
        a.submission_key = "plans-" + std::to_string(n);
        a.reminder_send_at = a.starts_at - 2h;
        a.reminder_body = "Reminder text.";
        return a;
    }

    sr::DispatchSettings dispatch_settings() {
        sr::DispatchSettings s;
        s.batches_per_second = 1000;
        s.owner = "plans-test:1";
        return s;
    }

    // The booking request: store claimed, hand over (prepared statements, so 7 times), and a double submit.
    void run_prepared_paths() {
        sr::Dispatcher dispatcher(*m_pool, *m_sinch, m_logger, dispatch_settings());
        for (int i = 0; i < 7; ++i) {
            const int n = m_bookings++;
            sr::CreateResult created = [&] {
                sr::PgLease lease = m_pool->acquire();
                return sr::AppointmentStore(lease).create(new_booking(n), dispatcher.booking_claim());
            }();
            CPPUNIT_ASSERT(created.created);
            dispatcher.hand_over_booked(created.appointment, "Reminder text.");
            dispatcher.run_once();
        }
    }

    void run_every_operation() {
        run_prepared_paths();
        {
            sr::PgLease lease = m_pool->acquire();
            CPPUNIT_ASSERT(
                !sr::AppointmentStore(lease).create(new_booking(0)).created);  // replayed submission
        }

        const std::string past_id = value(
            "SELECT id::text FROM appointments WHERE created_by = 'history'"
            " AND status = 'active' ORDER BY starts_at DESC OFFSET 5000 LIMIT 1");
        const std::string family =
            value("SELECT split_part(patient_name, ' ', 2) FROM appointments WHERE id = '" + past_id + "'");
        const std::string phone = value("SELECT phone_e164 FROM appointments WHERE id = '" + past_id + "'");
        const sr::Instant now = sr::now_utc();
        sr::ClinicZone zone = sr::ClinicZone::load("America/New_York");

        // Show (page and API) and the audit trail.
        {
            sr::PgLease lease = m_pool->acquire();
            CPPUNIT_ASSERT(sr::AppointmentStore(lease).find(past_id).has_value());
            CPPUNIT_ASSERT(!sr::audit_trail(lease, past_id).empty());
        }

        // The lists, as the page and the API parse them.
        auto list = [&](sr::ListQuery query, bool page) {
            const sr::ParsedListQuery parsed = sr::parse_list_query(query, zone, "US", now, page, 50);
            CPPUNIT_ASSERT_MESSAGE(query.q + query.status, parsed.ok());
            sr::PgLease lease = m_pool->acquire();
            return sr::list_appointments(lease, parsed.filter);
        };
        sr::ListQuery day;
        day.from = day.to = zone.format_local_iso(now - 100 * 24h).substr(0, 10);
        const sr::ListPage day_page = list(day, true);
        CPPUNIT_ASSERT(day_page.has_more);
        sr::ListQuery next = day;
        next.after = day_page.last_cursor;
        const sr::ListPage second = list(next, true);
        sr::ListQuery previous = day;
        previous.before = second.first_cursor;
        CPPUNIT_ASSERT_EQUAL(day_page.appointments.front().id, list(previous, true).appointments.front().id);
        list(sr::ListQuery{}, true);   // the page: from today on
        list(sr::ListQuery{}, false);  // the API: everything
        sr::ListQuery offset;
        offset.offset = "50";
        list(offset, false);
        sr::ListQuery by_name;
        by_name.q = family;
        CPPUNIT_ASSERT(!list(by_name, false).appointments.empty());
        sr::ListQuery by_phone;
        by_phone.q = phone;
        CPPUNIT_ASSERT(!list(by_phone, false).appointments.empty());
        sr::ListQuery by_digits;
        by_digits.q = phone.substr(phone.size() - 5);
        CPPUNIT_ASSERT(!list(by_digits, false).appointments.empty());
        for (const auto& [status, label] : sr::status_filter_options()) {
            sr::ListQuery filtered;
            filtered.status = status;
            list(filtered, true);  // the page, from today on
        }
        for (const char* status : {"problem", "failed", "retrying", "unknown", "too_late", "cancel_failed",
                                   "attention", "not_delivered", "pending", "cancelling"}) {
            sr::ListQuery filtered;  // the API, over every date
            filtered.status = status;
            list(filtered, false);
        }

        // Cancel and reschedule: a past appointment, and future ones with batches at Sinch.
        sr::Dispatcher dispatcher(*m_pool, *m_sinch, m_logger, dispatch_settings());
        const sr::Actor actor{"plans", "127.0.0.1"};
        {
            sr::PgLease lease = m_pool->acquire();
            CPPUNIT_ASSERT(sr::cancel_appointment(lease, past_id, actor).outcome == sr::ChangeOutcome::Done);
            CPPUNIT_ASSERT(sr::cancel_appointment(lease, "not-a-uuid", actor).outcome ==
                           sr::ChangeOutcome::NotFound);
        }
        const std::string booked = [&] {
            sr::PgLease lease = m_pool->acquire();
            sr::CreateResult created =
                sr::AppointmentStore(lease).create(new_booking(m_bookings++), dispatcher.booking_claim());
            lease.release();
            dispatcher.hand_over_booked(created.appointment, "Reminder text.");
            return created.appointment.id;
        }();
        {
            sr::NewTime moved;
            moved.starts_at = now + 30h;
            moved.local_wall_time = "2030-01-01T11:00";
            moved.reminder_send_at = now + 28h;
            moved.reminder_body = "Moved.";
            sr::PgLease lease = m_pool->acquire();
            const sr::ChangeResult change = sr::reschedule_appointment(lease, booked, moved, actor);
            lease.release();
            CPPUNIT_ASSERT(change.outcome == sr::ChangeOutcome::Done);
            for (const std::int64_t r : change.reminders_to_cancel) dispatcher.cancel_now(r);
            for (const std::int64_t r : change.reminders_to_schedule) dispatcher.hand_over_now(r);
        }
        {
            sr::PgLease lease = m_pool->acquire();
            const sr::ChangeResult change = sr::cancel_appointment(lease, booked, actor);
            lease.release();
            CPPUNIT_ASSERT(change.outcome == sr::ChangeOutcome::Done);
            for (const std::int64_t r : change.reminders_to_cancel) dispatcher.cancel_now(r);
        }

        // Background work: dispatcher passes, reconciliation, a delivery report, tz-recheck, the purge.
        for (int i = 0; i < 3; ++i) dispatcher.run_once();
        sr::reconcile(*m_pool, *m_sinch, m_logger);
        {
            sr::DeliveryReport report;
            report.kind = sr::CallbackKind::BatchReport;
            report.type = "delivery_report_sms";
            report.batch_id = value("SELECT batch_id FROM reminders WHERE status = 'scheduled' LIMIT 1");
            report.status = "Dispatched";
            sr::PgLease lease = m_pool->acquire();
            // Found by its batch id (what this test needs: the lookup's plan); a summary report for a reminder
            // due later changes nothing (only a recipient report after send_at marks it sent).
            CPPUNIT_ASSERT(sr::apply_delivery_report(lease, report, now, "127.0.0.1").outcome !=
                           sr::ApplyOutcome::UnknownBatch);
        }
        const sr::ReminderText text = [](const std::string&, const std::optional<std::string>&,
                                         const std::string&, sr::Instant,
                                         const sr::ClinicZone&) { return std::string("Reminder text."); };
        CPPUNIT_ASSERT(sr::recheck_time_zones(*m_pool, text, true).checked > 1000);

        // The retention purge of the oldest history (the loader spreads it over the 1 080 days before
        // yesterday: 1 000 days' retention reaches about the oldest 7 %), in its usual small transactions.
        CPPUNIT_ASSERT(sr::purge_patient_data(*m_pool, std::chrono::hours(24 * 1000), false).appointments >
                       1000);
    }

    CapturingLogger m_logger;
    FakeControl m_fake;
    PlanCapture m_capture;
    std::unique_ptr<TestDatabase> m_db;
    std::unique_ptr<sr::PgPool> m_pool;
    std::unique_ptr<sr::CurlTransport> m_transport;
    std::unique_ptr<sr::SinchClient> m_sinch;
    int m_bookings = 0;
};

CPPUNIT_TEST_SUITE_REGISTRATION(QueryPlansTest);
