-- The PostgreSQL equivalent of storesqlite's 0005_tickets.sql: escalations
-- become tickets (owner, acknowledgement, due time, append-only notes).
-- Escalations opened before this migration are due 24 hours after they
-- opened (the default when a flow has no SLA). Unset times are NULL.
ALTER TABLE escalations
    ADD COLUMN owner           TEXT NOT NULL DEFAULT '',
    ADD COLUMN acknowledged_at TIMESTAMPTZ,
    ADD COLUMN acknowledged_by TEXT NOT NULL DEFAULT '',
    ADD COLUMN due_at          TIMESTAMPTZ;
UPDATE escalations SET due_at = created_at + interval '24 hours';
CREATE INDEX escalations_owner ON escalations (owner, id) WHERE owner != '';
CREATE INDEX escalations_delivery ON escalations (delivery_id) WHERE delivery_id != '';

CREATE TABLE escalation_notes (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    escalation_id TEXT NOT NULL REFERENCES escalations (id),
    at            TIMESTAMPTZ NOT NULL,
    actor         TEXT NOT NULL,
    text          TEXT NOT NULL
);
CREATE INDEX escalation_notes_escalation ON escalation_notes (escalation_id, seq);
