-- Credentials obtained at run time (access tokens, rotated refresh
-- tokens), sealed with AES-GCM by package credential: one row per
-- destination. Times are Unix milliseconds, 0 for none.
CREATE TABLE credentials (
    name         TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    seed         TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    expires_at   INTEGER NOT NULL DEFAULT 0,
    refreshed_at INTEGER NOT NULL DEFAULT 0,
    refreshes    INTEGER NOT NULL DEFAULT 0,
    failure      TEXT NOT NULL DEFAULT '',
    failed_at    INTEGER NOT NULL DEFAULT 0
);
