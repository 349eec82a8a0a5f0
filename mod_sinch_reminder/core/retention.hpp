#pragma once
// Retention (SinchReminderRetention, `sinch-reminder-admin purge`): the patient data of appointments that
// ended long enough ago is anonymised, in small transactions so bookings are never blocked for long.
//
// Anonymised: the patient's name ("(removed)"), the phone number (""), the booking's client address and
// submission key, the SMS text and Sinch's error text of every reminder, and the details and client
// address of every audit row. Kept, for statistics: the rows themselves with their times, doctor,
// statuses, delivery results and who booked, so counts per day, doctor or outcome still work.
// Audit rows of no appointment (e.g. list reads) older than the retention are cleared the same way.
#include <chrono>
#include <optional>
#include <string>

#include "core/logger.hpp"
#include "core/pg_pool.hpp"

namespace sr {

struct RetentionReport {
    long long appointments = 0;  // anonymised (dry run: would be)
    long long reminders = 0;
    long long audit_rows = 0;
    long long expired_nonces = 0;          // callback nonces past their replay window, forgotten
    long long expired_booking_counts = 0;  // per-user booking counts older than an hour, forgotten
    int transactions = 0;
    std::string summary() const;
};

// Anonymises what is older than `retention` after its appointment (0: nothing; the housekeeping of
// expired nonces and booking counts is done all the same), `batch_size` appointments (and as many
// audit rows) per transaction, pausing after each as long as it took. With dry_run, only counts. Throws
// DatabaseUnavailable.
RetentionReport purge_patient_data(PgPool& database, std::chrono::seconds retention, bool dry_run,
                                   int batch_size = 200);

// For the dispatcher's watchdog: at most once a day per database, whichever process of whichever node
// asks first after the day has passed, runs purge_patient_data and logs what it did (info). Returns the
// report when it ran. Throws DatabaseUnavailable.
std::optional<RetentionReport> purge_patient_data_if_due(PgPool& database, std::chrono::seconds retention,
                                                         Logger& logger);

}  // namespace sr
