-- The last confirmed primary delivery of a record to a destination
-- (DeliveryLatestSucceeded: conflict review before an update, replay,
-- consistency checks, poll echoes) had no index and scanned every delivery
-- ever made. Partial on exactly that query's predicate, so in-flight work
-- and fallback copies are not in it. See docs/adr/0031-hot-path-plans.md.
CREATE INDEX deliveries_succeeded_key ON deliveries (destination, record_key, seq)
    WHERE state = 'succeeded' AND fallback_for = '';
