-- The claim reads ready deliveries in (next_at, seq) order and stops after a
-- few hundred. The old index gave only next_at order (PostgreSQL orders equal
-- keys by heap position, not seq), so the planner sorted every pending
-- delivery and checked each one's key before the sort: O(backlog) per claim,
-- 43 ms per claim with 10,000 pending instead of 0.4 ms. With seq in the
-- index the scan returns rows in the claim's order and stops early. (SQLite
-- needs no change: its index entries end with the rowid, which is seq.)
-- See docs/adr/0036-postgres-round-trips.md.
DROP INDEX deliveries_ready;
CREATE INDEX deliveries_ready ON deliveries (destination, next_at, seq) WHERE state = 'pending';
