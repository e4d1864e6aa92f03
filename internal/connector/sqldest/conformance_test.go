package sqldest_test

// The behaviours of connectortest.Exercise, against real databases instead
// of a simulator with injected faults: create, update through the identity
// map, lookup and read-back, no duplicate on a retry (ambiguous or
// concurrent), batch partial failure reported per item, each error class,
// and drift. The HTTP fault cases (500, 503, 429, revoked token, timeout
// after write) have SQL counterparts in sqldest_test.go: connection
// refused, deadlock, administrator shutdown, a timeout mid-statement, a
// role that does not exist, a read-only file.

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
)

const contactsDDL = "email TEXT PRIMARY KEY, name TEXT NOT NULL, score INTEGER CHECK (score >= 0), nickname TEXT UNIQUE, notes TEXT"

func TestConformance(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, b *backend) {
		t.Run("create, update via identity map, lookup, read-back", func(t *testing.T) {
			t.Parallel()
			table := b.table(t, contactsDDL)
			c := b.open(t, map[string]any{"table": table, "key_column": "email"})
			k := "ada@example.com"
			res, err := c.Deliver(ctx(t), delivery(k, map[string]any{"email": k, "name": "Ada", "score": float64(3)}))
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if res.ExternalID != k {
				t.Fatalf("create: external ID %q, want the key %q", res.ExternalID, k)
			}
			if n := b.count(t, table, "email", k); n != 1 {
				t.Fatalf("after create: %d rows, want 1", n)
			}
			d := delivery(k, map[string]any{"name": "Ada Lovelace", "score": float64(4)})
			d.ID, d.ExternalID = "dlv-update", res.ExternalID
			res2, err := c.Deliver(ctx(t), d)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if res2.ExternalID != res.ExternalID {
				t.Fatalf("update changed the external ID %q -> %q", res.ExternalID, res2.ExternalID)
			}
			if n := b.count(t, table, "email", k); n != 1 {
				t.Fatalf("after update: %d rows, want 1", n)
			}
			id, fields, found, err := c.Lookup(ctx(t), k)
			if err != nil || !found || id != k {
				t.Fatalf("lookup = %q %v %v, want %q found", id, found, err, k)
			}
			want := map[string]any{"email": k, "name": "Ada Lovelace", "score": int64(4), "nickname": nil, "notes": nil}
			if fmt.Sprint(fields) != fmt.Sprint(want) {
				t.Fatalf("read-back = %v, want %v", fields, want)
			}
			if _, _, found, err := c.Lookup(ctx(t), "nobody@example.com"); err != nil || found {
				t.Fatalf("lookup of an unknown key: found=%v err=%v", found, err)
			}
		})

		t.Run("writing again without identity map does not duplicate", func(t *testing.T) {
			t.Parallel()
			table := b.table(t, contactsDDL)
			c := b.open(t, map[string]any{"table": table, "key_column": "email", "max_open_conns": 4})
			k := "grace@example.com"
			if _, err := c.Deliver(ctx(t), delivery(k, map[string]any{"name": "Grace"})); err != nil {
				t.Fatal(err)
			}
			d := delivery(k, map[string]any{"name": "Grace Hopper"})
			d.ID, d.Ambiguous, d.Attempt = "dlv-again", true, 2
			if _, err := c.Deliver(ctx(t), d); err != nil {
				t.Fatal(err)
			}
			// The same record from many writers at once, single and batched.
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := range 8 {
				wg.Go(func() {
					p := map[string]any{"name": fmt.Sprintf("writer %d", i)}
					if i%2 == 0 {
						_, err := c.Deliver(ctx(t), delivery(k, p))
						errs <- err
						return
					}
					rs, err := c.DeliverBatch(ctx(t), []connector.Delivery{delivery(k, p), delivery(fmt.Sprintf("other%d@example.com", i), p)})
					if err == nil {
						err = rs[0].Err
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("concurrent write: %v", err)
				}
			}
			if n := b.count(t, table, "email", k); n != 1 {
				t.Fatalf("%d rows for the key, want 1", n)
			}
		})

		t.Run("batch with one bad row: the others are written", func(t *testing.T) {
			t.Parallel()
			table := b.table(t, contactsDDL)
			c := b.open(t, map[string]any{"table": table, "key_column": "email"})
			var ds []connector.Delivery
			for i := range 10 {
				name := any(fmt.Sprintf("Person %d", i))
				if i == 4 {
					name = nil // violates NOT NULL
				}
				ds = append(ds, delivery(fmt.Sprintf("p%d@example.com", i), map[string]any{"name": name, "score": float64(i)}))
			}
			res, err := c.DeliverBatch(ctx(t), ds)
			if err != nil {
				t.Fatalf("batch: %v", err)
			}
			if len(res) != len(ds) {
				t.Fatalf("%d results for %d items", len(res), len(ds))
			}
			for i, r := range res {
				k := ds[i].RecordKey
				if i == 4 {
					ce := classified(t, r.Err, connector.Permanent)
					if !strings.Contains(strings.ToLower(ce.Message), "null") || !strings.Contains(ce.Message, "name") {
						t.Fatalf("the database's message is missing: %q", ce.Message)
					}
					if ce.Sent {
						t.Fatal("a refused row is not ambiguous")
					}
					if n := b.count(t, table, "email", k); n != 0 {
						t.Fatalf("the bad row left %d rows", n)
					}
					continue
				}
				if r.Err != nil || r.Result.ExternalID != k {
					t.Fatalf("item %d: %+v, want written with external ID %q", i, r, k)
				}
				if n := b.count(t, table, "email", k); n != 1 {
					t.Fatalf("item %d: %d rows, want 1", i, n)
				}
			}
		})

		t.Run("removed column is drift", func(t *testing.T) {
			t.Parallel()
			table := b.table(t, contactsDDL)
			c := b.open(t, map[string]any{"table": table, "key_column": "email"})
			if _, err := c.Deliver(ctx(t), delivery("a@example.com", map[string]any{"name": "A", "notes": "a"})); err != nil {
				t.Fatal(err)
			}
			b.exec(t, fmt.Sprintf("ALTER TABLE %q DROP COLUMN notes", table))
			_, err := c.Deliver(ctx(t), delivery("b@example.com", map[string]any{"name": "B", "notes": "b"}))
			ce := classified(t, err, connector.Drift)
			if !strings.Contains(ce.Message, "notes") {
				t.Fatalf("drift message %q does not name the column", ce.Message)
			}
			// In a batch too, and only the rows naming the column fail.
			res, err := c.DeliverBatch(ctx(t), []connector.Delivery{
				delivery("c@example.com", map[string]any{"name": "C"}),
				delivery("d@example.com", map[string]any{"name": "D", "notes": "d"}),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Err != nil {
				t.Fatalf("a row without the removed column failed: %v", res[0].Err)
			}
			classified(t, res[1].Err, connector.Drift)
			// Put back, the destination works again.
			b.exec(t, fmt.Sprintf("ALTER TABLE %q ADD COLUMN notes TEXT", table))
			if _, err := c.Deliver(ctx(t), delivery("b@example.com", map[string]any{"name": "B", "notes": "b"})); err != nil {
				t.Fatalf("after the column came back: %v", err)
			}
		})
	})
}
