#pragma once
// Hands reminders to Sinch exactly once, whoever does it: the request that booked the appointment,
// or the background pass that runs in every httpd (mod_watchdog) and picks up everything else —
// reminders entering the horizon, retries after 5xx/429/timeouts, lookups after lost answers,
// cancels that did not reach Sinch, leases of processes that died, and orphan batches.
//
// Exactly once: each reminder revision has its own client_reference; it is claimed in PostgreSQL
// (with a lease) before any Sinch call; right before each create or cancel the lease is checked and
// extended in one statement (fencing), so a process that lost its lease makes no call; a result that
// cannot be recorded because the lease was lost is an orphan batch, adopted or cancelled later; and a
// call whose outcome is unknown is followed by a lookup by client_reference, never by a blind resend.
//
// Throughput: a pass keeps handing over while due work remains, waiting for tokens of the account's
// rate (shared by every process and node through PostgreSQL), with `workers` Sinch calls in flight.
// A 429 / Retry-After or refused credentials pause the whole account, through PostgreSQL.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/logger.hpp"
#include "core/pg_pool.hpp"
#include "core/reminder_queue.hpp"
#include "core/sinch_client.hpp"
#include "core/store.hpp"

namespace sr {

struct DispatchSettings {
    std::chrono::seconds horizon{7 * 24 * 3600};  // hand over at most this far ahead of send_at
    std::chrono::seconds lease_for{45};        // > one Sinch call (10 s timeout): extended before each call
    std::chrono::seconds first_retry{30};      // doubles each attempt, up to 30 min
    std::chrono::seconds late_grace{15 * 60};  // a delayed reminder may still go this late, not later
    std::chrono::seconds pass_budget{25};  // a pass stops starting calls after this; the next follows at once
    std::chrono::seconds first_auth_pause{5};  // refused credentials: pause 5 s, 10 s, 20 s ... up to
    std::chrono::seconds longest_auth_pause{300};
    int workers = 4;                 // Sinch calls in flight per process
    double batches_per_second = 10;  // the account's rate, shared by every process
    std::string owner;               // "host:pid", for leases
    // The clinics (SinchReminderClinic keys) whose reminders this dispatcher hands over; empty: every
    // clinic's. In httpd: the clinics that share this dispatcher's database, Sinch account and sender.
    std::vector<std::string> clinics;
};

struct DispatchReport {
    int leases_released = 0, missed_slots = 0;
    int scheduled = 0, adopted = 0, retrying = 0, unknown = 0, failed = 0, too_late = 0, deferred = 0;
    int cancelled = 0, cancel_failed = 0;
    int orphans_adopted = 0, orphans_cancelled = 0, lease_lost = 0;
    int paused = 0;          // reminders put back because the account is paused
    bool more_work = false;  // the pass ran out of time (or was stopped) with work left
    bool account_paused = false;
    bool idle() const;
    std::string summary() const;
    DispatchReport& operator+=(const DispatchReport& other);
};

// Exponential backoff with jitter: first, 2 x first, 4 x first ... capped at 30 min, at least Retry-After.
Instant next_attempt_after(Instant now, std::chrono::seconds first, int attempts,
                           std::optional<int> retry_after_seconds);

// The `expire_at` a reminder's batch carries: the appointment's start, within Sinch's limit (send_at + 3
// days); none when the start is not after send_at.
std::optional<Instant> reminder_expire_at(Instant send_at, Instant starts_at);

class Dispatcher {
  public:
    // Asked between calls: true when the process is stopping (no new call is started; in-flight ones finish).
    using StopRequested = std::function<bool()>;

    Dispatcher(PgPool& database, SinchClient& sinch, Logger& logger, DispatchSettings settings);

    // One pass: keeps handing over, looking up and cancelling while work is due, the account's rate gives
    // tokens and the pass budget lasts. Throws DatabaseUnavailable if PostgreSQL is gone.
    DispatchReport run_once(const StopRequested& stop_requested = {});

    // The request's fast path (reschedule): claims this one reminder if it is pending and inside the
    // horizon and a rate token is at hand, and hands it over now. Otherwise it waits for the background
    // pass. Returns the reminder's status afterwards, or "" if it was not claimed.
    // Like every fast path, it holds no database connection while it waits for Sinch.
    std::string hand_over_now(std::int64_t reminder_id);

    // The claim a booking makes when it stores its reminder (AppointmentStore::create), so that
    // hand_over_booked() needs no separate claim. nullopt (store it pending for the background pass) when no
    // rate token is at hand or the account is paused: the claim is the fence of the create that follows.
    std::optional<ReminderClaim> booking_claim();
    // Gives back the token booking_claim() took when the booking did not claim its reminder after all.
    void booking_not_claimed();
    // The booking's fast path: hands over the reminder `booked` stored claimed with booking_claim(), with
    // the SMS text it stored (`body`). Returns the status afterwards, or "" if the booking did not claim
    // it (beyond the horizon, too late).
    std::string hand_over_booked(const AppointmentRecord& booked, const std::string& body);

    // The cancel/reschedule fast path: cancels this reminder's batch now if it is waiting for that.
    std::string cancel_now(std::int64_t reminder_id);

    // The account's state as last seen by this process (for pages); reads PostgreSQL at most every 5 s.
    AccountState account_state();

  private:
    // What became of one claimed reminder (reminder_status::*), updating the report. The caller holds a
    // rate token for it and has just claimed it (the claim is the fence of the first call).
    std::string schedule_claimed(ReminderQueue& queue, const QueuedReminder& reminder,
                                 DispatchReport& report);
    std::string cancel_claimed(ReminderQueue& queue, const QueuedReminder& reminder, DispatchReport& report);
    // Sinch's live batch for this reminder, if a lookup finds one. Further live batches with the same
    // client_reference (a duplicate from a lost lease) are recorded as orphans, to be cancelled.
    SinchResult look_up(ReminderQueue& queue, const QueuedReminder& reminder);
    // Pauses the account for a 429 / refused credentials; true if `result` was such an answer.
    bool pause_if_account_problem(ReminderQueue& queue, const SinchResult& result, const QueuedReminder& r);
    void record_success(ReminderQueue& queue);
    // The reminder goes back to where it was without counting an attempt (no token, paused, lease kept).
    void put_back(ReminderQueue& queue, const QueuedReminder& r, std::optional<Instant> next_attempt_at,
                  DispatchReport& report);

    // One background worker: cancels, then hand-overs, until nothing is due, the budget ends or stop.
    void work(std::chrono::steady_clock::time_point deadline, const StopRequested& stop,
              DispatchReport& report);
    void resolve_orphans(ReminderQueue& queue, DispatchReport& report);

    // Rate tokens, shared by every process through PostgreSQL (see RateAllowance).
    enum class Token { Taken, None, Paused };
    // One token if at hand now, without waiting.
    Token try_take_token(ReminderQueue& queue);
    // Waits for a token until `deadline` or stop; false if none came.
    bool wait_for_token(ReminderQueue& queue, std::chrono::steady_clock::time_point deadline,
                        const StopRequested& stop);
    void give_back_token();

    // The workers' claims for scheduling, batched: a worker holding a rate token waits here; whichever
    // worker finds no claim running claims, in one statement, one reminder for each worker waiting at that
    // moment and hands them out at once (so each is still claimed right before its call). Many workers
    // claiming the same head of the queue one row at a time mostly skip each other's locked rows.
    struct ClaimShare {
        std::mutex mutex;
        std::condition_variable handed_out;
        std::deque<QueuedReminder> ready;  // claimed, not yet taken by a worker
        int waiting = 0;                   // workers waiting, each with a token
        bool claiming = false;
        // Claims that found nothing so far: a worker waiting while one of them ran has nothing to do (as if
        // its own claim had found nothing); a worker that comes later claims again.
        unsigned long empty_claims = 0;
    };
    // The next claimed reminder for this worker, or nullopt when nothing is due (or stop / deadline).
    std::optional<QueuedReminder> next_claimed(ReminderQueue& queue,
                                               std::chrono::steady_clock::time_point deadline,
                                               const StopRequested& stop);

    // Tokens this process took from the shared bucket and may spend for a moment. Taking a tenth of a
    // second's worth at once keeps the bucket's row from being locked by every single batch; tokens not
    // spent within that tenth of a second go back with the next take, so all processes together stay within
    // the rate and none wastes it.
    struct RateAllowance {
        std::mutex mutex;
        int tokens = 0;
        std::chrono::steady_clock::time_point valid_until{};
        std::chrono::steady_clock::time_point paused_until{};  // the account's pause, as last seen
        bool account_troubled = false;                         // the bucket records a pause reason
    };

    PgPool& m_database;
    SinchClient& m_sinch;
    Logger& m_logger;
    DispatchSettings m_settings;
    RateAllowance m_rate;
    ClaimShare m_claims;

    std::mutex m_account_mutex;
    AccountState m_account;
    std::chrono::steady_clock::time_point m_account_read_at{};
    std::atomic<bool> m_first_pass{true};
};

}  // namespace sr
