#include "core/reminder_queue.hpp"

#include <pqxx/pqxx>

#include <iterator>
#include <thread>

namespace sr {

namespace {

// The columns every claim returns, in QueuedReminder's order. `was` is the status before the claim.
#define SR_QUEUED_COLUMNS                                                                                    \
    " r.id, due.was, r.client_reference, r.batch_id, floor(extract(epoch FROM r.send_at))::bigint,"          \
    " floor(extract(epoch FROM r.created_at))::bigint, r.attempts, a.id::text, a.phone_e164, a.doctor_name," \
    " a.time_zone, floor(extract(epoch FROM a.starts_at))::bigint, (a.status = 'active'), r.body,"           \
    " r.delivery_report, coalesce(r.callback_url, '') "

// Nothing is claimed while the account is paused (429 / refused credentials), by any process.
#define SR_ACCOUNT_NOT_PAUSED \
    " NOT EXISTS (SELECT 1 FROM sinch_rate_bucket b WHERE b.id = 1 AND b.paused_until > now())"

// A reminder belongs to its appointment's clinic; a queue with clinics set touches only theirs (a node
// whose configuration lacks a clinic leaves its reminders to the nodes that have it). `a` is the appointment.
#define SR_OF_CLINICS(param) "(cardinality(" param "::text[]) = 0 OR a.clinic = ANY(" param "::text[]))"
#define SR_REMINDER_OF_CLINICS(param) \
    " (SELECT " SR_OF_CLINICS(param) " FROM appointments a WHERE a.id = r.appointment_id)"

// Pending reminders enter the horizon; retrying and unknown ones wait for their next attempt (they were
// claimed inside the horizon, so their send_at is inside it too). Only the current revision of an active
// appointment is ever handed to Sinch: its appointment is looked up per candidate through the primary key
// (a join with an OR of time conditions made the planner hash a full scan of appointments for every claim).
// $1 horizon, $2 lease, $3 owner, $5 clinics.
#define SR_DUE_FOR_SCHEDULING                                                          \
    SR_ACCOUNT_NOT_PAUSED                                                              \
    " AND r.status IN ('pending', 'retrying', 'unknown')"                              \
    " AND r.send_at <= now() + make_interval(secs => $1)"                              \
    " AND coalesce(r.next_attempt_at, now()) <= now()"                                 \
    " AND (SELECT a.status = 'active' AND a.revision = r.revision AND " SR_OF_CLINICS( \
        "$5") "      FROM appointments a WHERE a.id = r.appointment_id)"

#define SR_CLAIM_FOR_SCHEDULING(selection)                                                        \
    "WITH due AS (SELECT r.id, r.status AS was FROM reminders r"                                  \
    " WHERE " SR_DUE_FOR_SCHEDULING selection                                                     \
    " FOR UPDATE OF r SKIP LOCKED)"                                                               \
    " UPDATE reminders r SET status = 'scheduling', attempts = r.attempts + 1, lease_owner = $3," \
    " lease_until = now() + make_interval(secs => $2)"                                            \
    " FROM due, appointments a WHERE r.id = due.id AND a.id = r.appointment_id RETURNING" SR_QUEUED_COLUMNS

// Cancels wait until no create call holds the reminder. $1 unused (0), $2 lease, $3 owner, $5 clinics.
#define SR_CLAIM_FOR_CANCELLING(selection)                                                            \
    "WITH due AS (SELECT r.id, r.status AS was FROM reminders r"                                      \
    " WHERE" SR_ACCOUNT_NOT_PAUSED                                                                    \
    " AND (r.status = 'cancelling' OR (r.status = 'cancel_failed'"                                    \
    " AND coalesce(r.next_attempt_at, now()) <= now())) AND coalesce(r.lease_until, now()) <= now()"  \
    " AND $1 >= 0 AND" SR_REMINDER_OF_CLINICS("$5") selection                                         \
        " FOR UPDATE OF r SKIP LOCKED)"                                                               \
        " UPDATE reminders r SET status = 'cancelling', attempts = r.attempts + 1, lease_owner = $3," \
        " lease_until = now() + make_interval(secs => $2)"                                            \
        " FROM due, appointments a WHERE r.id = due.id AND a.id = r.appointment_id "                  \
        "RETURNING" SR_QUEUED_COLUMNS

const char* const k_claim_for_scheduling = SR_CLAIM_FOR_SCHEDULING(" ORDER BY r.send_at LIMIT $4");
const char* const k_claim_one_for_scheduling = SR_CLAIM_FOR_SCHEDULING(" AND r.id = $4");
const char* const k_claim_for_cancelling = SR_CLAIM_FOR_CANCELLING(" ORDER BY r.send_at LIMIT $4");
const char* const k_claim_one_for_cancelling = SR_CLAIM_FOR_CANCELLING(" AND r.id = $4");

#undef SR_CLAIM_FOR_CANCELLING
#undef SR_CLAIM_FOR_SCHEDULING
#undef SR_DUE_FOR_SCHEDULING
#undef SR_QUEUED_COLUMNS

Instant instant_of(const pqxx::field& field) { return Instant(std::chrono::seconds(field.as<long long>())); }

}  // namespace

template <class Work>
auto ReminderQueue::with_lease(Work&& work) {
    if (m_lease) return work(*m_lease);
    PgLease lease = m_pool->acquire();
    return work(lease);
}

template <class Work>
auto ReminderQueue::on_connection(const char* operation, Work&& work) {
    return with_lease([&](PgLease& lease) { return with_connection(lease, operation, work); });
}

template <class... Params>
pqxx::result ReminderQueue::run_one(const char* operation, const char* name, const std::string& sql,
                                    Params&&... params) {
    return with_lease([&](PgLease& lease) { return run_prepared(lease, operation, name, sql, params...); });
}

int ReminderQueue::release_expired_leases() {
    return on_connection("release expired leases", [&](pqxx::connection& c) {
        pqxx::work txn(c);
        // A scheduling call whose process died may have created the batch: look it up before resending.
        const pqxx::result scheduling = txn.exec_params(
            "UPDATE reminders r SET status = 'unknown', lease_owner = NULL, lease_until = NULL,"
            " next_attempt_at = now(), last_error_code = 'lease_expired',"
            " last_error_text = 'the process handing this reminder to Sinch stopped before it finished'"
            " WHERE status = 'scheduling' AND lease_until < now() AND" SR_REMINDER_OF_CLINICS("$1"),
            m_clinics);
        // A cancel whose process died (or whose create call died) is simply claimed again.
        const pqxx::result cancelling = txn.exec_params(
            "UPDATE reminders r SET lease_owner = NULL, lease_until = NULL"
            " WHERE status = 'cancelling' AND lease_until < now() AND" SR_REMINDER_OF_CLINICS("$1"),
            m_clinics);
        txn.commit();
        return static_cast<int>(scheduling.affected_rows() + cancelling.affected_rows());
    });
}

int ReminderQueue::expire_missed_slots(std::chrono::seconds grace) {
    return on_connection("expire missed slots", [&](pqxx::connection& c) {
        pqxx::work txn(c);
        const pqxx::result rows = txn.exec_params(
            "UPDATE reminders r SET status = 'too_late', next_attempt_at = NULL, last_error_code = "
            "'slot_missed',"
            " last_error_text = 'the reminder could not be handed to Sinch before its time had passed'"
            " WHERE status IN ('pending', 'retrying') AND send_at < now() - make_interval(secs => $1) "
            "AND" SR_REMINDER_OF_CLINICS("$2"),
            static_cast<double>(grace.count()), m_clinics);
        txn.commit();
        return static_cast<int>(rows.affected_rows());
    });
}

std::vector<QueuedReminder> ReminderQueue::claim(const char* name, const std::string& sql,
                                                 std::chrono::seconds horizon, std::chrono::seconds lease_for,
                                                 std::int64_t id_or_limit) {
    const pqxx::result rows =
        run_one("claim reminders", name, sql, static_cast<double>(horizon.count()),
                static_cast<double>(lease_for.count()), m_owner, id_or_limit, m_clinics);
    std::vector<QueuedReminder> claimed;
    for (const auto& row : rows) {
        QueuedReminder q;
        q.id = row[0].as<std::int64_t>();
        q.claimed_from = row[1].as<std::string>();
        q.client_reference = row[2].as<std::string>();
        if (!row[3].is_null()) q.batch_id = row[3].as<std::string>();
        q.send_at = instant_of(row[4]);
        q.reminder_created_at = instant_of(row[5]);
        q.attempts = row[6].as<int>();
        q.appointment_id = row[7].as<std::string>();
        q.phone_e164 = row[8].as<std::string>();
        q.doctor_name = row[9].as<std::string>();
        q.time_zone = row[10].as<std::string>();
        q.starts_at = instant_of(row[11]);
        q.superseded = row[12].as<bool>();  // appointment still active: this revision was replaced
        q.body = row[13].as<std::string>();
        q.delivery_report = row[14].as<std::string>();
        q.callback_url = row[15].as<std::string>();
        claimed.push_back(std::move(q));
    }
    return claimed;
}

std::vector<QueuedReminder> ReminderQueue::claim_for_scheduling(std::chrono::seconds horizon,
                                                                std::chrono::seconds lease_for, int limit) {
    return claim("sr_claim_for_scheduling", k_claim_for_scheduling, horizon, lease_for, limit);
}

std::vector<QueuedReminder> ReminderQueue::claim_for_cancelling(std::chrono::seconds lease_for, int limit) {
    return claim("sr_claim_for_cancelling", k_claim_for_cancelling, std::chrono::seconds(0), lease_for,
                 limit);
}

std::optional<QueuedReminder> ReminderQueue::claim_one_for_scheduling(std::int64_t id,
                                                                      std::chrono::seconds horizon,
                                                                      std::chrono::seconds lease_for) {
    auto claimed = claim("sr_claim_one_for_scheduling", k_claim_one_for_scheduling, horizon, lease_for, id);
    if (claimed.empty()) return std::nullopt;
    return std::move(claimed.front());
}

std::optional<QueuedReminder> ReminderQueue::claim_one_for_cancelling(std::int64_t id,
                                                                      std::chrono::seconds lease_for) {
    auto claimed = claim("sr_claim_one_for_cancelling", k_claim_one_for_cancelling, std::chrono::seconds(0),
                         lease_for, id);
    if (claimed.empty()) return std::nullopt;
    return std::move(claimed.front());
}

bool ReminderQueue::held_for_cancelling_elsewhere(std::int64_t id) {
    return !run_one("checking who cancels a reminder", "sr_held_for_cancelling_elsewhere",
                    "SELECT 1 FROM reminders WHERE id = $1 AND status = 'cancelling' AND lease_until > now()"
                    " AND lease_owner <> $2",
                    id, m_owner)
                .empty();
}

namespace {

constexpr const char* k_held = " WHERE id = $1 AND lease_owner = $2";
constexpr const char* k_release_lease = "lease_owner = NULL, lease_until = NULL";

std::optional<long long> epoch_or_null(std::optional<Instant> instant) {
    if (!instant) return std::nullopt;
    return instant->time_since_epoch().count();
}

}  // namespace

// Applies one outcome to a reminder this owner holds; false if the lease was lost meanwhile.
template <class... Params>
bool ReminderQueue::update_held(const char* name, const std::string& sql, Params&&... params) {
    // An outcome that is not recorded costs a lease's wait and a lookup (the batch exists at Sinch): a
    // passing database hiccup (a connection storm, a failover) gets a few more tries. Each update only
    // applies while this owner holds the lease, so a try that did apply before its answer was lost makes the
    // next one a no-op.
    constexpr std::chrono::milliseconds k_waits[] = {std::chrono::milliseconds(200), std::chrono::seconds(1),
                                                     std::chrono::seconds(2)};
    for (std::size_t attempt = 0;; ++attempt) {
        try {
            return run_one(name, name, sql, params...).affected_rows() == 1;
        } catch (const DatabaseUnavailable&) {
            if (attempt == std::size(k_waits)) throw;
            std::this_thread::sleep_for(k_waits[attempt]);
        }
    }
}

bool ReminderQueue::scheduled(std::int64_t id, const std::string& batch_id) {
    return update_held(
        "sr_mark_scheduled",
        std::string("UPDATE reminders SET batch_id = $3, next_attempt_at = NULL,"
                    " status = CASE status WHEN 'scheduling' THEN 'scheduled' ELSE status END,"
                    " last_error_code = NULL, last_error_text = NULL, last_http_status = NULL, ") +
            k_release_lease + k_held + " AND status IN ('scheduling', 'cancelling')",
        id, m_owner, batch_id);
}

bool ReminderQueue::failed(std::int64_t id, const std::string& status, int http_status,
                           const std::string& code, const std::string& text,
                           std::optional<Instant> next_attempt_at) {
    return update_held("sr_mark_failed",
                       std::string("UPDATE reminders SET last_http_status = nullif($4, 0),"
                                   " status = CASE status WHEN 'scheduling' THEN $3 ELSE status END,"
                                   " last_error_code = nullif($5, ''), last_error_text = left($6, 1000),"
                                   " next_attempt_at = to_timestamp($7), ") +
                           k_release_lease + k_held + " AND status IN ('scheduling', 'cancelling')",
                       id, m_owner, status, http_status, code, text, epoch_or_null(next_attempt_at));
}

bool ReminderQueue::release(std::int64_t id, const std::string& status,
                            std::optional<Instant> next_attempt_at) {
    return update_held("sr_release",
                       std::string("UPDATE reminders SET status = $3, attempts = greatest(attempts - 1, 0),"
                                   " next_attempt_at = to_timestamp($4), ") +
                           k_release_lease + k_held + " AND status = 'scheduling'",
                       id, m_owner, status, epoch_or_null(next_attempt_at));
}

bool ReminderQueue::cancelled(std::int64_t id, const std::string& final_status,
                              const std::optional<std::string>& batch_id) {
    return update_held("sr_mark_cancelled",
                       std::string("UPDATE reminders SET status = $3, batch_id = coalesce(batch_id, $4),"
                                   " next_attempt_at = NULL, ") +
                           k_release_lease + k_held + " AND status = 'cancelling'",
                       id, m_owner, final_status, batch_id);
}

bool ReminderQueue::cancel_failed(std::int64_t id, int http_status, const std::string& code,
                                  const std::string& text, Instant next_attempt_at) {
    return update_held(
        "sr_mark_cancel_failed",
        std::string("UPDATE reminders SET status = 'cancel_failed', last_http_status = nullif($3, 0),"
                    " last_error_code = nullif($4, ''), last_error_text = left($5, 1000),"
                    " next_attempt_at = to_timestamp($6), ") +
            k_release_lease + k_held + " AND status = 'cancelling'",
        id, m_owner, http_status, code, text, next_attempt_at.time_since_epoch().count());
}

bool ReminderQueue::fence(std::int64_t id, std::chrono::seconds lease_for) {
    return run_one("fencing a Sinch call", "sr_fence",
                   "UPDATE reminders SET lease_until = now() + make_interval(secs => $3)"
                   " WHERE id = $1 AND lease_owner = $2 AND lease_until > now()"
                   " AND status IN ('scheduling', 'cancelling') AND" SR_ACCOUNT_NOT_PAUSED,
                   id, m_owner, static_cast<double>(lease_for.count()))
               .affected_rows() == 1;
}

#undef SR_ACCOUNT_NOT_PAUSED

RateTake ReminderQueue::take_rate_tokens(double per_second, double burst, int wanted, int returning) {
    // While paused nothing is taken (returned tokens still go back); the answer says for how long.
    const pqxx::result rows = run_one(
        "take rate tokens", "sr_take_rate_tokens",
        "WITH bucket AS (SELECT at, least($2, tokens + extract(epoch FROM at - refilled_at) * $1 + $4)"
        " AS available, coalesce(paused_until > at, false) AS paused, paused_until, pause_reason, "
        "auth_failures"
        " FROM sinch_rate_bucket, clock_timestamp() AS at WHERE id = 1 FOR UPDATE OF sinch_rate_bucket),"
        " taken AS (SELECT at, available, CASE WHEN paused THEN 0"
        " ELSE greatest(0, least($3::float8, floor(available))) END AS count FROM bucket)"
        " UPDATE sinch_rate_bucket SET tokens = taken.available - taken.count, refilled_at = taken.at"
        " FROM taken, bucket WHERE id = 1 RETURNING taken.count::integer,"
        " CASE WHEN bucket.paused THEN ceil(extract(epoch FROM bucket.paused_until - taken.at) * 1000)"
        " ELSE 0 END::bigint, (bucket.pause_reason IS NOT NULL OR bucket.auth_failures > 0)",
        per_second, burst, wanted, returning);
    RateTake take;
    if (rows.empty()) return take;
    take.tokens = rows[0][0].as<int>();
    take.paused_for = std::chrono::milliseconds(rows[0][1].as<long long>());
    take.account_troubled = rows[0][2].as<bool>();
    return take;
}

void ReminderQueue::pause_for_rate_limit(std::chrono::seconds seconds, const std::string& detail) {
    run_one("pausing the Sinch account", "sr_pause_rate_limited",
            "UPDATE sinch_rate_bucket SET paused_until = greatest(paused_until,"
            " clock_timestamp() + make_interval(secs => $1)), pause_reason = CASE WHEN"
            " pause_reason = 'credentials_rejected' THEN pause_reason ELSE 'rate_limited' END,"
            " pause_detail = left($2, 1000) WHERE id = 1",
            static_cast<double>(seconds.count()), detail);
}

std::optional<int> ReminderQueue::pause_for_refused_credentials(std::chrono::seconds first,
                                                                std::chrono::seconds longest,
                                                                const std::string& detail) {
    const pqxx::result rows =
        run_one("pausing the Sinch account", "sr_pause_credentials",
                "UPDATE sinch_rate_bucket SET auth_failures = auth_failures + 1, pause_reason = "
                "'credentials_rejected',"
                " pause_detail = left($3, 1000), paused_until = clock_timestamp() + make_interval(secs =>"
                " least($2::float8, $1::float8 * power(2, least(auth_failures, 20))))"
                " WHERE id = 1 AND coalesce(paused_until, '-infinity') <= clock_timestamp() RETURNING "
                "auth_failures",
                static_cast<double>(first.count()), static_cast<double>(longest.count()), detail);
    if (rows.empty()) return std::nullopt;
    return rows[0][0].as<int>();
}

void ReminderQueue::account_recovered() {
    run_one("recording that Sinch works again", "sr_account_recovered",
            "UPDATE sinch_rate_bucket SET auth_failures = 0, pause_reason = NULL, pause_detail = NULL"
            " WHERE id = 1 AND (auth_failures > 0 OR pause_reason IS NOT NULL)"
            " AND coalesce(paused_until, '-infinity') <= clock_timestamp()");
}

AccountState ReminderQueue::account_state() {
    const pqxx::result rows =
        run_one("reading the Sinch account state", "sr_account_state",
                "SELECT floor(extract(epoch FROM paused_until))::bigint, coalesce(pause_reason, ''),"
                " coalesce(pause_detail, ''), auth_failures FROM sinch_rate_bucket WHERE id = 1");
    AccountState state;
    if (rows.empty()) return state;
    if (!rows[0][0].is_null()) state.paused_until = instant_of(rows[0][0]);
    state.pause_reason = rows[0][1].as<std::string>();
    state.pause_detail = rows[0][2].as<std::string>();
    state.auth_failures = rows[0][3].as<int>();
    return state;
}

void ReminderQueue::record_orphan(std::int64_t reminder_id, const std::optional<std::string>& batch_id,
                                  const std::string& client_reference, std::chrono::seconds look_after) {
    run_one("recording an orphan batch", "sr_record_orphan",
            "INSERT INTO orphan_batches (reminder_id, batch_id, client_reference, found_by, next_attempt_at)"
            " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))"
            " ON CONFLICT (reminder_id, batch_id) DO NOTHING",
            reminder_id, batch_id, client_reference, m_owner, static_cast<double>(look_after.count()));
}

OrphanWork ReminderQueue::claim_orphans(int limit, std::chrono::seconds lease_for) {
    return on_connection("resolving orphan batches", [&](pqxx::connection& c) {
        pqxx::work txn(c);
        // The reminder row is locked too, so no claim or adoption changes it while this decides.
        const pqxx::result rows = txn.exec_params(
            "SELECT o.id, o.reminder_id, o.batch_id, o.client_reference, o.attempts,"
            " floor(extract(epoch FROM r.created_at))::bigint, r.batch_id, r.status,"
            " (a.status = 'active' AND a.revision = r.revision), r.lease_until"
            " FROM orphan_batches o JOIN reminders r ON r.id = o.reminder_id"
            " JOIN appointments a ON a.id = r.appointment_id"
            " WHERE o.next_attempt_at <= now() AND " SR_OF_CLINICS("$2") " ORDER BY o.next_attempt_at LIMIT $1"
            " FOR UPDATE OF o, r SKIP LOCKED",
            limit, m_clinics);
        OrphanWork work;
        for (const pqxx::row& row : rows) {
            OrphanBatch orphan;
            orphan.id = row[0].as<std::int64_t>();
            orphan.reminder_id = row[1].as<std::int64_t>();
            if (!row[2].is_null()) orphan.batch_id = row[2].as<std::string>();
            orphan.client_reference = row[3].as<std::string>();
            orphan.attempts = row[4].as<int>();
            orphan.reminder_created_at = instant_of(row[5]);
            const std::optional<std::string> recorded =
                row[6].is_null() ? std::nullopt : std::optional(row[6].as<std::string>());
            const std::string status = row[7].as<std::string>();
            const bool current = row[8].as<bool>();
            auto claim_for_call = [&](std::vector<OrphanBatch>& into) {
                txn.exec_params(
                    "UPDATE orphan_batches SET attempts = attempts + 1,"
                    " next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
                    orphan.id, static_cast<double>(lease_for.count()));
                ++orphan.attempts;
                into.push_back(orphan);
            };
            if (status == "scheduling" || (status == "cancelling" && !row[9].is_null())) {
                // Another process is working on the reminder now: decide once it has recorded its outcome.
                txn.exec_params(
                    "UPDATE orphan_batches SET next_attempt_at = greatest(now() + interval '5 s', $2)"
                    " WHERE id = $1",
                    orphan.id, row[9].is_null() ? std::optional<std::string>() : row[9].as<std::string>());
                ++work.postponed;
            } else if (!orphan.batch_id) {
                claim_for_call(work.to_look_up);
            } else if (recorded == orphan.batch_id) {
                txn.exec_params("DELETE FROM orphan_batches WHERE id = $1", orphan.id);
                ++work.already_recorded;
            } else if (!recorded && current &&
                       (status == "pending" || status == "retrying" || status == "unknown")) {
                // The reminder still needs its batch: this one is it.
                txn.exec_params(
                    "UPDATE reminders SET batch_id = $2, status = 'scheduled', next_attempt_at = NULL,"
                    " last_error_code = NULL, last_error_text = NULL, last_http_status = NULL WHERE id = $1",
                    orphan.reminder_id, *orphan.batch_id);
                txn.exec_params("DELETE FROM orphan_batches WHERE id = $1", orphan.id);
                ++work.adopted;
            } else if (!recorded && (status == "cancelling" || status == "cancel_failed")) {
                // Being cancelled without a known batch: the cancel reaches this one.
                txn.exec_params("UPDATE reminders SET batch_id = $2 WHERE id = $1", orphan.reminder_id,
                                *orphan.batch_id);
                txn.exec_params("DELETE FROM orphan_batches WHERE id = $1", orphan.id);
                ++work.adopted;
            } else {
                claim_for_call(work.to_cancel);
            }
        }
        txn.commit();
        return work;
    });
}

void ReminderQueue::orphan_resolved(std::int64_t orphan_id) {
    run_one("resolving an orphan batch", "sr_orphan_resolved", "DELETE FROM orphan_batches WHERE id = $1",
            orphan_id);
}

void ReminderQueue::orphan_failed(std::int64_t orphan_id, const std::string& error, Instant next_attempt_at) {
    run_one("postponing an orphan batch", "sr_orphan_failed",
            "UPDATE orphan_batches SET last_error = left($2, 1000), next_attempt_at = to_timestamp($3)"
            " WHERE id = $1",
            orphan_id, error, static_cast<long long>(next_attempt_at.time_since_epoch().count()));
}

#undef SR_REMINDER_OF_CLINICS
#undef SR_OF_CLINICS

std::vector<std::pair<std::string, int>> ReminderQueue::waiting_in_other_clinics(
    std::chrono::seconds horizon) {
    std::vector<std::pair<std::string, int>> waiting;
    if (m_clinics == "{}") return waiting;
    const pqxx::result rows = run_one(
        "looking for reminders of other clinics", "sr_waiting_in_other_clinics",
        "SELECT a.clinic, count(*)::integer FROM reminders r JOIN appointments a ON a.id = r.appointment_id"
        " WHERE r.status IN ('pending', 'retrying', 'unknown')"
        " AND r.send_at <= now() + make_interval(secs => $1) AND a.clinic <> ALL($2::text[])"
        " GROUP BY a.clinic ORDER BY a.clinic",
        static_cast<double>(horizon.count()), m_clinics);
    for (const auto& row : rows) waiting.emplace_back(row[0].as<std::string>(), row[1].as<int>());
    return waiting;
}

void ReminderQueue::set_clinics(const std::vector<std::string>& clinics) {
    m_clinics = pg_clinic_array(clinics);
}

}  // namespace sr
