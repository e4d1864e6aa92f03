-- deliveries_active_key's predicate was state IN ('waiting', 'pending',
-- 'inflight'). SQLite evaluates an IN list of constants through a
-- temporary b-tree that it builds on every statement that must test the
-- predicate: every delivery INSERT (each capture), every UPDATE of state
-- (each claim and settle). The same set as ORs of equalities is three
-- comparisons. A query uses the index when it has the same OR term, or a
-- single state = '...' of the three (which implies it).
-- See docs/adr/0033-sqlite-capture-and-settle-statements.md.
DROP INDEX deliveries_active_key;
CREATE INDEX deliveries_active_key ON deliveries (destination, record_key, seq)
    WHERE state = 'waiting' OR state = 'pending' OR state = 'inflight';
