-- The version of a record in a polled destination that Sluice last knew to
-- be in sync with the other side (two-way conflict review).
CREATE TABLE sync_baselines (
    destination TEXT NOT NULL,
    record_key  TEXT NOT NULL,
    external_id TEXT NOT NULL,
    fields      JSONB NOT NULL,
    synced_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (destination, record_key)
);
