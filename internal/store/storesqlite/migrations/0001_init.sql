CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    flow         TEXT NOT NULL DEFAULT '',
    idem_key     TEXT,
    record_key   TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    raw          BLOB NOT NULL,
    canonical    TEXT,
    problems     TEXT,
    missing      TEXT,
    hold_until   INTEGER,
    received_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_idem ON events (source, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX events_state ON events (state, id);
CREATE INDEX events_held_key ON events (flow, record_key) WHERE state = 'held';
CREATE INDEX events_hold_until ON events (hold_until) WHERE state = 'held';

CREATE TABLE deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    event_id     TEXT NOT NULL REFERENCES events (id),
    route        TEXT NOT NULL,
    destination  TEXT NOT NULL,
    record_key   TEXT NOT NULL,
    state        TEXT NOT NULL,
    after_routes TEXT NOT NULL DEFAULT '[]',
    payload      TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  INTEGER NOT NULL DEFAULT 0,
    ambiguous    INTEGER NOT NULL DEFAULT 0,
    external_id  TEXT NOT NULL DEFAULT '',
    last_status  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_ready ON deliveries (destination, next_at) WHERE state = 'pending';
CREATE INDEX deliveries_active_key ON deliveries (destination, record_key, seq) WHERE state IN ('waiting', 'pending', 'inflight');
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE state = 'inflight';

CREATE TABLE identities (
    destination TEXT NOT NULL,
    record_key  TEXT NOT NULL,
    external_id TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (destination, record_key)
);

CREATE TABLE escalations (
    id          TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES events (id),
    delivery_id TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    last_error  TEXT NOT NULL DEFAULT '',
    last_status INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,
    actor       TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX escalations_status ON escalations (status, id);
CREATE INDEX escalations_event ON escalations (event_id);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    event_id    TEXT NOT NULL DEFAULT '',
    delivery_id TEXT NOT NULL DEFAULT '',
    route       TEXT NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL DEFAULT 0,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL DEFAULT '',
    status      INTEGER NOT NULL DEFAULT 0,
    message     TEXT NOT NULL DEFAULT '',
    latency_ms  INTEGER NOT NULL DEFAULT 0,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_event ON audit_log (event_id, seq);

CREATE TABLE destination_states (
    name       TEXT PRIMARY KEY,
    paused     INTEGER NOT NULL DEFAULT 0,
    reason     TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
);
