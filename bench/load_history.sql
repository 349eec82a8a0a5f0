-- load_history.sql: years of past appointments, each with its sent reminder and its audit row, for the
-- scale benchmark (bench/scale) and the query-plan test (tests/plans). Loads rows number sr.load_from up to
-- (not including) sr.load_to out of sr.load_total, so a large load can go in chunks, one transaction each:
--
--   psql -v ON_ERROR_STOP=1 -c "SET sr.load_from = 0; SET sr.load_to = 1000000; SET sr.load_total = 10000000" \
--        -f bench/load_history.sql            (psql runs -c and -f in one session, in order)
--
-- Row n starts (load_total - n) × (3 years / load_total) before yesterday, so load_total rows spread evenly
-- over the 3 years before yesterday, newest first. Ids are md5-derived uuids (as random as
-- gen_random_uuid(), but the reminders and audit rows can find their appointment by n). Each phone number has
-- about 4 appointments; names are drawn from 3 000 first names and about load_total / 4 family names; 3 % of
-- the appointments are cancelled. Reminders are 'sent' (or 'cancelled'), settled by reconciliation, with a
-- Delivered report and an SMS text of the usual length.
WITH range AS (
    SELECT current_setting('sr.load_from')::bigint AS first, current_setting('sr.load_to')::bigint AS last,
           current_setting('sr.load_total')::bigint AS total),
src AS (
    SELECT n, md5('sr-history-' || n)::uuid AS id, starts_at,
           CASE WHEN n % 33 = 0 THEN 'cancelled' ELSE 'active' END AS status,
           'Dr. ' || initcap(translate(left(md5('doctor' || (n % 60)), 7), '0123456789', 'aeiourlnst')) AS doctor
    FROM range, generate_series(first, last - 1) AS n,
         LATERAL (SELECT date_trunc('minute', now()) - interval '1 day'
                         - (total - n) * (interval '3 years' / total) AS starts_at) AS t),
a AS (
    INSERT INTO appointments (id, patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time,
                              status, created_by, created_from, created_at, updated_at)
    SELECT id,
           initcap(translate(left(md5('first' || (n % 3000)), 6), '0123456789', 'aeiourlnst')) || ' ' ||
               initcap(translate(left(md5('family' || (n / 4)), 9), '0123456789', 'aeiourlnst')),
           doctor, '+1' || (2000000000 + (n / 4) * 7919 % 7999999999)::text, starts_at, 'America/New_York',
           to_char(starts_at AT TIME ZONE 'America/New_York', 'YYYY-MM-DD"T"HH24:MI'), status, 'history',
           '127.0.0.1', starts_at - interval '9 days', starts_at - interval '2 hours'
    FROM src),
r AS (
    INSERT INTO reminders (appointment_id, revision, send_at, time_zone, status, batch_id, attempts, body,
                           delivery_status, delivery_code, delivery_at, reconciled_at, reconcile_done,
                           created_at, updated_at)
    SELECT id, 1, starts_at - interval '2 hours', 'America/New_York',
           CASE status WHEN 'cancelled' THEN 'cancelled' ELSE 'sent' END, 'hist' || n, 1,
           'Riverside Clinic reminder: appointment with ' || doctor || ' on '
               || to_char(starts_at AT TIME ZONE 'America/New_York', 'Dy, Mon DD "at" HH12:MI AM') || '.',
           CASE status WHEN 'cancelled' THEN NULL ELSE 'Delivered' END,
           CASE status WHEN 'cancelled' THEN NULL ELSE 0 END,
           CASE status WHEN 'cancelled' THEN NULL ELSE starts_at - interval '119 minutes' END,
           starts_at, true, starts_at - interval '9 days', starts_at
    FROM src)
INSERT INTO audit_log (appointment_id, action, actor, remote_addr, at, details)
SELECT id, 'create', 'history', '127.0.0.1', starts_at - interval '9 days',
       '{"revision": 1, "time_zone": "America/New_York"}'::jsonb
FROM src;
