#pragma once
// The reminders that need work, as the dispatcher sees them in PostgreSQL.
//
// NB: every claim uses FOR UPDATE SKIP LOCKED and a lease (owner + expiry) in the same statement, so
// any number of httpd processes on any number of machines sharing one database never work on the
// same reminder at once, and a process killed mid-call leaves a lease that simply expires.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/pg_pool.hpp"

namespace sr {

// A claimed reminder plus what is needed to act on it.
struct QueuedReminder {
    std::int64_t id = 0;
    std::string claimed_from;  // the status before the claim: pending, retrying, unknown, cancelling, ...
    std::string client_reference;
    std::optional<std::string> batch_id;
    Instant send_at;
    Instant reminder_created_at;
    int attempts = 0;  // including this one
    std::string appointment_id;
    std::string phone_e164;
    std::string doctor_name;
    std::string time_zone;
    Instant starts_at;
    bool superseded = false;  // a reschedule replaced this revision (as opposed to a cancelled appointment)
    std::string body;         // the SMS text, rendered when the reminder was created
    std::string delivery_report = "none";  // what the batch asks Sinch for, fixed at creation
    std::string callback_url;              // "" = the service plan's default
};

// The Sinch account as every process and node sees it (one row in PostgreSQL).
struct AccountState {
    std::optional<Instant> paused_until;  // set and in the future: nobody calls Sinch until then
    std::string pause_reason;             // "rate_limited", "credentials_rejected", or ""
    std::string pause_detail;             // what Sinch said, for staff and /health
    int auth_failures = 0;                // refused credentials in a row (the backoff's exponent)
    bool paused(Instant now) const { return paused_until && *paused_until > now; }
};

// What a take from the shared rate bucket gave.
struct RateTake {
    int tokens = 0;
    std::chrono::milliseconds paused_for{0};  // > 0: the account is paused this much longer (no tokens)
    bool account_troubled = false;            // a pause reason or refused credentials are recorded
};

// A batch created (or, with no batch_id, perhaps created) by a process that had lost its lease.
struct OrphanBatch {
    std::int64_t id = 0, reminder_id = 0;
    std::optional<std::string> batch_id;
    std::string client_reference;
    Instant reminder_created_at;
    int attempts = 0;
};
// What the dispatcher must still do about claimed orphans (the rest was settled in the claim itself).
struct OrphanWork {
    std::vector<OrphanBatch> to_cancel;   // the reminder has another batch or needs none: cancel at Sinch
    std::vector<OrphanBatch> to_look_up;  // outcome unknown: list the client_reference's live batches
    int adopted = 0, already_recorded = 0, postponed = 0;
};

class ReminderQueue {
  public:
    // Every operation on this one connection. NB: the lease must outlive the queue.
    ReminderQueue(PgLease& lease, std::string owner) : m_lease(&lease), m_owner(std::move(owner)) {}
    // Every operation on a connection leased from `pool` for just that operation, so that nothing holds a
    // connection while a caller waits for Sinch. NB: the pool must outlive the queue.
    ReminderQueue(PgPool& pool, std::string owner) : m_pool(&pool), m_owner(std::move(owner)) {}
    // Only the reminders of these clinics (SinchReminderClinic keys) are claimed, expired, released or
    // resolved as orphans; empty (the default): every clinic's.
    void set_clinics(const std::vector<std::string>& clinics);
    // Clinics other than these with reminders due inside `horizon` that nobody has handed to Sinch yet (a
    // node that has them would have): each with how many. Nothing when no clinics are set. Cheap in the
    // normal case: reminders inside the horizon are handed over within a pass, so few are still pending
    // there.
    std::vector<std::pair<std::string, int>> waiting_in_other_clinics(std::chrono::seconds horizon);

    // A process died while it held reminders: their Sinch call may or may not have happened.
    // Scheduling claims become 'unknown' (looked up before any resend); cancel claims go back to
    // 'cancelling'. Returns how many.
    int release_expired_leases();

    // Pending or retrying reminders whose slot passed more than `grace` ago (httpd or Sinch was
    // down) become 'too_late' instead of being sent late. Returns how many.
    int expire_missed_slots(std::chrono::seconds grace);

    // Claims up to `limit` reminders to hand to Sinch: pending ones inside the horizon, retrying and
    // unknown ones whose next attempt is due. Ordered by send time.
    std::vector<QueuedReminder> claim_for_scheduling(std::chrono::seconds horizon,
                                                     std::chrono::seconds lease_for, int limit);

    // Claims up to `limit` reminders whose batch must be cancelled at Sinch (cancel or reschedule).
    // NB: a reminder whose create call is still in flight keeps that call's lease, so it is only
    // claimed once that call has recorded its batch (or its lease expired).
    std::vector<QueuedReminder> claim_for_cancelling(std::chrono::seconds lease_for, int limit);

    // The same for one given reminder (the request that booked, cancelled or rescheduled it).
    std::optional<QueuedReminder> claim_one_for_scheduling(std::int64_t id, std::chrono::seconds horizon,
                                                           std::chrono::seconds lease_for);
    std::optional<QueuedReminder> claim_one_for_cancelling(std::int64_t id, std::chrono::seconds lease_for);
    // True while the reminder waits to be cancelled and another owner's lease holds it (a cancel, or the
    // create it must wait for, is in flight there).
    bool held_for_cancelling_elsewhere(std::int64_t id);

    // Outcomes of claimed work. Each only applies while this owner holds the lease; false otherwise.
    // NB: if staff cancelled while the create was in flight, scheduled() still records the batch (so
    // the cancel can reach it) and failed() just lets go; the reminder stays 'cancelling'.
    bool scheduled(std::int64_t id, const std::string& batch_id);
    bool failed(std::int64_t id, const std::string& status /*retrying|unknown|failed*/, int http_status,
                const std::string& code, const std::string& text, std::optional<Instant> next_attempt_at);
    // Back to 'pending' without counting against it (no rate token, or a lookup found nothing).
    bool release(std::int64_t id, const std::string& status, std::optional<Instant> next_attempt_at);
    bool cancelled(std::int64_t id, const std::string& final_status /*cancelled|superseded|sent*/,
                   const std::optional<std::string>& batch_id);
    bool cancel_failed(std::int64_t id, int http_status, const std::string& code, const std::string& text,
                       Instant next_attempt_at);

    // Fencing: right before a create or cancel at Sinch, checks that this owner still holds the reminder's
    // lease and extends it by `lease_for`, in one statement. False (make no call) if the lease was lost or
    // the account is paused.
    bool fence(std::int64_t id, std::chrono::seconds lease_for);

    // Up to `wanted` tokens of the shared Sinch rate bucket (`per_second`, bursts up to `burst`). None while
    // the account is paused. `returning` unspent tokens taken earlier go back first.
    RateTake take_rate_tokens(double per_second, double burst, int wanted, int returning = 0);

    // Sinch asked every caller to wait (429 / Retry-After): no process calls it for `seconds`.
    void pause_for_rate_limit(std::chrono::seconds seconds, const std::string& detail);
    // Sinch refused the credentials: pause for first * 2^(failures so far), at most `longest`. Only the first
    // refusal after a pause ended counts (calls that were in flight together are one probe). Returns the
    // number of refusals in a row if this call started a new pause.
    std::optional<int> pause_for_refused_credentials(std::chrono::seconds first, std::chrono::seconds longest,
                                                     const std::string& detail);
    // A call went through: forget refused credentials and the pause reason.
    void account_recovered();
    AccountState account_state();

    // Records a batch this process created after it lost the reminder's lease, for resolve_orphans(). Without
    // a batch id: a create whose outcome is unknown; every live batch of the revision is looked up, no
    // earlier than `look_after` from now, and all but the reminder's own are cancelled (or one adopted).
    void record_orphan(std::int64_t reminder_id, const std::optional<std::string>& batch_id,
                       const std::string& client_reference,
                       std::chrono::seconds look_after = std::chrono::seconds(0));
    // Settles up to `limit` due orphans that need no Sinch call (adopt, or already recorded; postponed while
    // another process holds the reminder) and claims the rest for `lease_for`.
    OrphanWork claim_orphans(int limit, std::chrono::seconds lease_for);
    void orphan_resolved(std::int64_t orphan_id);
    void orphan_failed(std::int64_t orphan_id, const std::string& error, Instant next_attempt_at);

  private:
    std::vector<QueuedReminder> claim(const char* name, const std::string& sql, std::chrono::seconds horizon,
                                      std::chrono::seconds lease_for, std::int64_t id_or_limit);
    // Runs `work(lease)` on this queue's lease or on one leased for the call.
    template <class Work>
    auto with_lease(Work&& work);
    // Runs `work(connection)` the same way, with with_connection()'s error mapping.
    template <class Work>
    auto on_connection(const char* operation, Work&& work);
    // One prepared statement on its own (atomic by itself: no BEGIN/COMMIT round trips).
    template <class... Params>
    pqxx::result run_one(const char* operation, const char* name, const std::string& sql, Params&&... params);
    template <class... Params>
    bool update_held(const char* name, const std::string& sql, Params&&... params);

    PgLease* m_lease = nullptr;
    PgPool* m_pool = nullptr;
    std::string m_owner;
    std::string m_clinics = "{}";  // a text[] literal (pg_clinic_array); "{}": every clinic
};

}  // namespace sr
