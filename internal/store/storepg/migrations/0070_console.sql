-- Operator console: see storesqlite's 0070_console.sql. minute is a
-- timestamptz here.
CREATE INDEX IF NOT EXISTS events_flow_id ON events (flow, id);
CREATE INDEX IF NOT EXISTS events_record_key ON events (record_key, id) WHERE record_key != '';

CREATE TABLE IF NOT EXISTS console_rollups (
    minute        TIMESTAMPTZ NOT NULL,
    flow          TEXT NOT NULL,
    destination   TEXT NOT NULL,
    settled       BIGINT NOT NULL DEFAULT 0,
    failed        BIGINT NOT NULL DEFAULT 0,
    retried       BIGINT NOT NULL DEFAULT 0,
    retried_ok    BIGINT NOT NULL DEFAULT 0,
    latency       TEXT NOT NULL DEFAULT '[]',
    complete      BIGINT NOT NULL DEFAULT 0,
    checked       BIGINT NOT NULL DEFAULT 0,
    inconsistent  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, flow, destination)
);

CREATE TABLE IF NOT EXISTS console_rollup_mark (
    name TEXT PRIMARY KEY,
    seq  BIGINT NOT NULL
);
INSERT INTO console_rollup_mark (name, seq) VALUES ('audit', 0) ON CONFLICT DO NOTHING;
