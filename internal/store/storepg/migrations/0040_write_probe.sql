-- One row that readiness checks rewrite to learn whether the store can
-- write (a full disk or a read-only server makes /readyz fail until it can).
CREATE TABLE IF NOT EXISTS write_probe (
    id INTEGER PRIMARY KEY,
    n  BIGINT NOT NULL
);
