#include "core/reminder_scheduler.hpp"

#include "core/redact.hpp"

namespace sr {

namespace {

// How long to wait before retrying when Sinch did not say.
constexpr std::chrono::seconds k_default_retry_delay{60};

}  // namespace

ScheduleAttempt schedule_reminder(AppointmentStore& store, SinchClient& sinch, const ReminderRecord& reminder,
                                  const std::string& to_e164, const std::string& body, Logger& logger, Instant now) {
    ScheduleAttempt attempt;
    if (!store.claim_for_scheduling(reminder.id)) return attempt;
    attempt.attempted = true;

    ScheduleRequest request;
    request.to_e164 = to_e164;
    request.body = body;
    request.client_reference = reminder.client_reference;
    request.send_at = reminder.send_at;
    attempt.sinch = sinch.schedule(request);

    if (attempt.sinch.outcome == SinchOutcome::Unknown) {
        // The create may have happened. Ask Sinch before deciding anything.
        const SinchResult lookup =
            sinch.find_by_client_reference(reminder.client_reference, now - std::chrono::hours(1));
        if (lookup.ok() && lookup.batch && !lookup.batch->canceled) {
            logger.log(LogLevel::Info, "", "reminder " + reminder.client_reference +
                                               ": the create's answer was lost, adopted batch " + lookup.batch->id);
            attempt.sinch.outcome = SinchOutcome::Ok;
            attempt.sinch.batch = lookup.batch;
        }
    }

    if (attempt.sinch.ok() && attempt.sinch.batch) {
        store.mark_scheduled(reminder.id, attempt.sinch.batch->id);
        attempt.status = reminder_status::scheduled;
        attempt.batch_id = attempt.sinch.batch->id;
        if (logger.enabled(LogLevel::Debug)) {
            logger.log(LogLevel::Debug, "", "reminder " + reminder.client_reference + " to " + mask_phone(to_e164) +
                                                " scheduled at " + format_utc_iso_millis(reminder.send_at) +
                                                " as batch " + attempt.batch_id);
        }
        return attempt;
    }

    AttemptFailure failure;
    failure.code = attempt.sinch.error_code;
    failure.text = attempt.sinch.error_text;
    if (attempt.sinch.http_status) failure.http_status = attempt.sinch.http_status;
    switch (attempt.sinch.outcome) {
        case SinchOutcome::Retryable:
            failure.status = FailedAttemptStatus::Retrying;
            failure.next_attempt_at =
                now + (attempt.sinch.retry_after_seconds ? std::chrono::seconds(*attempt.sinch.retry_after_seconds)
                                                         : k_default_retry_delay);
            attempt.status = reminder_status::retrying;
            break;
        case SinchOutcome::Unknown:
            failure.status = FailedAttemptStatus::Unknown;
            attempt.status = reminder_status::unknown;
            break;
        default:
            failure.status = FailedAttemptStatus::Failed;
            attempt.status = reminder_status::failed;
            break;
    }
    store.mark_failed(reminder.id, failure);
    logger.log(LogLevel::Error, "SR0401",
               "reminder " + reminder.client_reference + " not scheduled: Sinch " + to_string(attempt.sinch.outcome) +
                   " (HTTP " + std::to_string(attempt.sinch.http_status) + ", code '" + attempt.sinch.error_code +
                   "'): " + attempt.sinch.error_text);
    return attempt;
}

}  // namespace sr
