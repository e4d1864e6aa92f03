-- The SLA watcher's and the metrics' queue ages by index seeks (ADR 0039):
-- the oldest open event of a flow and the oldest pending delivery of a
-- destination are each the first entry of a partial index, and counts
-- walk the index without reading rows. Partial, so only the backlog is
-- indexed, never the history. The predicate is written with OR (not IN):
-- see 0033.
CREATE INDEX events_open_age ON events (state, flow, received_at) WHERE state = 'delivering' OR state = 'held';
CREATE INDEX deliveries_pending_age ON deliveries (destination, created_at) WHERE state = 'pending';
