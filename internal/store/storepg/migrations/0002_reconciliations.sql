CREATE TABLE reconciliations (
    id         TEXT PRIMARY KEY,
    event_id   TEXT NOT NULL REFERENCES events (id),
    status     TEXT NOT NULL,
    summary    TEXT NOT NULL,
    actor      TEXT NOT NULL DEFAULT '',
    note       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX reconciliations_status ON reconciliations (status, id);
CREATE INDEX reconciliations_event ON reconciliations (event_id);
