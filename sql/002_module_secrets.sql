-- Secrets every httpd node must share, kept where every node already looks: the database.
-- form_token_key signs the staff form's CSRF tokens (HMAC-SHA256), so a form rendered by one node
-- can be submitted to another behind a balancer. gen_random_uuid() uses PostgreSQL's strong random
-- source; two of them give 244 random bits, with no extension needed (managed clusters included).
CREATE TABLE module_secrets (
    name       text PRIMARY KEY,
    value      text NOT NULL CHECK (length(value) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO module_secrets (name, value)
VALUES ('form_token_key', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
