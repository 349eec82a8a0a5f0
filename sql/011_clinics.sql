-- 011_clinics.sql: every appointment belongs to a clinic (issue 13).
--
-- A clinic is a mount of the module (<Location> with SinchReminderClinic key). Pages, lists, the API and
-- the audit trail of a mount show only its clinic's appointments; the dispatcher, the reconciler and the
-- tz-recheck of a node touch only the reminders of clinics that node's configuration has (a reminder
-- belongs to its appointment's clinic, so reminders carry no copy of the key).
--
-- Existing rows belong to the one clinic the server had: 'default', the key of a mount that names none.
-- The DEFAULT stays so a node still running the previous module version during a rolling upgrade books
-- into that clinic too. Adding a column with a constant default rewrites nothing (PostgreSQL >= 11).
ALTER TABLE appointments ADD COLUMN IF NOT EXISTS clinic text NOT NULL DEFAULT 'default';

-- The same rule as the directive (SinchReminderClinic): the key appears in logs, /health and URLs.
-- NOT VALID then VALIDATE: the check of existing rows does not block bookings while it reads the table.
ALTER TABLE appointments DROP CONSTRAINT IF EXISTS appointments_clinic_key;
ALTER TABLE appointments ADD CONSTRAINT appointments_clinic_key
    CHECK (clinic ~ '^[a-z0-9][a-z0-9_-]{0,62}$') NOT VALID;
ALTER TABLE appointments VALIDATE CONSTRAINT appointments_clinic_key;

-- No index of its own: a clinic's list stays a range of appointments_starts_at_id_idx filtered by clinic.
-- With one clinic (most sites) the filter removes nothing, and a second (clinic, starts_at, id) index would
-- cost every booking one more index entry; with a few clinics a list reads the other clinics' rows of the
-- same dates too, a small factor on a bounded range.
