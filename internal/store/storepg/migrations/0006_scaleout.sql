-- Several instances on one database.
--
-- instances: every `sluice serve` beats here about once a second; the
-- number seen in the last few seconds divides each destination's rate
-- limit between the live instances (docs/adr/0003-shared-rate-limits.md).
-- Times are the database's (now()), so clock skew between hosts does not
-- matter.
CREATE TABLE instances (
    id         TEXT PRIMARY KEY,
    info       TEXT NOT NULL DEFAULT '',
    started_at TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL
);

-- audit_checkpoints: retention deletes the oldest audit entries; each
-- batch records the last deleted entry (seq, hash), where verification of
-- the remaining chain starts (docs/adr/0004-retention.md). The latest row
-- is the current checkpoint; older rows are the history of prunings.
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    deleted    BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
