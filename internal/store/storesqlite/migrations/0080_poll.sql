-- Poll sources keep their position here, written in the transaction that
-- captures the records it covers.
CREATE TABLE poll_cursors (
    source     TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Echo suppression looks identities up by the destination's own ID.
CREATE INDEX identities_by_external ON identities (destination, external_id);
