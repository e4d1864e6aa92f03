-- One index on events by state, flow and id in place of three (ADR 0047):
-- events_state (state, id), events_open_age (state, flow, received_at) of
-- the open events and events_flow_id (flow, id). A capture inserted an entry
-- into each of the three and a settle moved one in two of them; SQLite
-- writes every page an index entry dirties into the WAL at the commit, so
-- each was about 3.5 pages per commit of 32 captures
-- (BenchmarkPagesPerEvent: 1.79-1.83 frames per capture before, 1.63-1.70
-- after; settles 1.39-1.42 before, 1.28-1.32 after).
--
-- Readers: a state and a flow is one range in id order (the SLA watcher's
-- oldest and counted open events of a flow, the metrics, the console's
-- state-and-flow filter); a state alone or a flow alone is read as one
-- range per (state, flow) pair, merged by id (sqlstore.EventParts: the
-- console's and the API's state filter, replay and reload); the settle
-- sweep walks the delivering events in (flow, id) order.
CREATE INDEX events_state_flow ON events (state, flow, id);
DROP INDEX events_state;
DROP INDEX events_open_age;
DROP INDEX events_flow_id;
