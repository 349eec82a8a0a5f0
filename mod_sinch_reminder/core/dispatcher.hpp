#pragma once
// Hands reminders to Sinch exactly once, whoever does it: the request that booked the appointment,
// or the background pass that runs in every httpd (mod_watchdog) and picks up everything else —
// reminders entering the horizon, retries after 5xx/429/timeouts, lookups after lost answers,
// cancels that did not reach Sinch, and leases of processes that died.
//
// Exactly once: each reminder revision has its own client_reference; it is claimed in PostgreSQL
// (with a lease) before any Sinch call; and a call whose outcome is unknown is followed by a lookup
// by client_reference, never by a blind resend.
#include <chrono>
#include <mutex>
#include <string>

#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/pg_pool.hpp"
#include "core/reminder_queue.hpp"
#include "core/sinch_client.hpp"
#include "core/store.hpp"

namespace sr {

struct DispatchSettings {
    std::chrono::seconds horizon{7 * 24 * 3600};  // hand over at most this far ahead of send_at
    std::chrono::seconds lease_for{45};           // longer than a Sinch call plus a lookup (2 x 10 s timeouts)
    std::chrono::seconds first_retry{30};         // doubles each attempt, up to 30 min
    std::chrono::seconds late_grace{15 * 60};     // a delayed reminder may still go this late, not later
    int claim_limit = 100;                        // reminders per pass
    double batches_per_second = 10;               // the account's rate, shared by every process
    std::string owner;                            // "host:pid", for leases
};

struct DispatchReport {
    int leases_released = 0, missed_slots = 0;
    int scheduled = 0, adopted = 0, retrying = 0, unknown = 0, failed = 0, too_late = 0, deferred = 0;
    int cancelled = 0, cancel_failed = 0;
    bool rate_limited = false;
    bool idle() const;
    std::string summary() const;
};

// Exponential backoff with jitter: first, 2 x first, 4 x first ... capped at 30 min, at least Retry-After.
Instant next_attempt_after(Instant now, std::chrono::seconds first, int attempts, std::optional<int> retry_after_seconds);

class Dispatcher {
  public:
    Dispatcher(PgPool& database, SinchClient& sinch, Logger& logger, DispatchSettings settings);

    // One pass over everything that is due. Throws DatabaseUnavailable if PostgreSQL is gone.
    DispatchReport run_once();

    // The request's fast path (reschedule): claims this one reminder if it is pending and inside the
    // horizon, and hands it over now. Otherwise (rate limit, horizon, someone else) it waits for the
    // background pass. Returns the reminder's status afterwards, or "" if it was not claimed.
    // Like every fast path, it holds no database connection while it waits for Sinch.
    std::string hand_over_now(std::int64_t reminder_id);

    // The claim a booking makes when it stores its reminder (AppointmentStore::create), so that
    // hand_over_booked() needs no separate claim.
    ReminderClaim booking_claim() const;
    // The booking's fast path: hands over the reminder `booked` stored claimed with booking_claim(), with
    // the SMS text it stored (`body`). Returns the status afterwards, or "" if the booking did not claim
    // it (beyond the horizon, too late).
    std::string hand_over_booked(const AppointmentRecord& booked, const std::string& body);

    // The cancel/reschedule fast path: cancels this reminder's batch now if it is waiting for that.
    std::string cancel_now(std::int64_t reminder_id);

  private:
    // What became of one claimed reminder (reminder_status::*), updating the report.
    std::string schedule_claimed(ReminderQueue& queue, const QueuedReminder& reminder, DispatchReport& report);
    std::string cancel_claimed(ReminderQueue& queue, const QueuedReminder& reminder, DispatchReport& report);
    // Sinch's batch for this reminder, if a lookup finds a live one; nullopt when none; throws nothing.
    SinchResult look_up(const QueuedReminder& reminder);

    // One token of the account's rate, shared by every process through PostgreSQL (see RateAllowance).
    bool take_rate_token(ReminderQueue& queue);

    // Tokens this process took from the shared bucket and may spend for a moment. Taking a tenth of a
    // second's worth at once keeps the bucket's row from being locked by every single batch; tokens not
    // spent within that tenth of a second are not used any more and go back with the next take, so all
    // processes together stay within the rate and none wastes it.
    struct RateAllowance {
        std::mutex mutex;
        int tokens = 0;
        std::chrono::steady_clock::time_point valid_until{};
    };

    PgPool& m_database;
    SinchClient& m_sinch;
    Logger& m_logger;
    DispatchSettings m_settings;
    RateAllowance m_rate;
};

}  // namespace sr
