-- Security and privacy (issue 12 items 3, 5, 6): replayed callbacks, per-user booking limits, retention.

-- The nonces of signed delivery-report callbacks seen within the replay window, shared by every node: a
-- callback whose nonce is here is a replay and changes nothing. Rows are deleted once expired (the daily
-- maintenance, sinch-reminder-admin purge); by then the signature's timestamp is too old anyway.
CREATE TABLE callback_nonces (
    nonce      text        PRIMARY KEY CHECK (length(nonce) BETWEEN 1 AND 200),
    expires_at timestamptz NOT NULL
);

-- Bookings per Apache user and minute, for SinchReminderBookingsPerUserPerHour (the sum over the last
-- hour), shared by every node. One row per user and minute with bookings; the count is not indexed, so
-- the increments are HOT updates. Rows older than an hour are deleted by the daily maintenance.
CREATE TABLE booking_counts (
    actor  text        NOT NULL,
    minute timestamptz NOT NULL,
    count  integer     NOT NULL CHECK (count >= 0),
    PRIMARY KEY (actor, minute)
);

-- Retention (SinchReminderRetention): when an appointment's patient data was anonymised. Its row stays,
-- with its times, statuses and delivery results, so counts for statistics keep working.
ALTER TABLE appointments ADD COLUMN purged_at timestamptz;
-- An anonymised appointment has no number any more.
ALTER TABLE appointments DROP CONSTRAINT appointments_phone_e164_format;
ALTER TABLE appointments ADD CONSTRAINT appointments_phone_e164_format
    CHECK (phone_e164 ~ '^\+[1-9][0-9]{6,14}$' OR (phone_e164 = '' AND purged_at IS NOT NULL));
-- NB: no index for the purge: it walks appointments_starts_at_idx from where it stopped last time
-- (module_state 'retention_purged_until'), so bookings do not maintain one more index.
