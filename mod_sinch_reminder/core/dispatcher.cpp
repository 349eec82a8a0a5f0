#include "core/dispatcher.hpp"

#include <algorithm>
#include <random>

#include "core/redact.hpp"
#include "core/store.hpp"

namespace sr {

namespace {

constexpr std::chrono::seconds k_max_retry{30 * 60};
// Sinch lists only batches created in the last 14 days.
constexpr std::chrono::hours k_lookup_window{14 * 24 - 1};

double jitter() {
    thread_local std::mt19937 random(std::random_device{}());
    return std::uniform_real_distribution<double>(0.8, 1.2)(random);
}

}  // namespace

bool DispatchReport::idle() const {
    return leases_released + missed_slots + scheduled + adopted + retrying + unknown + failed + too_late +
               deferred + cancelled + cancel_failed ==
           0;
}

std::string DispatchReport::summary() const {
    std::string out;
    auto add = [&](int n, const char* what) {
        if (n) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + what;
    };
    add(scheduled, "scheduled");
    add(adopted, "adopted after a lost answer");
    add(retrying, "to retry");
    add(unknown, "unknown (looked up next pass)");
    add(failed, "refused by Sinch");
    add(too_late, "too late");
    add(missed_slots, "missed their slot");
    add(deferred, "deferred by the rate limit");
    add(cancelled, "cancelled at Sinch");
    add(cancel_failed, "cancel failed (retried)");
    add(leases_released, "abandoned leases released");
    return out.empty() ? "nothing to do" : out;
}

Instant next_attempt_after(Instant now, std::chrono::seconds first, int attempts,
                           std::optional<int> retry_after_seconds) {
    auto delay = first * (1LL << std::clamp(attempts - 1, 0, 10));
    delay = std::min<std::chrono::seconds>(delay, k_max_retry);
    auto jittered = std::chrono::seconds(static_cast<long long>(delay.count() * jitter()));
    if (retry_after_seconds) jittered = std::max(jittered, std::chrono::seconds(*retry_after_seconds));
    return now + jittered;
}

Dispatcher::Dispatcher(PgPool& database, SinchClient& sinch, Logger& logger, DispatchSettings settings)
    : m_database(database), m_sinch(sinch), m_logger(logger), m_settings(std::move(settings)) {}

SinchResult Dispatcher::look_up(const QueuedReminder& reminder) {
    const Instant since =
        std::max(reminder.reminder_created_at, now_utc() - k_lookup_window) - std::chrono::hours(1);
    return m_sinch.find_by_client_reference(reminder.client_reference, since);
}

std::string Dispatcher::schedule_claimed(ReminderQueue& queue, const QueuedReminder& r,
                                         DispatchReport& report) {
    namespace s = reminder_status;
    const Instant now = now_utc();

    // A previous attempt may have created the batch: ask Sinch before creating one.
    if (r.claimed_from == s::unknown) {
        const SinchResult lookup = look_up(r);
        if (!lookup.ok()) {
            queue.failed(
                r.id, s::unknown, lookup.http_status, lookup.error_code, lookup.error_text,
                next_attempt_after(now, m_settings.first_retry, r.attempts, lookup.retry_after_seconds));
            ++report.unknown;
            return s::unknown;
        }
        if (lookup.batch) {
            queue.scheduled(r.id, lookup.batch->id);
            ++report.adopted;
            m_logger.log(LogLevel::Info, "",
                         "reminder " + r.client_reference + ": adopted batch " + lookup.batch->id +
                             " created by an earlier attempt");
            return s::scheduled;
        }
    }
    if (r.send_at + m_settings.late_grace < now) {
        queue.failed(r.id, s::too_late, 0, "slot_missed",
                     "the reminder could not be handed to Sinch before its time had passed", std::nullopt);
        ++report.too_late;
        return s::too_late;
    }
    if (!take_rate_token(queue)) {
        // Not an attempt: back to where it was, to be picked up again in a moment.
        const std::string back = r.claimed_from == s::unknown ? s::retrying : r.claimed_from;
        queue.release(r.id, back, now + std::chrono::seconds(1));
        ++report.deferred;
        report.rate_limited = true;
        return back;
    }

    ScheduleRequest request;
    request.to_e164 = r.phone_e164;
    request.body = r.body;
    request.delivery_report = r.delivery_report;
    request.callback_url = r.callback_url;
    request.client_reference = r.client_reference;
    request.send_at = r.send_at;
    SinchResult result = m_sinch.schedule(request);
    if (result.outcome == SinchOutcome::Unknown) {
        // Never resend blindly: see whether the create happened.
        const SinchResult lookup = look_up(r);
        if (lookup.ok() && lookup.batch) {
            result.outcome = SinchOutcome::Ok;
            result.batch = lookup.batch;
        }
    }
    switch (result.outcome) {
        case SinchOutcome::Ok:
            if (result.batch) {
                queue.scheduled(r.id, result.batch->id);
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
            queue.failed(
                r.id, s::retrying, result.http_status, result.error_code, result.error_text,
                next_attempt_after(now, m_settings.first_retry, r.attempts, result.retry_after_seconds));
            ++report.retrying;
            m_logger.log(LogLevel::Warn, "SR0402",
                         "reminder " + r.client_reference + " will be retried: Sinch " +
                             std::to_string(result.http_status) + " " + result.error_code);
            return s::retrying;
        case SinchOutcome::Unknown:
            queue.failed(r.id, s::unknown, result.http_status, result.error_code, result.error_text,
                         now + m_settings.first_retry);
            ++report.unknown;
            return s::unknown;
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
        const SinchResult lookup = look_up(r);
        if (!lookup.ok()) {
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
    }
    const SinchResult result = m_sinch.cancel_batch(*batch_id);
    const bool already_sent = (result.ok() && r.send_at <= now) ||
                              result.error_code == "batch_already_dispatched" ||
                              result.error_code == "conflict_send_at";
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
    queue.cancel_failed(
        r.id, result.http_status, result.error_code, result.error_text,
        next_attempt_after(now, m_settings.first_retry, r.attempts, result.retry_after_seconds));
    ++report.cancel_failed;
    m_logger.log(LogLevel::Error, "SR0404",
                 "reminder " + r.client_reference + ": cancelling batch " + *batch_id + " failed (HTTP " +
                     std::to_string(result.http_status) + ", " + result.error_code + "); it will be retried");
    return s::cancel_failed;
}

DispatchReport Dispatcher::run_once() {
    DispatchReport report;
    PgLease lease = m_database.acquire();
    ReminderQueue queue(lease, m_settings.owner);
    report.leases_released = queue.release_expired_leases();
    report.missed_slots = queue.expire_missed_slots(m_settings.late_grace);
    if (report.missed_slots) {
        m_logger.log(LogLevel::Warn, "SR0405",
                     std::to_string(report.missed_slots) +
                         " reminder(s) missed their time while Sinch or this service was unavailable; marked "
                         "too_late");
    }
    for (const QueuedReminder& r : queue.claim_for_cancelling(m_settings.lease_for, m_settings.claim_limit)) {
        cancel_claimed(queue, r, report);
    }
    const auto claimed =
        queue.claim_for_scheduling(m_settings.horizon, m_settings.lease_for, m_settings.claim_limit);
    for (std::size_t i = 0; i < claimed.size(); ++i) {
        if (report.rate_limited) {
            // The bucket is empty: give the rest back untouched for the next pass.
            const std::string back = claimed[i].claimed_from;
            queue.release(claimed[i].id, back, std::nullopt);
            ++report.deferred;
            continue;
        }
        schedule_claimed(queue, claimed[i], report);
    }
    return report;
}

bool Dispatcher::take_rate_token(ReminderQueue& queue) {
    const double per_second = m_settings.batches_per_second;
    std::lock_guard<std::mutex> lock(m_rate.mutex);
    const auto now = std::chrono::steady_clock::now();
    if (m_rate.tokens > 0 && now < m_rate.valid_until) {
        --m_rate.tokens;
        return true;
    }
    // Tokens left over from an expired allowance go back to the bucket in the same statement: a process
    // that needs fewer than a chunk per tenth of a second must not drain the shared rate for the others.
    const int wanted = std::max(1, static_cast<int>(per_second / 10));
    const int returning = m_rate.tokens;
    m_rate.tokens = 0;
    const int taken = queue.take_rate_tokens(per_second, std::max(1.0, per_second), wanted, returning);
    if (taken == 0) return false;
    m_rate.tokens = taken - 1;
    m_rate.valid_until = now + std::chrono::milliseconds(100);
    return true;
}

std::string Dispatcher::hand_over_now(std::int64_t reminder_id) {
    ReminderQueue queue(m_database, m_settings.owner);
    const auto claimed =
        queue.claim_one_for_scheduling(reminder_id, m_settings.horizon, m_settings.lease_for);
    if (!claimed) return "";
    DispatchReport report;
    return schedule_claimed(queue, *claimed, report);
}

ReminderClaim Dispatcher::booking_claim() const {
    return ReminderClaim{m_settings.owner, m_settings.lease_for, m_settings.horizon};
}

std::string Dispatcher::hand_over_booked(const AppointmentRecord& booked, const std::string& body) {
    const ReminderRecord* reminder = booked.current_reminder();
    if (!reminder || reminder->status != reminder_status::scheduling) return "";
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
    ReminderQueue queue(m_database, m_settings.owner);
    DispatchReport report;
    return schedule_claimed(queue, claimed, report);
}

std::string Dispatcher::cancel_now(std::int64_t reminder_id) {
    ReminderQueue queue(m_database, m_settings.owner);
    const auto claimed = queue.claim_one_for_cancelling(reminder_id, m_settings.lease_for);
    if (!claimed) return "";
    DispatchReport report;
    return cancel_claimed(queue, *claimed, report);
}

}  // namespace sr
