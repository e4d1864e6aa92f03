-- The SQLite side of storepg's 0006_scaleout.sql. SQLite serves one
-- process, so it has no instances table; it shares retention's audit
-- checkpoints (docs/adr/0004-retention.md): each batch that deletes the
-- oldest audit entries records the last deleted one (seq, hash), where
-- verification of the remaining chain starts. The latest row is the
-- current checkpoint.
CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
