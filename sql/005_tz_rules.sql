-- Which version of the time-zone rules the stored UTC times were computed with, for the whole
-- cluster. A node that starts with newer rules re-checks every future appointment; a node with
-- older rules never "corrects" times back (it only warns).
CREATE TABLE module_state (
    name       text        PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
