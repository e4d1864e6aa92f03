-- Source-drift detection keeps each source's learned payload shape here,
-- so a restart does not learn it again and every instance judges drift
-- against the same baseline.
CREATE TABLE source_baselines (
    source     TEXT PRIMARY KEY,
    learned    INTEGER NOT NULL,
    shape      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
