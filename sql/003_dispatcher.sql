-- The dispatcher (issue: durable, exactly-once scheduling).
-- A token bucket shared by every httpd process on every node, so the Sinch account's batches per
-- second are respected however many processes hand reminders over. One row; taking a token locks it
-- for the length of one UPDATE.
CREATE TABLE sinch_rate_bucket (
    id          integer          PRIMARY KEY CHECK (id = 1),
    tokens      double precision NOT NULL,
    refilled_at timestamptz      NOT NULL DEFAULT clock_timestamp()
);
-- Starts full; every take caps it at the configured burst first.
INSERT INTO sinch_rate_bucket (id, tokens) VALUES (1, 1e9);

-- Work the dispatcher looks for on every pass.
CREATE INDEX reminders_open_work_idx ON reminders (send_at)
    WHERE status IN ('pending', 'retrying', 'unknown', 'scheduling', 'cancelling', 'cancel_failed');

-- The SMS text, rendered when the reminder is created (booking or reschedule) from the message
-- template of the site that booked it, so whichever node hands it to Sinch later sends exactly it.
ALTER TABLE reminders ADD COLUMN body text NOT NULL DEFAULT '' CHECK (length(body) <= 2000);
