-- One row that readiness checks rewrite to learn whether the store can
-- write (a full or read-only disk makes /readyz fail until it can).
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY,
    n  INTEGER NOT NULL
);
