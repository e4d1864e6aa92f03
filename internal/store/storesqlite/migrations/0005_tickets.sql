-- Escalations become tickets: an owner, an acknowledgement, a due time and
-- an append-only list of notes. Escalations opened before this migration
-- are due 24 hours after they opened (the default when a flow has no SLA).
ALTER TABLE escalations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE escalations ADD COLUMN acknowledged_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE escalations ADD COLUMN acknowledged_by TEXT NOT NULL DEFAULT '';
ALTER TABLE escalations ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;
UPDATE escalations SET due_at = created_at + 86400000;
CREATE INDEX escalations_owner ON escalations (owner, id) WHERE owner != '';
CREATE INDEX escalations_delivery ON escalations (delivery_id) WHERE delivery_id != '';

CREATE TABLE escalation_notes (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    escalation_id TEXT NOT NULL REFERENCES escalations (id),
    at            INTEGER NOT NULL,
    actor         TEXT NOT NULL,
    text          TEXT NOT NULL
);
CREATE INDEX escalation_notes_escalation ON escalation_notes (escalation_id, seq);
