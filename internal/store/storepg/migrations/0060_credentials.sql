-- Credentials obtained at run time (access tokens, rotated refresh
-- tokens), sealed with AES-GCM by package credential: one row per
-- destination, shared by every instance.
CREATE TABLE credentials (
    name         TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    seed         TEXT NOT NULL,
    sealed       BYTEA NOT NULL,
    expires_at   TIMESTAMPTZ,
    refreshed_at TIMESTAMPTZ,
    refreshes    BIGINT NOT NULL DEFAULT 0,
    failure      TEXT NOT NULL DEFAULT '',
    failed_at    TIMESTAMPTZ
);
