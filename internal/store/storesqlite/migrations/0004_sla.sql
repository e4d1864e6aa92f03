-- The control layer's open items (SLA breaches, paused destinations) and
-- the cursors that let several instances agree on what has been alerted.
-- At most one open breach per key: the unique partial index is what makes
-- "fire once" hold across restarts and instances.
CREATE TABLE sla_breaches (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}',
    opened_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE UNIQUE INDEX sla_breaches_open ON sla_breaches (key) WHERE resolved_at IS NULL;
CREATE INDEX sla_breaches_opened ON sla_breaches (opened_at);

CREATE TABLE alert_cursors (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
