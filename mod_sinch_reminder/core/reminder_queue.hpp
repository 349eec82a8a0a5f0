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

class ReminderQueue {
  public:
    // Every operation on this one connection. NB: the lease must outlive the queue.
    ReminderQueue(PgLease& lease, std::string owner) : m_lease(&lease), m_owner(std::move(owner)) {}
    // Every operation on a connection leased from `pool` for just that operation, so that nothing holds a
    // connection while a caller waits for Sinch. NB: the pool must outlive the queue.
    ReminderQueue(PgPool& pool, std::string owner) : m_pool(&pool), m_owner(std::move(owner)) {}

    // A process died while it held reminders: their Sinch call may or may not have happened.
    // Scheduling claims become 'unknown' (looked up before any resend); cancel claims go back to
    // 'cancelling'. Returns how many.
    int release_expired_leases();

    // Pending or retrying reminders whose slot passed more than `grace` ago (httpd or Sinch was
    // down) become 'too_late' instead of being sent late. Returns how many.
    int expire_missed_slots(std::chrono::seconds grace);

    // Claims up to `limit` reminders to hand to Sinch: pending ones inside the horizon, retrying and
    // unknown ones whose next attempt is due. Ordered by send time.
    std::vector<QueuedReminder> claim_for_scheduling(std::chrono::seconds horizon, std::chrono::seconds lease_for,
                                                     int limit);

    // Claims up to `limit` reminders whose batch must be cancelled at Sinch (cancel or reschedule).
    // NB: a reminder whose create call is still in flight keeps that call's lease, so it is only
    // claimed once that call has recorded its batch (or its lease expired).
    std::vector<QueuedReminder> claim_for_cancelling(std::chrono::seconds lease_for, int limit);

    // The same for one given reminder (the request that booked, cancelled or rescheduled it).
    std::optional<QueuedReminder> claim_one_for_scheduling(std::int64_t id, std::chrono::seconds horizon,
                                                           std::chrono::seconds lease_for);
    std::optional<QueuedReminder> claim_one_for_cancelling(std::int64_t id, std::chrono::seconds lease_for);

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

    // Up to `wanted` tokens of the shared Sinch rate bucket (`per_second`, bursts up to `burst`): how many
    // were taken (0 if less than one is left). `returning` unspent tokens taken earlier go back first.
    int take_rate_tokens(double per_second, double burst, int wanted, int returning = 0);

  private:
    std::vector<QueuedReminder> claim(const char* name, const std::string& sql, std::chrono::seconds horizon,
                                      std::chrono::seconds lease_for, std::int64_t id_or_limit);
    // Runs `work(connection)` on this queue's lease or on one leased for the call.
    template <class Work>
    auto on_connection(const char* operation, Work&& work);
    template <class... Params>
    bool update_held(const char* name, const std::string& sql, Params&&... params);

    PgLease* m_lease = nullptr;
    PgPool* m_pool = nullptr;
    std::string m_owner;
};

}  // namespace sr
