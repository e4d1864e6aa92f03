-- Verification tokens platforms send to a webhook source (Notion's
-- handshake), kept for the operator to paste back. Never replaced.
CREATE TABLE hook_tokens (
    source      TEXT NOT NULL,
    token       TEXT NOT NULL,
    platform    TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, token)
);
