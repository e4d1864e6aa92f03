-- Operator console: indexed filters for event search (flow, record key) and
-- per-minute rollups of settled deliveries, folded from the audit log past a
-- watermark (console_rollup_mark) so they survive restarts.
CREATE INDEX IF NOT EXISTS events_flow_id ON events (flow, id);
CREATE INDEX IF NOT EXISTS events_record_key ON events (record_key, id) WHERE record_key != '';

CREATE TABLE IF NOT EXISTS console_rollups (
    minute        INTEGER NOT NULL,
    flow          TEXT NOT NULL,
    destination   TEXT NOT NULL,
    settled       INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    retried       INTEGER NOT NULL DEFAULT 0,
    retried_ok    INTEGER NOT NULL DEFAULT 0,
    latency       TEXT NOT NULL DEFAULT '[]',
    complete      INTEGER NOT NULL DEFAULT 0,
    checked       INTEGER NOT NULL DEFAULT 0,
    inconsistent  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, flow, destination)
);

CREATE TABLE IF NOT EXISTS console_rollup_mark (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
INSERT OR IGNORE INTO console_rollup_mark (name, seq) VALUES ('audit', 0);
