// sr-bench-store: the booking's own database work at full speed, without httpd or Sinch.
//
// THREADS threads each book appointments the way the booking request does: AppointmentStore::create
// (appointment, claimed reminder and audit row in one statement) and then ReminderQueue::scheduled
// (the batch id Sinch returned), each on a pooled connection. It shows the ceiling that the module's own
// SQL puts on the POST flow on this machine, next to pgbench's single-row INSERT rate.
//
//   sr-bench-store CONNINFO THREADS SECONDS   -> one JSON line: {"bookings":N,"seconds":S,"threads":T}
// The database must be migrated (sql/). The rows it writes stay there.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "core/logger.hpp"
#include "core/pg_pool.hpp"
#include "core/reminder_queue.hpp"
#include "core/store.hpp"

namespace {

// Unique per run, so runs can share a database (submission keys and batch ids are unique columns).
const std::string k_run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());

sr::NewAppointment booking(long long n) {
    using namespace std::chrono_literals;
    sr::NewAppointment a;
    a.patient_name = "Bench Patient " + std::to_string(n);
    a.doctor_name = "Dr. Grace Hopper";
    a.phone_e164 = "+1650" + std::to_string(2000000 + n % 7999999);
    a.starts_at = sr::now_utc() + 72h;
    a.time_zone = "America/New_York";
    a.local_wall_time = "2030-01-01T10:30";
    a.submission_key = "bench-store-" + k_run + "-" + std::to_string(n);
    a.created_by = "anonymous";
    a.created_from = "127.0.0.1";
    a.reminder_send_at = a.starts_at - 2h;
    a.reminder_body =
        "Riverside Clinic reminder: appointment with Dr. Grace Hopper on Tue, Dec 1 at 2:30 PM EST.";
    return a;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: sr-bench-store CONNINFO THREADS SECONDS\n");
        return 2;
    }
    const std::string conninfo = argv[1];
    const int threads = std::atoi(argv[2]);
    const int seconds = std::atoi(argv[3]);
    if (threads < 1 || seconds < 1) {
        std::fprintf(stderr, "sr-bench-store: THREADS and SECONDS must be positive\n");
        return 2;
    }
    sr::NullLogger logger;
    sr::PgPoolConfig config;
    config.conninfo = conninfo;
    config.max_connections = static_cast<std::size_t>(threads);
    config.keep_idle = config.max_connections;
    sr::PgPool pool(config, logger);
    const sr::ReminderClaim claim{"bench:1", std::chrono::seconds(45), std::chrono::hours(7 * 24)};

    std::atomic<long long> next{0}, done{0}, failures{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            sr::ReminderQueue queue(pool, claim.owner);
            while (!stop.load(std::memory_order_relaxed)) {
                try {
                    const long long n = next++;
                    const sr::CreateResult created = [&] {
                        sr::PgLease lease = pool.acquire();
                        return sr::AppointmentStore(lease).create(booking(n), claim);
                    }();
                    const sr::ReminderRecord* reminder = created.appointment.current_reminder();
                    if (!created.created || !reminder ||
                        reminder->status != sr::reminder_status::scheduling ||
                        !queue.scheduled(reminder->id, "bench-" + k_run + "-" + std::to_string(n))) {
                        ++failures;
                        continue;
                    }
                    ++done;
                } catch (const std::exception& e) {
                    if (failures++ < 3) std::fprintf(stderr, "sr-bench-store: %s\n", e.what());
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                }
            }
        });
    }
    const auto started = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    const long long counted = done.load();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    stop = true;
    for (std::thread& worker : workers) worker.join();
    std::printf("{\"bookings\":%lld,\"seconds\":%.3f,\"threads\":%d,\"failures\":%lld}\n", counted, elapsed,
                threads, failures.load());
    return failures.load() == 0 ? 0 : 1;
}
