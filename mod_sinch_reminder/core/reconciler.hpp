#pragma once
// Reconciliation: compares what PostgreSQL says about reminders that reached Sinch with what Sinch
// says about their batches (GET /batches/{id}), fixes what is safe to fix and flags the rest for staff
// (reminders.attention, shown on the list and the appointment page, plus an audit row).
//
//   local                    Sinch                           action
//   cancelled / superseded   live, send_at still ahead       cancel the batch now (the cancel never arrived)
//   cancelled / superseded   not cancelled, send_at passed   flag: it was sent although cancelled; mark sent
//   cancelled / superseded   cancelled or 404                settled
//   scheduled                cancelled at Sinch               flag: no SMS will go (dashboard?); settled
//   scheduled                404                              flag
//   scheduled                send_at differs                  flag (never moved silently)
//   scheduled                send_at passed, not cancelled    mark sent; settled
//   sent                     cancelled                        flag
//   sent                     anything else                    settled
//
// Only reminders with a batch id, due from `window` ago onwards and not settled are looked at, each at
// most once per `recheck_after`, at most `limit` per pass. Claims use FOR UPDATE SKIP LOCKED, so nodes
// running it at once share the work. Reminders the dispatcher holds (a lease) are left alone.
#include <chrono>
#include <string>
#include <vector>

#include "core/logger.hpp"
#include "core/pg_pool.hpp"
#include "core/sinch_client.hpp"

namespace sr {

struct ReconcileSettings {
    std::chrono::seconds window{48 * 3600};
    std::chrono::seconds recheck_after{3600};
    int limit = 50;
    std::vector<std::string> clinics;  // only these clinics' reminders (SinchReminderClinic keys); empty: all
};

struct ReconcileReport {
    int checked = 0;
    int cancelled_at_sinch = 0;  // a cancel that had not reached Sinch, done now
    int marked_sent = 0;
    int marked_failed = 0;  // Sinch's delivery report says it could not send the batch
    int flagged = 0;
    int settled = 0;
    int errors = 0;  // Sinch could not be asked; tried again next pass
    bool idle() const { return checked == 0; }
    std::string summary() const;
};

// One pass. Throws DatabaseUnavailable if PostgreSQL is gone; Sinch failures are counted, not thrown.
ReconcileReport reconcile(PgPool& database, SinchClient& sinch, Logger& logger,
                          const ReconcileSettings& settings = ReconcileSettings{});

}  // namespace sr
