-- Staff operations (issue 6): delivery reports, reconciliation, and what each batch is created with.

-- The secret token in the delivery-report callback URL ({base}{mount}/callbacks/sinch/{token}) when no
-- SinchReminderCallbackSecretFile (HMAC) is configured. Shared by every node, like form_token_key.
INSERT INTO module_secrets (name, value)
VALUES ('callback_token', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));

-- What the batch of this reminder asks Sinch for, decided when the reminder is created (booking or
-- reschedule), so whichever node hands it over sends exactly this. NULL callback_url: none is sent
-- (the service plan's default applies).
ALTER TABLE reminders
    ADD COLUMN delivery_report text NOT NULL DEFAULT 'none'
        CONSTRAINT reminders_delivery_report_known
        CHECK (delivery_report IN ('none', 'summary', 'full', 'per_recipient', 'per_recipient_final')),
    ADD COLUMN callback_url text CHECK (length(callback_url) <= 2000),
    -- A problem found by reconciliation or by a delivery report that staff must look at (e.g. the
    -- batch was cancelled in the Sinch dashboard, or a cancelled reminder was delivered after all).
    ADD COLUMN attention text CHECK (length(attention) <= 2000),
    ADD COLUMN attention_at timestamptz,
    -- When reconciliation last compared this reminder with Sinch, and whether it never needs to again.
    ADD COLUMN reconciled_at timestamptz,
    ADD COLUMN reconcile_done boolean NOT NULL DEFAULT false;

-- Reminders reconciliation compares with Sinch: those that reached Sinch and are not settled yet.
CREATE INDEX reminders_reconcile_idx ON reminders (send_at)
    WHERE batch_id IS NOT NULL AND NOT reconcile_done;

-- The list page filters by status and orders by time.
CREATE INDEX appointments_status_starts_at_idx ON appointments (status, starts_at);
