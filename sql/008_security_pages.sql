-- Security of the pages and the API (issue 12).

-- Who acted: the user Apache authenticated, or NULL when no authentication identified anyone. NULL is a
-- value no user name can have, so an Apache user really called "anonymous" is no longer mistaken for
-- "nobody logged in". Rows written before this migration keep 'anonymous' (which of the two it meant is
-- not known any more).
ALTER TABLE appointments ALTER COLUMN created_by DROP NOT NULL,
                         ALTER COLUMN created_by DROP DEFAULT;
ALTER TABLE audit_log ALTER COLUMN actor DROP NOT NULL;

-- Reads are audited too: 'view' (one appointment, appointment_id set) and 'list' (a list page or API
-- list, appointment_id NULL; details name the filters used and the appointments shown, never the
-- search text, names or numbers). Who read what is looked up by time, not through an appointment.
CREATE INDEX audit_log_at_idx ON audit_log (at);
