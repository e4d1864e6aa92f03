-- The SLA watcher's and the metrics' queue ages by index seeks (ADR 0039):
-- the oldest open event of a flow and the oldest pending delivery of a
-- destination are each the first entry of a partial index, and counts
-- walk one name's entries without reading rows. Partial, so only the
-- backlog is indexed, never the history.
--
-- The predicates test (state || ''), which equals state, not state: an
-- index is usable only by a query whose WHERE implies its predicate, and
-- only the SLA queries (sqlstore/sla.go) say (state || ''). Without that a
-- claim or the worker's next-ready wait (state = 'pending' AND destination
-- = ?) may use deliveries_pending_age instead of deliveries_ready, and
-- PostgreSQL's generic plan made before any statistics did, walking every
-- pending delivery (TestHotPathGenericPlans).
CREATE INDEX events_open_age ON events (state, flow, received_at)
    WHERE (state || '') = 'delivering' OR (state || '') = 'held';
CREATE INDEX deliveries_pending_age ON deliveries (destination, created_at) WHERE (state || '') = 'pending';
