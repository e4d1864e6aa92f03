-- The PostgreSQL equivalent of storesqlite's 0001_init.sql. Same tables,
-- columns and partial indexes; PostgreSQL types:
--   * times are timestamptz written in UTC and truncated to milliseconds by
--     the driver, so they round-trip exactly as SQLite's integer milliseconds;
--     a zero Go time is NULL where SQLite stored 0 and the column may be unset
--     (hold_until, lease_until), and 0001-01-01 where the column is required;
--   * JSON is TEXT, stored byte for byte as given (jsonb would reorder keys
--     and change whitespace of payloads sent to destinations); cast to jsonb
--     for ad-hoc queries;
--   * after_routes is text[] rather than a JSON array.

CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    flow         TEXT NOT NULL DEFAULT '',
    idem_key     TEXT,
    record_key   TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    raw          BYTEA NOT NULL,
    canonical    TEXT,
    problems     TEXT,
    missing      TEXT,
    hold_until   TIMESTAMPTZ,
    received_at  TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX events_idem ON events (source, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX events_state ON events (state, id);
CREATE INDEX events_held_key ON events (flow, record_key) WHERE state = 'held';
CREATE INDEX events_hold_until ON events (hold_until) WHERE state = 'held';

CREATE TABLE deliveries (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    event_id     TEXT NOT NULL REFERENCES events (id),
    route        TEXT NOT NULL,
    destination  TEXT NOT NULL,
    record_key   TEXT NOT NULL,
    state        TEXT NOT NULL,
    after_routes TEXT[] NOT NULL DEFAULT '{}',
    payload      TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TIMESTAMPTZ NOT NULL,
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  TIMESTAMPTZ,
    ambiguous    BOOLEAN NOT NULL DEFAULT false,
    external_id  TEXT NOT NULL DEFAULT '',
    last_status  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_ready ON deliveries (destination, next_at) WHERE state = 'pending';
CREATE INDEX deliveries_active_key ON deliveries (destination, record_key, seq) WHERE state IN ('waiting', 'pending', 'inflight');
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE state = 'inflight';

CREATE TABLE identities (
    destination TEXT NOT NULL,
    record_key  TEXT NOT NULL,
    external_id TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
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
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX escalations_status ON escalations (status, id);
CREATE INDEX escalations_event ON escalations (event_id);

-- seq is assigned by the driver (head + 1) under the audit advisory lock;
-- the primary key is the last line of defence against a forked chain.
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    event_id    TEXT NOT NULL DEFAULT '',
    delivery_id TEXT NOT NULL DEFAULT '',
    route       TEXT NOT NULL DEFAULT '',
    attempt     INTEGER NOT NULL DEFAULT 0,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL DEFAULT '',
    status      INTEGER NOT NULL DEFAULT 0,
    message     TEXT NOT NULL DEFAULT '',
    latency_ms  BIGINT NOT NULL DEFAULT 0,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_event ON audit_log (event_id, seq);

CREATE TABLE destination_states (
    name       TEXT PRIMARY KEY,
    paused     BOOLEAN NOT NULL DEFAULT false,
    reason     TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL
);
