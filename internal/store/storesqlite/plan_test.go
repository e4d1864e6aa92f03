package storesqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

// hotPlan is one statement on a hot path and the indexes its plan must
// search. A plan passes when every wanted index appears as a SEARCH, no
// table is SCANned (walked in full) and no temporary b-tree is built,
// unless allowed.
type hotPlan struct {
	name  string
	query string
	args  []any
	want  []string // index names (or "INTEGER PRIMARY KEY") that must be searched
	scan  string   // a SCAN detail that is allowed (a bounded walk), if any
	temp  bool     // a temporary b-tree (a sort of the few rows found) is allowed
}

// hotPlans lists the statements of the capture path (idempotency lookup,
// held-by-key, event insert), the delivery claim and settle, the audit
// head and the once-a-second maintenance queries. A new index that makes
// the planner walk history on any of them fails TestHotPathPlans, as
// events_flow_id once did for held-by-key (344 events/s at 20k events).
func hotPlans() []hotPlan {
	return []hotPlan{
		{name: "capture: idempotency lookup", query: qEventByIdem, args: []any{"src", "k1"}, want: []string{"events_idem"}},
		{name: "capture: held by key", query: qHeldByKey, args: []any{"flow", "key1"}, want: []string{"events_held_key"}},
		{name: "capture: held keys of a flow", query: qHeldKeys, args: []any{"flow"}, want: []string{"events_held_key"}},
		{name: "capture: event insert", query: qEventInsert, args: make([]any, 16)},
		{name: "capture: delivery insert", query: qDeliveryInsert, args: make([]any, 22)},
		{name: "audit insert", query: qAuditInsert, args: make([]any, 14)},
		// A reverse walk of the rowid stopped by LIMIT 1 reads one row.
		{name: "audit head", query: qAuditHead, scan: "SCAN audit_log"},
		{name: "claim: select", query: qDeliveriesClaimable, args: []any{"sink", 1, 32}, want: []string{"deliveries_ready", "deliveries_active_key"}},
		{name: "claim: lease", query: qDeliveriesLease, args: []any{"w", 1, 1, "[1,2]"}, want: []string{"INTEGER PRIMARY KEY"}, scan: "SCAN json_each VIRTUAL TABLE"},
		{name: "settle: delivery by id", query: qDeliveryByID, args: []any{"dlv_1"}, want: []string{"sqlite_autoindex_deliveries_1"}},
		{name: "settle: delivery update", query: qDeliveryUpdate, args: make([]any, 13), want: []string{"sqlite_autoindex_deliveries_1"}},
		{name: "settle: deliveries of the event", query: qDeliveriesByEvent, args: []any{"evt_1"}, want: []string{"deliveries_event"}},
		{name: "settle: event state", query: qEventStateByID, args: []any{"evt_1"}, want: []string{"sqlite_autoindex_events_1"}},
		{name: "settle: event by id", query: qEventByID, args: []any{"evt_1"}, want: []string{"sqlite_autoindex_events_1"}},
		{name: "settle: event update", query: eventUpdateQuery(false, false, false, false, false), args: []any{"delivered", 1, "evt_1"}, want: []string{"sqlite_autoindex_events_1"}},
		{name: "pre-send: identity", query: sqlstore.QueryIdentityGet, args: []any{"sink", "key1"}, want: []string{"sqlite_autoindex_identities_1"}},
		{name: "pre-send: latest succeeded", query: qDeliveryLatestSucceeded, args: []any{"sink", "key1"}, want: []string{"deliveries_succeeded_key"}},
		{name: "worker: next ready", query: qDeliveryNextReady, args: []any{"sink"}, want: []string{"deliveries_ready"}},
		{name: "maintain: expired leases", query: qDeliveriesLeaseExpired, args: []any{1, 500}, want: []string{"deliveries_lease"}, temp: true}, // sorts the expired ones only
		{name: "maintain: expired holds", query: qEventsHoldExpired, args: []any{1, 100}, want: []string{"events_hold_until"}},
		{name: "fallback: needing fallback", query: qDeliveriesNeedingFallback, args: []any{"sink", 100}, want: []string{"deliveries_needing_fallback"}},
		// The console's queue stats: the deliveries in flight (few) through
		// their index, the others counted per destination in the partial
		// index of unfinished deliveries, index only, up to the limit.
		{name: "console: in flight", query: sqlstore.QueryQueueInflight, scan: "SCAN deliveries USING INDEX deliveries_lease"}, // the in-flight ones only
		{name: "console: unfinished, counted", query: sqlstore.QueryQueueUnfinished, args: []any{"sink", 10000}, want: []string{"deliveries_active_key"}, scan: "SCAN c"},
		// Periodic (SLA watcher, metrics scrape): index seeks per flow or
		// destination, no walk of the backlog and no sort. "SCAN c" is
		// the count's walk of its LIMITed subquery (the index entries of
		// one name, at most the limit).
		{name: "sla: oldest delivering event", query: sqlstore.QueryEventOldest(store.EventDelivering), args: []any{"flow"}, want: []string{"events_state_flow"}},
		{name: "sla: oldest held event", query: sqlstore.QueryEventOldest(store.EventHeld), args: []any{"flow"}, want: []string{"events_state_flow"}},
		{name: "sla: delivering events, counted", query: sqlstore.QueryEventCount(store.EventDelivering), args: []any{"flow", 10000}, want: []string{"events_state_flow"}, scan: "SCAN c"},
		{name: "sla: held events, counted", query: sqlstore.QueryEventCount(store.EventHeld), args: []any{"flow", 10000}, want: []string{"events_state_flow"}, scan: "SCAN c"},
		{name: "sla: oldest pending delivery", query: sqlstore.QueryDeliveryOldest, args: []any{"sink"}, want: []string{"deliveries_pending_age"}},
		{name: "sla: earliest next_at", query: sqlstore.QueryDeliveryNextAt, args: []any{"sink"}, want: []string{"deliveries_ready"}},
		{name: "sla: pending deliveries, counted", query: sqlstore.QueryDeliveryCount, args: []any{"sink", 10000}, want: []string{"deliveries_pending_age"}, scan: "SCAN c"},
		// The metrics' exact counts walk one name's entries of a partial
		// index: the backlog, never the history, and no row.
		{name: "metrics: pending deliveries", query: sqlstore.QueryDeliveryCountAll, args: []any{"sink"}, want: []string{"deliveries_ready"}},
		{name: "metrics: delivering events", query: sqlstore.QueryEventCountAll(store.EventDelivering), args: []any{"flow"}, want: []string{"events_state_flow"}},
		// The leader's settle sweep: a window of the delivering events in
		// index order, two probes of each one's deliveries.
		{name: "sweep: delivering events", query: sqlstore.QueryEventsDelivering, args: []any{"evt_1", "evt_1", 500}, want: []string{"events_state_flow", "deliveries_event"}},
		// The console's and the API's lists by state alone or flow alone
		// (sqlstore.EventParts): the flows in a state one seek each, then
		// one range of a (state, flow) pair per flow, in id order.
		{name: "lists: first flow in a state", query: sqlstore.QueryFlowFirst, args: []any{"delivered"}, want: []string{"events_state_flow"}},
		{name: "lists: next flow in a state", query: sqlstore.QueryFlowAfter, args: []any{"delivered", "flow"}, want: []string{"events_state_flow"}},
		{name: "lists: a (state, flow) range", query: `SELECT id FROM events WHERE id < ? AND state = ? AND flow = ? ORDER BY id DESC LIMIT ?`, args: []any{"evt_2", "delivered", "flow", 51}, want: []string{"events_state_flow"}},
		{name: "lists: a (state, flow) range, oldest first", query: `SELECT id FROM events WHERE id > ? AND state = ? AND flow = ? ORDER BY id LIMIT ?`, args: []any{"evt_2", "held", "flow", 51}, want: []string{"events_state_flow"}},
	}
}

// TestHotWritesBuildNoTempTable: a write statement that builds a temporary
// b-tree pays for it on every execution. deliveries_active_key's predicate
// was an IN list, which SQLite tests through a temporary table built by
// every delivery INSERT (each capture) and every UPDATE of a delivery's
// state (each claim and settle); migration 0033 made it ORs (before it:
// 1 per INSERT, 2 per UPDATE, 4 per lease). The lease UPDATE builds two
// on purpose: the claimed list of its IN (json_each(?)) and the rows it
// updates.
func TestHotWritesBuildNoTempTable(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "writes.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	writes := map[string]int{qEventInsert: 0, qDeliveryInsert: 0, qDeliveryUpdate: 0, qDeliveriesLease: 2}
	for _, n := range auditRowsPerInsert {
		writes[auditInsertQuery(n)] = 0
	}
	for _, q := range eventUpdateQueries() {
		writes[q] = 0
	}
	for _, q := range sqlstore.Prepared() { // the shared writes on the settle path (identity put, ...)
		if !strings.HasPrefix(q, "SELECT") {
			writes[q] = 0
		}
	}
	for q, want := range writes {
		rows, err := d.w.QueryContext(ctx, "EXPLAIN "+q, make([]any, strings.Count(q, "?"))...)
		if err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
			if op := fmt.Sprint(*vals[1].(*any)); op == "OpenEphemeral" {
				n++
			}
		}
		rows.Close()
		if n != want {
			t.Errorf("%d temporary tables (OpenEphemeral), want %d:\n%s", n, want, q)
		}
	}
}

// TestHotPathPlans checks the query plans of the hot statements on a store
// with history (20,000 delivered events in one flow, a few held, pending
// and in-flight), first as the store runs by default (no statistics) and
// then after ANALYZE, which makes the planner weigh indexes by their
// statistics and is where a tempting new index would win.
func TestHotPathPlans(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "plans.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fill := []string{
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
		 INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw, received_at, updated_at)
		 SELECT printf('evt_%08d', i), 'src', 'flow', printf('k%d', i), printf('key%d', i % 5000),
		        CASE WHEN i % 1000 = 0 THEN 'held' ELSE 'delivered' END, 'application/json', X'', i, i FROM n`,
		`UPDATE events SET hold_until = received_at + 86400000 WHERE state = 'held'`,
		`INSERT INTO deliveries (id, event_id, route, destination, record_key, state, payload, next_at, lease_until, created_at, updated_at)
		 SELECT 'dlv_' || substr(id, 5), id, 'r', 'sink', record_key,
		        CASE WHEN rowid % 997 = 0 THEN 'pending' WHEN rowid % 991 = 0 THEN 'inflight' ELSE 'succeeded' END,
		        '{}', received_at, CASE WHEN rowid % 991 = 0 THEN received_at + 60000 ELSE 0 END, received_at, received_at
		 FROM events WHERE state = 'delivered'`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)
		 INSERT INTO audit_log (seq, at, event_id, actor, action, prev_hash, hash)
		 SELECT i, i, printf('evt_%08d', (i + 1) / 2), 'system', 'delivered', '', '' FROM n`,
		`INSERT INTO identities (destination, record_key, external_id, updated_at)
		 SELECT DISTINCT 'sink', record_key, 'x' || record_key, 1 FROM deliveries`,
	}
	for _, q := range fill {
		if _, err := d.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("fill: %v\n%s", err, q)
		}
	}
	checkPlans(t, d, "no statistics")
	if _, err := d.w.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	checkPlans(t, d, "after ANALYZE")
}

func checkPlans(t *testing.T, d *Driver, when string) {
	t.Helper()
	ctx := context.Background()
	for _, p := range hotPlans() {
		rows, err := d.w.QueryContext(ctx, "EXPLAIN QUERY PLAN "+p.query, p.args...)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		var details []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			details = append(details, detail)
		}
		rows.Close()
		plan := strings.Join(details, "; ")
		for _, dt := range details {
			if strings.HasPrefix(dt, "SCAN ") && (p.scan == "" || !strings.HasPrefix(dt, p.scan)) {
				t.Errorf("%s (%s): full scan %q in plan: %s", p.name, when, dt, plan)
			}
			if strings.Contains(dt, "TEMP B-TREE") && !p.temp {
				t.Errorf("%s (%s): temporary b-tree in plan: %s", p.name, when, plan)
			}
		}
		for _, idx := range p.want {
			found := false
			for _, dt := range details {
				if strings.HasPrefix(dt, "SEARCH ") && (strings.Contains(dt, " INDEX "+idx+" ") || strings.Contains(dt, " "+idx+" (")) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s (%s): plan does not search %s: %s", p.name, when, idx, plan)
			}
		}
	}
}

// TestHotLimitsAreNotPlanned: SQLite's planner reads a bare bound LIMIT ?
// and marks the prepared statement to be parsed and planned again whenever
// that value changes. The claim's limit is the worker's free slots,
// different almost every time, so re-preparing was two thirds of a claim's
// cost; it binds LIMIT CAST(? AS INTEGER), which the planner does not read.
// A bare LIMIT ? is allowed only where every caller passes a constant.
func TestHotLimitsAreNotPlanned(t *testing.T) {
	constant := map[string]bool{qEventsHoldExpired: true, qDeliveriesNeedingFallback: true, qDeliveriesLeaseExpired: true, qAuditScan: true}
	for _, q := range sqlstore.Prepared() { // paged with constant page sizes
		constant[q] = true
	}
	for _, q := range hotQueries {
		if strings.Contains(q, "LIMIT ?") && !constant[q] {
			t.Errorf("hot statement binds a bare LIMIT ? (re-prepared whenever the limit changes):\n%s", q)
		}
	}
}

// TestMigration0092UpgradesInPlace: a store made before migration 0092,
// with events in it, gets events_state_flow in place of events_state,
// events_open_age and events_flow_id when it is opened, keeps every row,
// and its SLA, sweep and list statements then search the new index.
func TestMigration0092UpgradesInPlace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// Back to the schema before 0092: its three indexes, not the new one,
	// and 0092 not yet applied.
	for _, q := range []string{
		`DROP INDEX events_state_flow`,
		`CREATE INDEX events_state ON events (state, id)`,
		`CREATE INDEX events_open_age ON events (state, flow, received_at) WHERE (state || '') = 'delivering' OR (state || '') = 'held'`,
		`CREATE INDEX events_flow_id ON events (flow, id)`,
		`DELETE FROM schema_migrations WHERE version = '0092_events_state_flow'`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
		 INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw, received_at, updated_at)
		 SELECT printf('evt_%08d', i), 'src', CASE WHEN i % 3 = 0 THEN 'other' ELSE 'flow' END, printf('k%d', i), printf('key%d', i),
		        CASE WHEN i % 100 = 0 THEN 'delivering' WHEN i % 250 = 1 THEN 'held' ELSE 'delivered' END, 'application/json', X'', i, i FROM n`,
	} {
		if _, err := d.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	d.Close()

	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var names []string
	rows, err := d.w.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events' AND name LIKE 'events_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	if got, want := strings.Join(names, " "), "events_held_key events_hold_until events_idem events_record_key events_state_flow"; got != want {
		t.Fatalf("indexes of events after 0092: %s, want %s", got, want)
	}
	counts, err := d.Executor().(store.ConsoleStore).EventCountInStates(ctx, []store.EventState{store.EventDelivering, store.EventHeld, store.EventDelivered})
	if err != nil {
		t.Fatal(err)
	}
	if counts[store.EventDelivering] != 50 || counts[store.EventHeld] != 20 || counts[store.EventDelivered] != 4930 {
		t.Fatalf("counts after 0092: %v", counts)
	}
	checkPlans(t, d, "after migration 0092")
}
