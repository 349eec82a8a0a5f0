-- 014_reminder_schedule.sql: several reminders per appointment (issue 13, SinchReminderSchedule).
--
-- Each schedule entry of an appointment revision is its own reminder row, with its own status, batch and
-- client_reference. `slot` is the entry's position in the schedule (1 = the first, or the only one).
--
-- Rolling upgrade: a node still running the previous module version inserts reminders without `slot`, so
-- they get slot 1 and the same client_reference as before; it reads and updates reminders by id, and its
-- cancel/reschedule end every reminder of a revision (their WHERE names appointment and revision only).
--
-- client_reference stays 'sr-<appointment>-r<revision>' for slot 1, so every existing row, and every batch
-- already at Sinch that a lost answer or a delivery report must still be matched to, keeps its reference;
-- other slots get '-s<slot>' appended. PostgreSQL before 17 cannot change a generated column's expression, so
-- the column is dropped and added again: that REWRITES the reminders table under an ACCESS EXCLUSIVE lock
-- (reminders can be neither read nor written meanwhile; roughly a second per few hundred thousand rows). Run
-- the migration at a quiet hour on a large database. No index or constraint uses client_reference since 006
-- (it dropped reminders_client_reference_key; lookups by it go through (appointment_id, revision)), and no
-- view depends on it, so nothing else has to be re-created.
ALTER TABLE reminders ADD COLUMN IF NOT EXISTS slot smallint NOT NULL DEFAULT 1
    CONSTRAINT reminders_slot_range CHECK (slot BETWEEN 1 AND 10);

ALTER TABLE reminders DROP COLUMN client_reference;
ALTER TABLE reminders ADD COLUMN client_reference text NOT NULL GENERATED ALWAYS AS
    ('sr-' || appointment_id::text || '-r' || revision::text
     || CASE WHEN slot = 1 THEN '' ELSE '-s' || slot::text END) STORED;

-- One reminder per schedule entry of a revision. The new key has (appointment_id, revision) as its prefix,
-- so every statement the old key served (the reminders of an appointment, of its current revision; see 006)
-- uses this one instead.
ALTER TABLE reminders ADD CONSTRAINT reminders_appointment_id_revision_slot_key
    UNIQUE (appointment_id, revision, slot);
ALTER TABLE reminders DROP CONSTRAINT reminders_appointment_id_revision_key;
