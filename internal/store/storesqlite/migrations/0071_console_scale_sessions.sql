-- Operator console, second part (docs/adr/0071-console-scale-sessions.md).
--
-- The latency histogram of a rollup becomes one integer column per bucket
-- (store.LatencyBounds: 13 bounds, 14 buckets) instead of a JSON array, so
-- the overview sums a week of minutes in SQL instead of decoding 10,000
-- arrays, and a fold adds to a row without reading it first.
ALTER TABLE console_rollups ADD COLUMN lat_0 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_1 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_2 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_3 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_4 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_5 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_6 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_7 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_8 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_9 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_10 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_11 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_12 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE console_rollups ADD COLUMN lat_13 INTEGER NOT NULL DEFAULT 0;
UPDATE console_rollups SET lat_0 = COALESCE(json_extract(latency, '$[0]'), 0), lat_1 = COALESCE(json_extract(latency, '$[1]'), 0), lat_2 = COALESCE(json_extract(latency, '$[2]'), 0), lat_3 = COALESCE(json_extract(latency, '$[3]'), 0), lat_4 = COALESCE(json_extract(latency, '$[4]'), 0), lat_5 = COALESCE(json_extract(latency, '$[5]'), 0), lat_6 = COALESCE(json_extract(latency, '$[6]'), 0), lat_7 = COALESCE(json_extract(latency, '$[7]'), 0), lat_8 = COALESCE(json_extract(latency, '$[8]'), 0), lat_9 = COALESCE(json_extract(latency, '$[9]'), 0), lat_10 = COALESCE(json_extract(latency, '$[10]'), 0), lat_11 = COALESCE(json_extract(latency, '$[11]'), 0), lat_12 = COALESCE(json_extract(latency, '$[12]'), 0), lat_13 = COALESCE(json_extract(latency, '$[13]'), 0) WHERE latency != '[]';
ALTER TABLE console_rollups DROP COLUMN latency;

-- Console sessions live in the store, so they survive a restart and work on
-- every instance behind a load balancer. id_hash is the SHA-256 of the
-- cookie's random identifier: the table never holds a usable cookie, nor
-- the token the person signed in with.
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash    TEXT PRIMARY KEY,
    actor      TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_seen ON console_sessions (seen_at);
