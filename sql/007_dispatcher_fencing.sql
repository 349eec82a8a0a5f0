-- Dispatcher (issue 11): an account-wide pause, and batches created by a process that had lost its lease.

-- While paused_until is in the future no process on any node calls the SMS API: a 429 / Retry-After pauses for
-- as long as Sinch asked; refused credentials (401/403) pause with a backoff that doubles per failed probe
-- (auth_failures), so a key rotation leaves reminders 'retrying' instead of failing them.
ALTER TABLE sinch_rate_bucket
    ADD COLUMN paused_until  timestamptz,
    ADD COLUMN pause_reason  text CHECK (pause_reason IN ('rate_limited', 'credentials_rejected')),
    ADD COLUMN pause_detail  text CHECK (length(pause_detail) <= 1000),
    ADD COLUMN auth_failures integer NOT NULL DEFAULT 0 CHECK (auth_failures >= 0);

-- A batch a process created (or may have created: batch_id NULL, outcome unknown) after its lease on the
-- reminder had been taken over. The dispatcher resolves each one: adopted if the reminder still needs a batch,
-- otherwise cancelled at Sinch, so a reminder revision never keeps two live batches.
CREATE TABLE orphan_batches (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reminder_id      bigint      NOT NULL REFERENCES reminders (id),
    batch_id         text,
    client_reference text        NOT NULL,
    found_by         text        NOT NULL,
    found_at         timestamptz NOT NULL DEFAULT now(),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text CHECK (length(last_error) <= 1000),
    UNIQUE (reminder_id, batch_id)
);
