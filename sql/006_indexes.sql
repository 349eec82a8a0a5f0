-- 006_indexes.sql: indexes that fit the queries, and no index that none needs (issue 17).
--
-- Each index below names the statements that use it; tests/plans/query_plans_test.cpp runs EXPLAIN (through
-- auto_explain) on every statement of the request paths, the dispatcher, the reconciler and tz-recheck over a
-- few hundred thousand rows and fails on a sequential scan of appointments or reminders.
--
-- On a large existing database the CREATE INDEX statements below block writes while they build. To avoid
-- that, build the new ones first with CREATE INDEX CONCURRENTLY and the same names and definitions (outside
-- a transaction, e.g. in psql); this migration then finds them (IF NOT EXISTS) and only drops the old ones.

-- Name search (list `q`, API `q`) is `patient_name ILIKE '%…%'`: a trigram index answers it. pg_trgm ships
-- with Debian's PostgreSQL and is a *trusted* extension since PostgreSQL 13, so the database owner (or any
-- role with CREATE on the database) may create it without superuser rights. Otherwise a superuser runs
-- `CREATE EXTENSION pg_trgm;` in this database once, and the migration is run again.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'migration 006 needs the pg_trgm extension and could not create it (%). Run, as a '
                    'superuser or the owner of database %: CREATE EXTENSION pg_trgm; then run migrate again',
                    SQLERRM, current_database()
        USING HINT = 'pg_trgm is in Debian''s postgresql-NN package; it is trusted since PostgreSQL 13, so the '
                     'database owner may create it.';
END
$$;

-- ---- appointments --------------------------------------------------------------------------------------
-- Kept: appointments_pkey (id): show, cancel, reschedule (`id = $1::uuid`), find_many, the claims' joins,
--       every foreign-key check of reminders and audit_log.
-- Kept: appointments_submission_key_key: the booking's ON CONFLICT (submission_key) and its replay lookup.

-- The lists (page and API) and tz-recheck: ORDER BY starts_at, id with keyset pagination on (starts_at, id)
-- and an optional starts_at range (the day's list). Replaces the index on starts_at alone.
CREATE INDEX IF NOT EXISTS appointments_starts_at_id_idx ON appointments (starts_at, id);
DROP INDEX IF EXISTS appointments_starts_at_idx;
-- (status, starts_at) served nothing the index above does not: status filters are checked while walking it.
DROP INDEX IF EXISTS appointments_status_starts_at_idx;

-- Name search: `patient_name ILIKE '%…%'` (at least 3 characters, so there is a trigram to look up).
CREATE INDEX IF NOT EXISTS appointments_patient_name_trgm_idx ON appointments USING gin (patient_name gin_trgm_ops);

-- Phone search: the whole number (`reverse(phone_e164) = reverse($e164)`) or its last digits
-- (`reverse(phone_e164) LIKE reverse($digits) || '%'`), both a range of this one index. Replaces the plain
-- index on phone_e164, which could not answer "ends with".
CREATE INDEX IF NOT EXISTS appointments_phone_suffix_idx ON appointments (reverse(phone_e164) text_pattern_ops);
DROP INDEX IF EXISTS appointments_phone_e164_idx;

-- ---- reminders -----------------------------------------------------------------------------------------
-- A booking inserts a reminder and updates it once (batch id, status); a delivery report updates it again.
-- Every update that changes status or batch_id adds an entry to every index (no HOT update), so each index
-- here is paid for several times per booking: a booking now adds 3 entries when it stores its reminder and 5
-- when it records the batch (before: 7 and 7). The indexes, of which only the first two hold every row:
-- Kept: reminders_pkey (id): every update by id, the claims of one reminder (`r.id = $4`).
-- Kept: reminders_appointment_id_revision_key: the reminders of an appointment (show, lists, cancel,
--       reschedule, tz-recheck, the scheduling claim's join `r.revision = a.revision`).
-- Kept: reminders_reconcile_idx (send_at) WHERE batch_id IS NOT NULL AND NOT reconcile_done: the
--       reconciler's claim (`send_at > now() - window`).

-- The dispatcher's work, one partial index per kind of claim, so each reads only the rows it may claim
-- (reminders_open_work_idx held all of them: a cancel claim or a lease check read every reminder still waiting
-- for its horizon, often most of the open rows). Each reminder is in at most one of the first two at a time.
-- Reminders waiting for their send slot or a retry: the scheduling claim (pending / retrying / unknown,
-- ORDER BY send_at) and expire_missed_slots (pending / retrying, send_at < now() - grace).
CREATE INDEX IF NOT EXISTS reminders_due_idx ON reminders (send_at)
    WHERE status IN ('pending', 'retrying', 'unknown');
-- Reminders a process holds while it calls Sinch (a few per process at a time): release_expired_leases reads
-- them all and checks lease_until. Keyed on send_at, not lease_until, so renewing a lease changes no indexed
-- column and stays a HOT update.
CREATE INDEX IF NOT EXISTS reminders_in_flight_idx ON reminders (send_at)
    WHERE status IN ('scheduling', 'cancelling');
-- Batches to cancel: the cancelling claim (cancelling / cancel_failed, ORDER BY send_at).
CREATE INDEX IF NOT EXISTS reminders_cancel_work_idx ON reminders (send_at)
    WHERE status IN ('cancelling', 'cancel_failed');
DROP INDEX IF EXISTS reminders_open_work_idx;

-- The list's status filters for what needs a human (`problem`, and each of its parts: retrying, unknown,
-- failed, too_late, cancel_failed, attention, not_delivered) are rare among years of sent reminders: without
-- this index they read every reminder. Its predicate is the `problem` filter's condition
-- (appointment_query.cpp), so only reminders with a problem have an entry.
CREATE INDEX IF NOT EXISTS reminders_problem_idx ON reminders (appointment_id)
    WHERE status IN ('retrying', 'unknown', 'failed', 'too_late', 'cancel_failed') OR attention IS NOT NULL
       OR delivery_status IN ('Failed', 'Aborted', 'Rejected', 'Expired', 'Deleted', 'Unknown');

-- The status filters `scheduled` and `superseded` (list page and API): without an index on them the
-- planner reads every reminder for a filter that matches few of years of rows. One entry per booking (when its
-- batch is recorded); a delivery report's 'sent' leaves it.
CREATE INDEX IF NOT EXISTS reminders_scheduled_idx ON reminders (appointment_id)
    WHERE status IN ('scheduled', 'superseded');

-- Delivery reports find their reminder by batch_id. Only reminders that reached Sinch have one, so the
-- index leaves out the NULLs (a booking's INSERT no longer adds an entry). Still unique.
CREATE UNIQUE INDEX IF NOT EXISTS reminders_batch_id_idx ON reminders (batch_id) WHERE batch_id IS NOT NULL;
ALTER TABLE reminders DROP CONSTRAINT IF EXISTS reminders_batch_id_key;

-- client_reference is generated from (appointment_id, revision), which are unique together already
-- (reminders_appointment_id_revision_key): its own unique index only cost an entry per insert and update.
-- A lookup by client_reference uses that index: appointment_id = substr(ref, 4, 36)::uuid AND revision = ….
ALTER TABLE reminders DROP CONSTRAINT IF EXISTS reminders_client_reference_key;

-- (status, next_attempt_at) and (send_at) covered every reminder ever stored; no statement needs them: the
-- dispatcher's work is in the partial indexes above, reconciliation's in reminders_reconcile_idx.
DROP INDEX IF EXISTS reminders_status_next_attempt_idx;
DROP INDEX IF EXISTS reminders_send_at_idx;

-- Room on each page for an updated row version, so updates that change no indexed column stay on their page
-- and add no index entries (HOT): a lease renewed or released without a status change, next_attempt_at,
-- last_error_*, reconciled_at, updated_at. (status, batch_id, send_at, reconcile_done, attention and
-- delivery_status are in an index or an index's WHERE: changing them is never HOT.) Applies to new pages.
ALTER TABLE reminders SET (fillfactor = 85);
