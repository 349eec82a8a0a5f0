-- 013_languages.sql: the language of each appointment's reminder SMS (issue 13, SinchReminderLanguages).
--
-- An ISO 639 code ("es"), chosen at booking; reschedules and the tz-recheck write the new text in it.
-- NULL means the clinic's own language (the language of SinchReminderLocale): every appointment booked
-- before this migration, and those a node still running the previous module version books during a rolling
-- upgrade (it does not know the column). Adding a nullable column rewrites nothing.
ALTER TABLE appointments ADD COLUMN IF NOT EXISTS language text;

ALTER TABLE appointments DROP CONSTRAINT IF EXISTS appointments_language_code;
ALTER TABLE appointments ADD CONSTRAINT appointments_language_code
    CHECK (language ~ '^[a-z]{2,3}$') NOT VALID;
ALTER TABLE appointments VALIDATE CONSTRAINT appointments_language_code;
