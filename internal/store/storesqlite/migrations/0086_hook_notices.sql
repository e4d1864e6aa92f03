-- Platform webhooks that only name a change (Notion page events, Airtable
-- notifications), committed before the platform is answered and worked
-- off in the background (docs/adr/0086-notice-queue.md).
CREATE TABLE hook_notices (
    id           TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    platform     TEXT NOT NULL,
    notice_key   TEXT NOT NULL,
    type         TEXT NOT NULL,
    object       TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    occurred_at  INTEGER NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    escalated_at INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (source, notice_key)
);
CREATE INDEX hook_notices_due ON hook_notices (next_at) WHERE state = 'pending';
CREATE INDEX hook_notices_done ON hook_notices (updated_at) WHERE state = 'done';
