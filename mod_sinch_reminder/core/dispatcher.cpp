#include "core/dispatcher.hpp"

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "core/redact.hpp"
#include "core/store.hpp"

namespace sr {

namespace {

constexpr std::chrono::seconds k_max_retry{30 * 60};
// Sinch lists only batches created in the last 14 days.
constexpr std::chrono::hours k_lookup_window{14 * 24 - 1};
// Sinch's default and largest expire_at: send_at + 3 days.
constexpr std::chrono::hours k_longest_expiry{72};
// A 429 without Retry-After still pauses every caller this long.
constexpr std::chrono::seconds k_default_rate_limit_pause{1};
// Orphans resolved per pass step.
constexpr int k_orphans_per_step = 50;
// After a create whose answer was lost, how long until no late copy of it can still reach Sinch: well
// beyond the HTTP client's time limit (10 s by default) and a slow backend's processing.
constexpr std::chrono::minutes k_late_create_check{2};
// How long a staff cancel waits for another worker's call on the same reminder: one Sinch call (the HTTP
// client's 10 s limit) and a little.
constexpr std::chrono::seconds k_wait_for_another_cancel{12};

double jitter() {
    thread_local std::mt19937 random(std::random_device{}());
    return std::uniform_real_distribution<double>(0.8, 1.2)(random);
}

using SteadyClock = std::chrono::steady_clock;

bool stopping(const Dispatcher::StopRequested& stop) { return stop && stop(); }

// Sleeps up to `wait`, in steps short enough to notice a stop.
void nap(std::chrono::milliseconds wait, const Dispatcher::StopRequested& stop) {
    const auto until = SteadyClock::now() + wait;
    while (!stopping(stop)) {
        const auto now = SteadyClock::now();
        if (now >= until) return;
        std::this_thread::sleep_for(
            std::min<SteadyClock::duration>(until - now, std::chrono::milliseconds(100)));
    }
}

}  // namespace

bool DispatchReport::idle() const {
    return leases_released + missed_slots + scheduled + adopted + retrying + unknown + failed + too_late +
               deferred + cancelled + cancel_failed + orphans_adopted + orphans_cancelled + lease_lost +
               paused ==
           0;
}

DispatchReport& DispatchReport::operator+=(const DispatchReport& o) {
    leases_released += o.leases_released;
    missed_slots += o.missed_slots;
    scheduled += o.scheduled;
    adopted += o.adopted;
    retrying += o.retrying;
    unknown += o.unknown;
    failed += o.failed;
    too_late += o.too_late;
    deferred += o.deferred;
    cancelled += o.cancelled;
    cancel_failed += o.cancel_failed;
    orphans_adopted += o.orphans_adopted;
    orphans_cancelled += o.orphans_cancelled;
    lease_lost += o.lease_lost;
    paused += o.paused;
    more_work = more_work || o.more_work;
    account_paused = account_paused || o.account_paused;
    return *this;
}

std::string DispatchReport::summary() const {
    std::string out;
    auto add = [&](int n, const char* what) {
        if (n) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + what;
    };
    add(scheduled, "scheduled");
    add(adopted, "adopted after a lost answer");
    add(retrying, "to retry");
    add(unknown, "unknown (looked up later)");
    add(failed, "refused by Sinch");
    add(too_late, "too late");
    add(missed_slots, "missed their slot");
    add(deferred, "deferred by the rate limit");
    add(paused, "put back while the Sinch account is paused");
    add(cancelled, "cancelled at Sinch");
    add(cancel_failed, "cancel failed (retried)");
    add(leases_released, "abandoned leases released");
    add(lease_lost, "lease lost before recording");
    add(orphans_adopted, "orphan batches adopted");
    add(orphans_cancelled, "orphan batches cancelled");
    if (out.empty()) out = "nothing to do";
    if (more_work) out += "; more work due, next pass follows";
    return out;
}

Instant next_attempt_after(Instant now, std::chrono::seconds first, int attempts,
                           std::optional<int> retry_after_seconds) {
    auto delay = first * (1LL << std::clamp(attempts - 1, 0, 10));
    delay = std::min<std::chrono::seconds>(delay, k_max_retry);
    auto jittered = std::chrono::seconds(static_cast<long long>(delay.count() * jitter()));
    if (retry_after_seconds) jittered = std::max(jittered, std::chrono::seconds(*retry_after_seconds));
    return now + jittered;
}

std::optional<Instant> reminder_expire_at(Instant send_at, Instant starts_at) {
    if (starts_at <= send_at) return std::nullopt;
    return std::min<Instant>(starts_at, send_at + k_longest_expiry);
}

Dispatcher::Dispatcher(PgPool& database, SinchClient& sinch, Logger& logger, DispatchSettings settings)
    : m_database(database), m_sinch(sinch), m_logger(logger), m_settings(std::move(settings)) {
    m_settings.workers = std::max(1, m_settings.workers);
}

// --- the account: rate tokens and pauses ---------------------------------------------------------

Dispatcher::Token Dispatcher::try_take_token(ReminderQueue& queue) {
    const double per_second = m_settings.batches_per_second;
    std::lock_guard<std::mutex> lock(m_rate.mutex);
    const auto now = SteadyClock::now();
    if (now < m_rate.paused_until) return Token::Paused;
    if (m_rate.tokens > 0 && now < m_rate.valid_until) {
        --m_rate.tokens;
        return Token::Taken;
    }
    // Tokens left over from an expired allowance go back to the bucket in the same statement: a process
    // that needs fewer than a chunk per tenth of a second must not drain the shared rate for the others.
    const int wanted = std::max(1, static_cast<int>(per_second / 10));
    const int returning = m_rate.tokens;
    m_rate.tokens = 0;
    const RateTake take = queue.take_rate_tokens(per_second, std::max(1.0, per_second), wanted, returning);
    m_rate.account_troubled = take.account_troubled;
    if (take.paused_for.count() > 0) {
        m_rate.paused_until = now + take.paused_for;
        return Token::Paused;
    }
    if (take.tokens == 0) return Token::None;
    m_rate.tokens = take.tokens - 1;
    m_rate.valid_until = now + std::chrono::milliseconds(100);
    return Token::Taken;
}

bool Dispatcher::wait_for_token(ReminderQueue& queue, SteadyClock::time_point deadline,
                                const StopRequested& stop) {
    // The bucket refills one token per 1/rate seconds; ask again about then (at least every 100 ms).
    const auto refill = std::chrono::milliseconds(
        std::clamp(static_cast<long long>(1000 / std::max(1.0, m_settings.batches_per_second)), 5LL, 100LL));
    // A wait is counted (SinchCounters::rate_waits) when the first try finds no token, with its whole length.
    std::optional<SteadyClock::time_point> waiting_since;
    const auto count_wait = [&] {
        if (!waiting_since) return;
        const auto waited =
            std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - *waiting_since);
        m_sinch.counters().count_rate_wait(
            static_cast<std::uint64_t>(std::max<long long>(0, waited.count())));
    };
    while (!stopping(stop) && SteadyClock::now() < deadline) {
        const Token token = try_take_token(queue);
        if (token == Token::Taken) {
            count_wait();
            return true;
        }
        if (!waiting_since) waiting_since = SteadyClock::now();
        if (token == Token::Paused) {
            std::chrono::milliseconds wait;
            {
                std::lock_guard<std::mutex> lock(m_rate.mutex);
                wait = std::chrono::duration_cast<std::chrono::milliseconds>(m_rate.paused_until -
                                                                             SteadyClock::now());
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
            if (wait > left) {
                // Paused beyond this pass: idle to its end (no spinning); the next pass looks again.
                nap(left, stop);
                count_wait();
                return false;
            }
            nap(std::max(wait, std::chrono::milliseconds(1)), stop);
            continue;
        }
        nap(refill, stop);
    }
    count_wait();
    return false;
}

void Dispatcher::give_back_token() {
    std::lock_guard<std::mutex> lock(m_rate.mutex);
    if (SteadyClock::now() < m_rate.valid_until) ++m_rate.tokens;
}

bool Dispatcher::pause_if_account_problem(ReminderQueue& queue, const SinchResult& result,
                                          const QueuedReminder& r) {
    const AccountProblem problem = account_problem(result);
    if (problem == AccountProblem::None) return false;
    const std::string detail = "HTTP " + std::to_string(result.http_status) +
                               (result.error_code.empty() ? "" : " " + result.error_code) + ": " +
                               result.error_text;
    std::chrono::milliseconds local_pause{0};
    if (problem == AccountProblem::RateLimited) {
        const auto seconds = result.retry_after_seconds
                                 ? std::chrono::seconds(std::max(1, *result.retry_after_seconds))
                                 : k_default_rate_limit_pause;
        queue.pause_for_rate_limit(seconds, detail);
        local_pause = seconds;
        m_logger.log(LogLevel::Warn, "SR0407",
                     "Sinch asked every caller to slow down (reminder " + r.client_reference + ", " + detail +
                         "): no process calls Sinch for " + std::to_string(seconds.count()) + " s");
    } else {
        const std::optional<int> failures = queue.pause_for_refused_credentials(
            m_settings.first_auth_pause, m_settings.longest_auth_pause, detail);
        if (failures) {
            const auto seconds = std::min<std::chrono::seconds>(
                m_settings.longest_auth_pause,
                m_settings.first_auth_pause * (1LL << std::clamp(*failures - 1, 0, 20)));
            local_pause = seconds;
            m_logger.log(LogLevel::Error, "SR0408",
                         "Sinch refused the account's credentials (" + detail +
                             "); handing over is paused for " + std::to_string(seconds.count()) +
                             " s (refusal " + std::to_string(*failures) +
                             " in a row) and reminders stay 'retrying': check the Sinch key or API token");
        }
    }
    std::lock_guard<std::mutex> lock(m_rate.mutex);
    m_rate.tokens = 0;  // taken before the pause: not spent
    m_rate.account_troubled = true;
    m_rate.paused_until = std::max(
        m_rate.paused_until, SteadyClock::now() + std::max(local_pause, std::chrono::milliseconds(100)));
    return true;
}

void Dispatcher::record_success(ReminderQueue& queue) {
    {
        std::lock_guard<std::mutex> lock(m_rate.mutex);
        if (!m_rate.account_troubled) return;
        m_rate.account_troubled = false;
    }
    queue.account_recovered();
    m_logger.log(LogLevel::Info, "SR0409", "Sinch accepts the account's calls again; handing over resumed");
}

AccountState Dispatcher::account_state() {
    std::lock_guard<std::mutex> lock(m_account_mutex);
    const auto now = SteadyClock::now();
    if (m_account_read_at.time_since_epoch().count() == 0 ||
        now - m_account_read_at > std::chrono::seconds(5)) {
        ReminderQueue queue(m_database, m_settings.owner);
        queue.set_clinics(m_settings.clinics);
        m_account = queue.account_state();
        m_account_read_at = now;
    }
    return m_account;
}

// --- one reminder ------------------------------------------------------------------------------------

void Dispatcher::put_back(ReminderQueue& queue, const QueuedReminder& r,
                          std::optional<Instant> next_attempt_at, DispatchReport& report) {
    namespace s = reminder_status;
    // 'unknown' was looked up before: whatever comes next is a plain retry.
    const std::string back = r.claimed_from == s::unknown ? s::retrying : r.claimed_from;
    queue.release(r.id, back, next_attempt_at);
    ++report.paused;
}

SinchResult Dispatcher::look_up(ReminderQueue& queue, const QueuedReminder& reminder) {
    const Instant since =
        std::max(reminder.reminder_created_at, now_utc() - k_lookup_window) - std::chrono::hours(1);
    SinchResult result = m_sinch.find_by_client_reference(reminder.client_reference, since);
    if (result.ok() && result.batch) {
        // More than one live batch for one revision: a process that had lost its lease created one. Keep the
        // recorded one (or the newest) and let the orphan resolution cancel the others.
        const std::string keep = reminder.batch_id.value_or(result.batch->id);
        for (const Batch& batch : result.batches) {
            if (batch.canceled || batch.id == keep) continue;
            queue.record_orphan(reminder.id, batch.id, reminder.client_reference);
            m_logger.log(LogLevel::Warn, "SR0410",
                         "reminder " + reminder.client_reference + ": a second live batch " + batch.id +
                             " was found beside " + keep + "; it will be cancelled");
        }
        if (reminder.batch_id) {
            for (const Batch& batch : result.batches)
                if (batch.id == keep && !batch.canceled) result.batch = batch;
        }
    }
    return result;
}

std::string Dispatcher::schedule_claimed(ReminderQueue& queue, const QueuedReminder& r,
                                         DispatchReport& report) {
    namespace s = reminder_status;
    const Instant now = now_utc();
    // The rate token taken for this reminder goes back unless a create call spends it.
    struct HeldToken {
        Dispatcher& dispatcher;
        bool spent = false;
        ~HeldToken() {
            if (!spent) dispatcher.give_back_token();
        }
    } token{*this};

    // A previous attempt may have created the batch: ask Sinch before creating one.
    if (r.claimed_from == s::unknown) {
        const SinchResult lookup = look_up(queue, r);
        if (!lookup.ok()) {
            if (pause_if_account_problem(queue, lookup, r)) {
                put_back(queue, r, std::nullopt, report);
                return s::unknown;
            }
            queue.failed(
                r.id, s::unknown, lookup.http_status, lookup.error_code, lookup.error_text,
                next_attempt_after(now, m_settings.first_retry, r.attempts, lookup.retry_after_seconds));
            ++report.unknown;
            return s::unknown;
        }
        if (lookup.batch) {
            if (!queue.scheduled(r.id, lookup.batch->id)) {
                // Lost the lease while looking: whoever holds it now decides; the batch is left to them.
                ++report.lease_lost;
                return "";
            }
            ++report.adopted;
            m_logger.log(LogLevel::Info, "",
                         "reminder " + r.client_reference + ": adopted batch " + lookup.batch->id +
                             " created by an earlier attempt");
            return s::scheduled;
        }
        // None exists: the lookup took time, so the lease is checked again right before the create.
        if (!queue.fence(r.id, m_settings.lease_for)) {
            // The account was paused meanwhile (put it back, still ours) or the lease was lost (nothing to
            // do).
            if (queue.release(r.id, s::retrying, std::nullopt))
                ++report.paused;
            else
                ++report.lease_lost;
            return "";
        }
    }
    if (r.send_at + m_settings.late_grace < now) {
        queue.failed(r.id, s::too_late, 0, "slot_missed",
                     "the reminder could not be handed to Sinch before its time had passed", std::nullopt);
        ++report.too_late;
        return s::too_late;
    }

    ScheduleRequest request;
    request.to_e164 = r.phone_e164;
    request.body = r.body;
    request.delivery_report = r.delivery_report;
    request.callback_url = r.callback_url;
    request.client_reference = r.client_reference;
    request.send_at = r.send_at;
    request.expire_at = reminder_expire_at(r.send_at, r.starts_at);
    token.spent = true;
    SinchResult result = m_sinch.schedule(request);
    if (result.outcome == SinchOutcome::Unknown) {
        // The request may still reach Sinch after its answer was lost (a slow backend, a timeout here): so,
        // whatever the lookup below finds now, every live batch of this revision is looked at again once such
        // a late create can no longer be on its way, and any but the reminder's own is cancelled.
        queue.record_orphan(r.id, std::nullopt, r.client_reference, k_late_create_check);
        // Never resend blindly: see whether the create happened.
        const SinchResult lookup = look_up(queue, r);
        if (lookup.ok() && lookup.batch) {
            result.outcome = SinchOutcome::Ok;
            result.batch = lookup.batch;
        }
    }
    if (result.ok() || result.outcome == SinchOutcome::Unknown) record_success(queue);
    switch (result.outcome) {
        case SinchOutcome::Ok:
            if (result.batch) {
                if (!queue.scheduled(r.id, result.batch->id)) {
                    // The lease was taken over while Sinch answered: another process may be creating its
                    // own batch. Never leave two live: the orphan is adopted or cancelled once that settles.
                    queue.record_orphan(r.id, result.batch->id, r.client_reference);
                    ++report.lease_lost;
                    m_logger.log(
                        LogLevel::Warn, "SR0411",
                        "reminder " + r.client_reference + ": batch " + result.batch->id +
                            " was created after this process lost its lease; it is adopted or cancelled");
                    return "";
                }
                ++report.scheduled;
                if (m_logger.enabled(LogLevel::Debug)) {
                    m_logger.log(LogLevel::Debug, "",
                                 "reminder " + r.client_reference + " to " + mask_phone(r.phone_e164) +
                                     " scheduled for " + format_utc_iso_millis(r.send_at) + " as batch " +
                                     result.batch->id);
                }
                return s::scheduled;
            }
            break;
        case SinchOutcome::Retryable:
            if (pause_if_account_problem(queue, result, r)) {
                // Not this reminder's fault: back in line for when the pause ends, no attempt counted.
                put_back(queue, r, std::nullopt, report);
                return r.claimed_from;
            }
            queue.failed(
                r.id, s::retrying, result.http_status, result.error_code, result.error_text,
                next_attempt_after(now, m_settings.first_retry, r.attempts, result.retry_after_seconds));
            ++report.retrying;
            m_logger.log(LogLevel::Warn, "SR0402",
                         "reminder " + r.client_reference + " will be retried: Sinch " +
                             std::to_string(result.http_status) + " " + result.error_code);
            return s::retrying;
        case SinchOutcome::Unknown:
            if (!queue.failed(r.id, s::unknown, result.http_status, result.error_code, result.error_text,
                              next_attempt_after(now, m_settings.first_retry, r.attempts, std::nullopt))) {
                // Lost the lease too: whoever holds it may create another; the late-create check above
                // settles it once they are done.
                ++report.lease_lost;
            }
            ++report.unknown;
            return s::unknown;
        case SinchOutcome::Rejected:
            if (pause_if_account_problem(queue, result, r)) {
                // Refused credentials: nothing was created, and retrying later is safe. Never 'failed'.
                queue.failed(r.id, s::retrying, result.http_status, result.error_code, result.error_text,
                             std::nullopt);
                ++report.retrying;
                ++report.paused;
                return s::retrying;
            }
            break;
        default:
            break;
    }
    queue.failed(r.id, s::failed, result.http_status, result.error_code, result.error_text, std::nullopt);
    ++report.failed;
    m_logger.log(LogLevel::Error, "SR0401",
                 "reminder " + r.client_reference + " refused by Sinch (HTTP " +
                     std::to_string(result.http_status) + ", code '" + result.error_code +
                     "'): " + result.error_text);
    return s::failed;
}

std::string Dispatcher::cancel_claimed(ReminderQueue& queue, const QueuedReminder& r,
                                       DispatchReport& report) {
    namespace s = reminder_status;
    const Instant now = now_utc();
    const std::string final_status = r.superseded ? s::superseded : s::cancelled;
    std::optional<std::string> batch_id = r.batch_id;
    if (!batch_id) {
        // Cancelled while its create was in flight or unknown: the batch may exist all the same.
        const SinchResult lookup = look_up(queue, r);
        if (!lookup.ok()) {
            pause_if_account_problem(queue, lookup, r);
            queue.cancel_failed(
                r.id, lookup.http_status, lookup.error_code, lookup.error_text,
                next_attempt_after(now, m_settings.first_retry, r.attempts, lookup.retry_after_seconds));
            ++report.cancel_failed;
            return s::cancel_failed;
        }
        if (!lookup.batch) {
            queue.cancelled(r.id, final_status, std::nullopt);
            ++report.cancelled;
            return final_status;
        }
        batch_id = lookup.batch->id;
        if (!queue.fence(r.id, m_settings.lease_for)) {
            ++report.lease_lost;
            return "";
        }
    }
    const SinchResult result = m_sinch.cancel_batch(*batch_id);
    const bool already_sent = (result.ok() && r.send_at <= now) ||
                              result.error_code == "batch_already_dispatched" ||
                              result.error_code == "conflict_send_at";
    if (result.ok() || result.outcome == SinchOutcome::NotFound) record_success(queue);
    if (already_sent) {
        queue.cancelled(r.id, s::sent, batch_id);
        ++report.cancelled;
        m_logger.log(LogLevel::Warn, "SR0403",
                     "reminder " + r.client_reference + " could not be cancelled: Sinch had already sent it");
        return s::sent;
    }
    if (result.ok() || result.outcome == SinchOutcome::NotFound) {
        queue.cancelled(r.id, final_status, batch_id);
        ++report.cancelled;
        return final_status;
    }
    const bool account = pause_if_account_problem(queue, result, r);
    queue.cancel_failed(
        r.id, result.http_status, result.error_code, result.error_text,
        account ? now + std::chrono::seconds(1)
                : next_attempt_after(now, m_settings.first_retry, r.attempts, result.retry_after_seconds));
    ++report.cancel_failed;
    if (!account) {
        m_logger.log(LogLevel::Error, "SR0404",
                     "reminder " + r.client_reference + ": cancelling batch " + *batch_id + " failed (HTTP " +
                         std::to_string(result.http_status) + ", " + result.error_code +
                         "); it will be retried");
    }
    return s::cancel_failed;
}

// --- orphans -------------------------------------------------------------------------------------------

void Dispatcher::resolve_orphans(ReminderQueue& queue, DispatchReport& report) {
    const OrphanWork work = queue.claim_orphans(k_orphans_per_step, m_settings.lease_for);
    report.orphans_adopted += work.adopted;
    for (const OrphanBatch& orphan : work.to_look_up) {
        // A create whose outcome was unknown, by a process that had lost its lease: every live batch of the
        // revision becomes an orphan of its own, each then adopted or cancelled under the reminder's lock.
        QueuedReminder r;
        r.id = orphan.reminder_id;
        r.client_reference = orphan.client_reference;
        r.reminder_created_at = orphan.reminder_created_at;
        const Instant since =
            std::max(r.reminder_created_at, now_utc() - k_lookup_window) - std::chrono::hours(1);
        const SinchResult lookup = m_sinch.find_by_client_reference(r.client_reference, since);
        if (!lookup.ok()) {
            queue.orphan_failed(orphan.id, lookup.error_code + " " + lookup.error_text,
                                next_attempt_after(now_utc(), m_settings.first_retry, orphan.attempts,
                                                   lookup.retry_after_seconds));
            continue;
        }
        for (const Batch& batch : lookup.batches)
            if (!batch.canceled) queue.record_orphan(orphan.reminder_id, batch.id, orphan.client_reference);
        queue.orphan_resolved(orphan.id);
    }
    for (const OrphanBatch& orphan : work.to_cancel) {
        const SinchResult result = m_sinch.cancel_batch(*orphan.batch_id);
        const bool dispatched =
            result.error_code == "batch_already_dispatched" || result.error_code == "conflict_send_at";
        if (result.ok() || result.outcome == SinchOutcome::NotFound || dispatched) {
            queue.orphan_resolved(orphan.id);
            ++report.orphans_cancelled;
            if (dispatched) {
                m_logger.log(LogLevel::Error, "SR0412",
                             "reminder " + orphan.client_reference + ": orphan batch " + *orphan.batch_id +
                                 " had already been sent before it could be cancelled");
            } else {
                m_logger.log(
                    LogLevel::Warn, "SR0413",
                    "reminder " + orphan.client_reference + ": cancelled orphan batch " + *orphan.batch_id);
            }
            continue;
        }
        queue.orphan_failed(orphan.id, result.error_code + " " + result.error_text,
                            next_attempt_after(now_utc(), m_settings.first_retry, orphan.attempts,
                                               result.retry_after_seconds));
    }
}

// --- the pass --------------------------------------------------------------------------------------------

void Dispatcher::work(SteadyClock::time_point deadline, const StopRequested& stop, DispatchReport& report) {
    ReminderQueue queue(m_database, m_settings.owner);
    queue.set_clinics(m_settings.clinics);
    bool scheduling_done = false;
    auto next_cancel_look = SteadyClock::now();
    while (!stopping(stop)) {
        const auto now = SteadyClock::now();
        if (now >= deadline) {
            report.more_work = true;
            return;
        }
        // Cancels first: they keep a patient from a wrong SMS. They take no rate token. While none are
        // found, a worker looks again once a second, not before every hand-over.
        if (now >= next_cancel_look || scheduling_done) {
            if (auto cancel = queue.claim_for_cancelling(m_settings.lease_for, 1); !cancel.empty()) {
                cancel_claimed(queue, cancel.front(), report);
                continue;
            }
            next_cancel_look = now + std::chrono::seconds(1);
        }
        if (scheduling_done) return;
        if (!wait_for_token(queue, deadline, stop)) {
            if (!stopping(stop)) report.more_work = true;
            std::lock_guard<std::mutex> lock(m_rate.mutex);
            report.account_paused = SteadyClock::now() < m_rate.paused_until;
            return;
        }
        // The claim is the lease, taken right before the call: it fences the create.
        const std::optional<QueuedReminder> claimed = next_claimed(queue, deadline, stop);
        if (!claimed) {
            give_back_token();
            if (stopping(stop) || SteadyClock::now() >= deadline) continue;  // reported at the loop's top
            scheduling_done = true;
            continue;  // one more look for cancels, then done
        }
        schedule_claimed(queue, *claimed, report);
    }
    report.more_work = true;  // stopped
}

std::optional<QueuedReminder> Dispatcher::next_claimed(ReminderQueue& queue, SteadyClock::time_point deadline,
                                                       const StopRequested& stop) {
    std::unique_lock<std::mutex> lock(m_claims.mutex);
    const unsigned long empty_claims_before = m_claims.empty_claims;
    ++m_claims.waiting;
    struct Leave {
        int& waiting;
        ~Leave() { --waiting; }
    } leave{m_claims.waiting};
    while (true) {
        // Stopping starts no new call: what is claimed and not yet taken goes back at the pass's end.
        if (stopping(stop) || SteadyClock::now() >= deadline) return std::nullopt;
        if (!m_claims.ready.empty()) {
            QueuedReminder next = std::move(m_claims.ready.front());
            m_claims.ready.pop_front();
            return next;
        }
        if (m_claims.empty_claims != empty_claims_before) return std::nullopt;
        if (!m_claims.claiming) {
            m_claims.claiming = true;
            const int wanted = m_claims.waiting;
            lock.unlock();
            std::vector<QueuedReminder> claimed;
            try {
                claimed = queue.claim_for_scheduling(m_settings.horizon, m_settings.lease_for, wanted);
            } catch (...) {
                lock.lock();
                m_claims.claiming = false;
                m_claims.handed_out.notify_all();
                throw;
            }
            lock.lock();
            m_claims.claiming = false;
            // Fewer than wanted (rows locked by another node's claim, say): the rest claim again.
            if (claimed.empty()) ++m_claims.empty_claims;
            for (QueuedReminder& r : claimed) m_claims.ready.push_back(std::move(r));
            m_claims.handed_out.notify_all();
            continue;
        }
        m_claims.handed_out.wait_for(lock, std::chrono::milliseconds(100));
    }
}

DispatchReport Dispatcher::run_once(const StopRequested& stop) {
    DispatchReport report;
    {
        ReminderQueue queue(m_database, m_settings.owner);
        queue.set_clinics(m_settings.clinics);
        report.leases_released = queue.release_expired_leases();
        report.missed_slots = queue.expire_missed_slots(m_settings.late_grace);
        if (report.missed_slots) {
            m_logger.log(
                LogLevel::Warn, "SR0405",
                std::to_string(report.missed_slots) +
                    " reminder(s) missed their time while Sinch or this service was unavailable; marked "
                    "too_late");
        }
        if (!queue.account_state().paused(now_utc())) resolve_orphans(queue, report);
    }
    const auto deadline = SteadyClock::now() + m_settings.pass_budget;
    std::vector<DispatchReport> reports(static_cast<std::size_t>(m_settings.workers));
    std::vector<std::thread> workers;
    std::exception_ptr failure;
    std::mutex failure_mutex;
    // On the first pass the workers start a few milliseconds apart, so many do not all open their first
    // PostgreSQL connection (and TLS connection to Sinch) in the same instant; later passes find them open.
    const int stagger_ms = m_first_pass.exchange(false) ? 10 : 0;
    for (int i = 0; i < m_settings.workers; ++i) {
        workers.emplace_back([&, i] {
            try {
                if (stagger_ms) nap(std::chrono::milliseconds(std::min(i, 100) * stagger_ms), stop);
                work(deadline, stop, reports[static_cast<std::size_t>(i)]);
            } catch (...) {
                std::lock_guard<std::mutex> lock(failure_mutex);
                if (!failure) failure = std::current_exception();
            }
        });
    }
    for (std::thread& worker : workers) worker.join();
    for (const DispatchReport& part : reports) report += part;
    // Claimed for a worker that stopped waiting (stop, end of the budget) before taking it: back to where it
    // was ('unknown' stays unknown: it still needs its lookup), no attempt counted.
    std::deque<QueuedReminder> left_over;
    {
        std::lock_guard<std::mutex> lock(m_claims.mutex);
        left_over.swap(m_claims.ready);
    }
    if (!left_over.empty()) {
        ReminderQueue queue(m_database, m_settings.owner);
        queue.set_clinics(m_settings.clinics);
        for (const QueuedReminder& r : left_over) queue.release(r.id, r.claimed_from, std::nullopt);
        report.more_work = true;
    }
    if (failure) std::rethrow_exception(failure);
    return report;
}

// --- the request fast paths ------------------------------------------------------------------------------

std::string Dispatcher::hand_over_now(std::int64_t reminder_id) {
    ReminderQueue queue(m_database, m_settings.owner);
    queue.set_clinics(m_settings.clinics);
    if (try_take_token(queue) != Token::Taken) return "";  // the background pass hands it over
    const auto claimed =
        queue.claim_one_for_scheduling(reminder_id, m_settings.horizon, m_settings.lease_for);
    if (!claimed) {
        give_back_token();
        return "";
    }
    DispatchReport report;
    return schedule_claimed(queue, *claimed, report);
}

std::optional<ReminderClaim> Dispatcher::booking_claim() {
    ReminderQueue queue(m_database, m_settings.owner);
    queue.set_clinics(m_settings.clinics);
    if (try_take_token(queue) != Token::Taken) return std::nullopt;
    return ReminderClaim{m_settings.owner, m_settings.lease_for, m_settings.horizon};
}

void Dispatcher::booking_not_claimed() { give_back_token(); }

std::string Dispatcher::hand_over_booked(const AppointmentRecord& booked, const std::string& body) {
    // The create stored at most one reminder claimed (the earliest due within the horizon), for the token
    // booking_claim() took.
    const ReminderRecord* reminder = nullptr;
    for (const ReminderRecord* r : booked.current_reminders()) {
        if (r->status == reminder_status::scheduling) reminder = r;
    }
    if (!reminder) {
        give_back_token();
        return "";
    }
    QueuedReminder claimed;
    claimed.id = reminder->id;
    claimed.claimed_from = reminder_status::pending;
    claimed.client_reference = reminder->client_reference;
    claimed.batch_id = reminder->batch_id;
    claimed.send_at = reminder->send_at;
    claimed.reminder_created_at = reminder->created_at;
    claimed.attempts = reminder->attempts;
    claimed.appointment_id = booked.id;
    claimed.phone_e164 = booked.phone_e164;
    claimed.doctor_name = booked.doctor_name;
    claimed.time_zone = booked.time_zone;
    claimed.starts_at = booked.starts_at;
    claimed.superseded = booked.status == "active";
    claimed.body = body;
    claimed.delivery_report = reminder->delivery_report;
    claimed.callback_url = reminder->callback_url.value_or("");
    std::string status;
    {
        ReminderQueue queue(m_database, m_settings.owner);
        queue.set_clinics(m_settings.clinics);
        DispatchReport report;
        status = schedule_claimed(queue, claimed, report);
    }
    // The booking's other reminders due within the horizon (SinchReminderSchedule): each through the
    // ordinary fast path, which claims it (the fence) and takes its own token; without one it waits for the
    // background pass like any pending reminder.
    for (const ReminderRecord* other : booked.current_reminders()) {
        if (other->id != reminder->id && other->status == reminder_status::pending &&
            other->send_at <= now_utc() + m_settings.horizon) {
            hand_over_now(other->id);
        }
    }
    return status;
}

std::string Dispatcher::cancel_now(std::int64_t reminder_id) {
    ReminderQueue queue(m_database, m_settings.owner);
    queue.set_clinics(m_settings.clinics);
    // Another worker (a background pass, or a create still in flight) may hold the reminder. Waiting for it,
    // up to one Sinch call, lets the page or API answer say how the cancel ended instead of 'cancelling';
    // if it lets go without finishing, this request takes the cancel over.
    const auto give_up = std::chrono::steady_clock::now() + k_wait_for_another_cancel;
    for (;;) {
        if (const auto claimed = queue.claim_one_for_cancelling(reminder_id, m_settings.lease_for)) {
            DispatchReport report;
            return cancel_claimed(queue, *claimed, report);
        }
        if (!queue.held_for_cancelling_elsewhere(reminder_id) ||
            std::chrono::steady_clock::now() >= give_up) {
            return "";
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

}  // namespace sr
