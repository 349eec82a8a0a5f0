-- pgbench -f: one single-row INSERT of an appointment-sized row per transaction, into the real
-- appointments table (same columns, CHECKs and indexes as the module's, from sql/001_initial_schema.sql).
-- Used by bench/bench.py as the database's own limit for the POST flow.
\set n random(2000000, 2999999)
INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time,
                          submission_key, created_by, created_from)
VALUES ('Bench Patient ' || :n, 'Dr. Grace Hopper', '+1650' || :n, now() + interval '3 days',
        'America/New_York', '2030-01-01T10:30', gen_random_uuid()::text, 'anonymous', '127.0.0.1');
