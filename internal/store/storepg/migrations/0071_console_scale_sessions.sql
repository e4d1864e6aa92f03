-- Operator console, second part: see storesqlite's 0071.
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_0 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_1 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_2 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_3 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_4 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_5 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_6 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_7 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_8 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_9 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_10 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_11 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_12 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN IF NOT EXISTS lat_13 BIGINT NOT NULL DEFAULT 0;
UPDATE console_rollups SET lat_0 = COALESCE((latency::jsonb->>0)::bigint, 0), lat_1 = COALESCE((latency::jsonb->>1)::bigint, 0), lat_2 = COALESCE((latency::jsonb->>2)::bigint, 0), lat_3 = COALESCE((latency::jsonb->>3)::bigint, 0), lat_4 = COALESCE((latency::jsonb->>4)::bigint, 0), lat_5 = COALESCE((latency::jsonb->>5)::bigint, 0), lat_6 = COALESCE((latency::jsonb->>6)::bigint, 0), lat_7 = COALESCE((latency::jsonb->>7)::bigint, 0), lat_8 = COALESCE((latency::jsonb->>8)::bigint, 0), lat_9 = COALESCE((latency::jsonb->>9)::bigint, 0), lat_10 = COALESCE((latency::jsonb->>10)::bigint, 0), lat_11 = COALESCE((latency::jsonb->>11)::bigint, 0), lat_12 = COALESCE((latency::jsonb->>12)::bigint, 0), lat_13 = COALESCE((latency::jsonb->>13)::bigint, 0) WHERE latency != '[]';
ALTER TABLE console_rollups DROP COLUMN IF EXISTS latency;

CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash    TEXT PRIMARY KEY,
    actor      TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_seen ON console_sessions (seen_at);
