package storepg_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
)

// TestHotPathPlans checks with EXPLAIN that the hot statements (capture,
// claim, settle, audit head, maintenance) use their intended indexes and
// scan no table in full, on a schema with history (20,000 delivered events
// and their deliveries and audit entries, a few held, pending and in
// flight) and fresh statistics, where PostgreSQL's choice is meaningful. A
// new index that makes one of them walk history fails here; see
// docs/adr/0031-hot-path-plans.md.
func TestHotPathPlans(t *testing.T) {
	dsn := freshSchema(t)
	open(t, dsn, 2).Close() // migrate
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	fill := []string{
		`INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw, received_at, updated_at, hold_until)
		 SELECT format('evt_%s', lpad(i::text, 8, '0')), 'src', 'flow', 'k' || i, 'key' || (i % 5000),
		        CASE WHEN i % 1000 = 0 THEN 'held' ELSE 'delivered' END, 'application/json', ''::bytea,
		        now() - make_interval(secs => 20000 - i), now() - make_interval(secs => 20000 - i),
		        CASE WHEN i % 1000 = 0 THEN now() + interval '1 day' END
		 FROM generate_series(1, 20000) i`,
		`INSERT INTO deliveries (id, event_id, route, destination, record_key, state, payload, next_at, lease_until, created_at, updated_at)
		 SELECT 'dlv_' || substr(id, 5), id, 'r', 'sink', record_key,
		        CASE WHEN n % 997 = 0 THEN 'pending' WHEN n % 991 = 0 THEN 'inflight' ELSE 'succeeded' END,
		        '{}', received_at, CASE WHEN n % 991 = 0 THEN received_at + interval '1 minute' END, received_at, received_at
		 FROM (SELECT e.*, row_number() OVER (ORDER BY id) n FROM events e WHERE state = 'delivered') e`,
		// A backlog: 5,000 ready deliveries of distinct keys, so that a
		// claim that reads and sorts every pending row shows in its plan.
		`INSERT INTO deliveries (id, event_id, route, destination, record_key, state, payload, next_at, created_at, updated_at)
		 SELECT 'dlv_b' || substr(id, 5), id, 'r2', 'sink', 'backlog' || substr(id, 5), 'pending', '{}', received_at, received_at, received_at
		 FROM events WHERE state = 'delivered' ORDER BY id LIMIT 5000`,
		`INSERT INTO audit_log (seq, at, event_id, actor, action, prev_hash, hash)
		 SELECT i, now(), format('evt_%s', lpad(((i + 1) / 2)::text, 8, '0')), 'system', 'delivered', '', ''
		 FROM generate_series(1, 40000) i`,
		`INSERT INTO identities (destination, record_key, external_id, updated_at)
		 SELECT DISTINCT 'sink', record_key, 'x' || record_key, now() FROM deliveries`,
		// Only this schema's tables: a database-wide ANALYZE waits on any
		// lock another test holds in its own schema.
		`VACUUM (ANALYZE) events, deliveries, audit_log, identities`,
	}
	for _, q := range fill {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("fill: %v\n%s", err, q)
		}
	}
	for _, p := range storepg.HotPlans() {
		var out string
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+p.Query, p.Args...).Scan(&out); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		var doc []struct{ Plan planNode }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc) != 1 {
			t.Fatalf("%s: plan %s: %v", p.Name, out, err)
		}
		var nodes []string
		indexes := map[string]bool{}
		doc[0].Plan.walk(func(n *planNode) {
			nodes = append(nodes, fmt.Sprintf("%s %s %s", n.NodeType, n.RelationName, n.IndexName))
			if n.NodeType == "Seq Scan" {
				t.Errorf("%s: sequential scan of %s", p.Name, n.RelationName)
			}
			if n.IndexName != "" {
				indexes[n.IndexName] = true
			}
			for _, f := range p.Forbid {
				if n.NodeType == f {
					t.Errorf("%s: plan has a %s node", p.Name, f)
				}
			}
		})
		t.Logf("%s: %s", p.Name, strings.Join(nodes, "; "))
		for _, want := range p.Want {
			if !indexes[want] {
				t.Errorf("%s: plan does not use %s: %s", p.Name, want, strings.Join(nodes, "; "))
			}
		}
	}
}

// planNode is the part of EXPLAIN (FORMAT JSON) the test reads.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}

func (n *planNode) walk(fn func(*planNode)) {
	fn(n)
	for i := range n.Plans {
		n.Plans[i].walk(fn)
	}
}

// TestHotPathGenericPlans checks the plans PostgreSQL caches for the hot
// statements on a fresh schema, before any statistics exist: pgx prepares
// every statement per connection, and after five executions PostgreSQL may
// keep a generic plan made while the tables were tiny, in which a
// sequential scan (or an index walked for its order) is cheapest. That plan
// stays until an ANALYZE invalidates it, about a minute later at best, while
// the table grows: a benchmark on a new schema measured a one-row UPDATE
// at 0.6 ms and the held-by-key lookup at 0.5 ms this way. No hot statement
// may scan a table in full in its generic plan.
func TestHotPathGenericPlans(t *testing.T) {
	dsn := freshSchema(t)
	open(t, dsn, 2).Close() // migrate
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw, received_at, updated_at)
		 SELECT format('evt_%s', lpad(i::text, 8, '0')), 'src', 'flow', 'k' || i, 'key' || i,
		        CASE WHEN i % 10 = 0 THEN 'held' ELSE 'delivering' END, 'application/json', ''::bytea, now(), now()
		 FROM generate_series(1, 100) i`,
		`INSERT INTO deliveries (id, event_id, route, destination, record_key, state, payload, next_at, created_at, updated_at)
		 SELECT 'dlv_' || substr(id, 5), id, 'r', 'sink', record_key, 'pending', '{}', received_at, received_at, received_at
		 FROM events WHERE state = 'delivering'`,
		`SET plan_cache_mode = force_generic_plan`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i, p := range storepg.HotPlans() {
		name := fmt.Sprintf("hot%d", i)
		if _, err := conn.Exec(ctx, "PREPARE "+name+" AS "+p.Query); err != nil {
			t.Fatalf("%s: prepare: %v", p.Name, err)
		}
		// EXPLAIN EXECUTE takes no bind parameters: the arguments go in
		// as literals.
		var ps []string
		for _, a := range p.Args {
			ps = append(ps, literal(a))
		}
		q := "EXPLAIN (FORMAT JSON) EXECUTE " + name
		if len(ps) > 0 {
			q += "(" + strings.Join(ps, ", ") + ")"
		}
		var out string
		if err := conn.QueryRow(ctx, q).Scan(&out); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		var doc []struct{ Plan planNode }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc) != 1 {
			t.Fatalf("%s: plan %s: %v", p.Name, out, err)
		}
		var nodes []string
		indexes := map[string]bool{}
		doc[0].Plan.walk(func(n *planNode) {
			nodes = append(nodes, fmt.Sprintf("%s %s %s", n.NodeType, n.RelationName, n.IndexName))
			if n.NodeType == "Seq Scan" {
				t.Errorf("%s: generic plan scans %s in full", p.Name, n.RelationName)
			}
			if n.IndexName != "" {
				indexes[n.IndexName] = true
			}
		})
		t.Logf("%s: %s", p.Name, strings.Join(nodes, "; "))
		for _, want := range p.Want {
			if !indexes[want] {
				t.Errorf("%s: generic plan does not use %s: %s", p.Name, want, strings.Join(nodes, "; "))
			}
		}
	}
}

// literal writes a HotPlan argument as an SQL literal.
func literal(a any) string {
	switch v := a.(type) {
	case nil:
		return "NULL"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case []byte:
		return "'\\x" + hex.EncodeToString(v) + "'::bytea"
	case time.Time:
		return "'" + v.UTC().Format(time.RFC3339Nano) + "'::timestamptz"
	case pgtype.Text:
		if !v.Valid {
			return "NULL::text"
		}
		return literal(v.String)
	case pgtype.Timestamptz:
		if !v.Valid {
			return "NULL::timestamptz"
		}
		return literal(v.Time)
	case bool, int, int32, int64:
		return fmt.Sprint(v)
	}
	rv := reflect.ValueOf(a)
	if rv.Kind() == reflect.Slice {
		if rv.Len() == 0 {
			return "'{}'"
		}
		var es []string
		for i := range rv.Len() {
			es = append(es, literal(rv.Index(i).Interface()))
		}
		return "ARRAY[" + strings.Join(es, ", ") + "]"
	}
	panic(fmt.Sprintf("literal: %T", a))
}

// TestMigration0092UpgradesInPlace: a schema made before migration 0092,
// with events in it, gets events_state_flow in place of events_state,
// events_open_age and events_flow_id when an instance starts, keeps every
// row, and its SLA, sweep and list statements then use the new index.
func TestMigration0092UpgradesInPlace(t *testing.T) {
	dsn := freshSchema(t)
	open(t, dsn, 2).Close() // migrate
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Back to the schema before 0092: its three indexes, not the new one,
	// and 0092 not yet applied.
	for _, q := range []string{
		`DROP INDEX events_state_flow`,
		`CREATE INDEX events_state ON events (state, id)`,
		`CREATE INDEX events_open_age ON events (state, flow, received_at) WHERE (state || '') = 'delivering' OR (state || '') = 'held'`,
		`CREATE INDEX events_flow_id ON events (flow, id)`,
		`DELETE FROM schema_migrations WHERE version = '0092_events_state_flow'`,
		`INSERT INTO events (id, source, flow, idem_key, record_key, state, content_type, raw, received_at, updated_at)
		 SELECT format('evt_%s', lpad(i::text, 8, '0')), 'src', CASE WHEN i % 3 = 0 THEN 'other' ELSE 'flow' END, 'k' || i, 'key' || i,
		        CASE WHEN i % 100 = 0 THEN 'delivering' WHEN i % 250 = 1 THEN 'held' ELSE 'delivered' END, 'application/json', ''::bytea,
		        now() - make_interval(secs => 20000 - i), now() - make_interval(secs => 20000 - i)
		 FROM generate_series(1, 20000) i`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	d := open(t, dsn, 2) // applies 0092
	var names []string
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'events' AND indexname LIKE 'events\_%' ORDER BY indexname`)
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
	if got, want := strings.Join(names, " "), "events_held_key events_hold_until events_idem events_pkey events_record_key events_state_flow"; got != want {
		t.Fatalf("indexes of events after 0092: %s, want %s", got, want)
	}
	counts, err := d.Executor().(store.ConsoleStore).EventCountInStates(ctx, []store.EventState{store.EventDelivering, store.EventHeld, store.EventDelivered})
	if err != nil {
		t.Fatal(err)
	}
	if counts[store.EventDelivering] != 200 || counts[store.EventHeld] != 80 || counts[store.EventDelivered] != 19720 {
		t.Fatalf("counts after 0092: %v", counts)
	}
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) events`); err != nil {
		t.Fatal(err)
	}
	for _, p := range storepg.HotPlans() {
		if !strings.HasPrefix(p.Name, "sla: ") && !strings.HasPrefix(p.Name, "metrics: ") && !strings.HasPrefix(p.Name, "sweep: ") && !strings.HasPrefix(p.Name, "lists: ") {
			continue
		}
		var out string
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+p.Query, p.Args...).Scan(&out); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		var doc []struct{ Plan planNode }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc) != 1 {
			t.Fatalf("%s: plan %s: %v", p.Name, out, err)
		}
		indexes := map[string]bool{}
		doc[0].Plan.walk(func(n *planNode) {
			if n.NodeType == "Seq Scan" {
				t.Errorf("%s: sequential scan of %s after 0092", p.Name, n.RelationName)
			}
			indexes[n.IndexName] = true
		})
		for _, want := range p.Want {
			if !indexes[want] {
				t.Errorf("%s: plan does not use %s after 0092: %s", p.Name, want, out)
			}
		}
	}
}
