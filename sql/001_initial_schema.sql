-- 001_initial_schema.sql: appointments, their SMS reminders, and the audit trail.
--
-- Applied by `sinch-reminder-admin migrate` (and the tests) in ONE transaction together with its row in
-- schema_migrations, so this file must not contain BEGIN/COMMIT. Needs PostgreSQL 13+ (gen_random_uuid()).
-- All times are TIMESTAMPTZ (an absolute instant); the IANA zone is stored beside them so a page can show the
-- clinic's wall time, and so a later tz-rules update can be rechecked against what staff typed.

-- Keeps updated_at honest whatever code path updates a row.
CREATE FUNCTION sr_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TABLE appointments (
    -- Random, so it can appear in confirmation URLs without letting anyone enumerate appointments.
    id                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    patient_name         text        NOT NULL CHECK (patient_name <> ''),
    doctor_name          text        NOT NULL CHECK (doctor_name <> ''),
    phone_e164           text        NOT NULL CONSTRAINT appointments_phone_e164_format
                                     CHECK (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
    starts_at            timestamptz NOT NULL,
    time_zone            text        NOT NULL CHECK (time_zone <> ''),
    -- The wall time exactly as staff entered it; starts_at is what it meant under the rules of the day.
    local_wall_time      text        NOT NULL CHECK
                                     (local_wall_time ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$'),
    wall_time_resolution text        NOT NULL DEFAULT 'exact'
                                     CHECK (wall_time_resolution IN
                                            ('exact', 'gap_shifted_forward', 'overlap_earlier_offset')),
    status               text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    -- Bumped by a reschedule; the reminder of the current revision is the live one.
    revision             integer     NOT NULL DEFAULT 1 CHECK (revision >= 1),
    -- The form's one-time token: a double submit finds the first appointment instead of creating a second.
    -- NULL for callers without one (several NULLs never conflict).
    submission_key       text        UNIQUE,
    created_by           text        NOT NULL DEFAULT 'anonymous',
    created_from         text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appointments_phone_e164_idx ON appointments (phone_e164);
CREATE INDEX appointments_starts_at_idx ON appointments (starts_at);
CREATE TRIGGER appointments_touch_updated_at BEFORE UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION sr_touch_updated_at();

-- One row per reminder revision. A reschedule adds a revision (and so a new client_reference) instead of
-- rewriting the old one, so the batch of the old revision can still be found and cancelled.
CREATE TABLE reminders (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    appointment_id   uuid        NOT NULL REFERENCES appointments (id),
    revision         integer     NOT NULL CHECK (revision >= 1),
    send_at          timestamptz NOT NULL,
    time_zone        text        NOT NULL CHECK (time_zone <> ''),
    status           text        NOT NULL DEFAULT 'pending'
                                 CONSTRAINT reminders_status_known CHECK (status IN (
                         'pending',        -- stored, not yet handed to Sinch (also: beyond the horizon)
                         'scheduling',     -- claimed by one process, which is calling Sinch now
                         'scheduled',      -- Sinch accepted it: batch_id is set
                         'retrying',       -- a retryable failure; next_attempt_at says when
                         'unknown',        -- the call's outcome is unknown: look up client_reference first
                         'failed',         -- Sinch refused it; last_error_* say why
                         'too_late',       -- the send slot had passed; deliberately not sent
                         'cancelling', 'cancel_failed', 'cancelled',
                         'superseded',     -- a reschedule replaced this revision
                         'sent')),
    -- Deterministic per revision, so a call whose response was lost can be found at Sinch again and a
    -- retry can never create a second batch unnoticed. Generated, so no code path can get it wrong.
    client_reference text        NOT NULL UNIQUE GENERATED ALWAYS AS
                                 ('sr-' || appointment_id::text || '-r' || revision::text) STORED,
    batch_id         text        UNIQUE,
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error_code  text,
    last_error_text  text,
    last_http_status integer,
    next_attempt_at  timestamptz,
    -- Which process holds the reminder and until when; a killed process's lease simply expires.
    lease_owner      text,
    lease_until      timestamptz,
    -- The latest delivery report from Sinch.
    delivery_status  text,
    delivery_code    integer,
    delivery_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (appointment_id, revision),
    CONSTRAINT reminders_scheduled_has_batch CHECK (status <> 'scheduled' OR batch_id IS NOT NULL),
    CONSTRAINT reminders_lease_complete CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
);
CREATE INDEX reminders_status_next_attempt_idx ON reminders (status, next_attempt_at);
CREATE INDEX reminders_send_at_idx ON reminders (send_at);
CREATE TRIGGER reminders_touch_updated_at BEFORE UPDATE ON reminders
    FOR EACH ROW EXECUTE FUNCTION sr_touch_updated_at();

-- Who did what to which appointment, from where. Append-only by convention; details never hold the phone
-- number or the message text (the appointment row has them).
CREATE TABLE audit_log (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    appointment_id uuid        REFERENCES appointments (id),
    action         text        NOT NULL CHECK (action <> ''),
    actor          text        NOT NULL,
    remote_addr    text,
    at             timestamptz NOT NULL DEFAULT now(),
    details        jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_appointment_at_idx ON audit_log (appointment_id, at);
