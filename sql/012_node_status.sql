-- 012_node_status.sql: what monitoring needs to see across nodes (issue 15 item 3).
--
-- Each dispatcher records its last pass here (one row per node and dispatcher), so /health on any node can
-- say whether that node's dispatcher is alive, and the mod_status section lists every node's. A row is
-- updated once per pass (every SinchReminderDispatchInterval, or back to back while a backlog drains).
-- Rows of nodes that are gone stay (their age says so) until the daily retention purge removes those
-- older than 7 days.
CREATE TABLE IF NOT EXISTS dispatcher_heartbeats (
    node         text        NOT NULL,  -- the host name
    clinics      text        NOT NULL,  -- the SinchReminderClinic keys the dispatcher serves, comma-separated
    last_pass_at timestamptz NOT NULL,
    outcome      text        NOT NULL,  -- the pass's summary, or why it failed
    failed       boolean     NOT NULL,
    passes       bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (node, clinics)
);
