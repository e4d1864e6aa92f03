package storepg_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
)

// complete is a capture that may release held records of its key.
func complete(id, key, idem string) *store.Event {
	e := newEvent(id, key)
	e.IdemKey, e.Canonical = idem, json.RawMessage(`{"a":1}`)
	return e
}

func held(id, key string) *store.Event {
	e := newEvent(id, key)
	e.State, e.Canonical, e.Missing = store.EventHeld, json.RawMessage(`{}`), json.RawMessage(`["a"]`)
	return e
}

// TestQueuedCaptures: inside the committer, event inserts are queued and
// answered "new, nothing held" (docs/adr/0049-postgres-queued-captures.md).
// Every answer a caller keeps must still be the database's: a taken
// idempotency key (committed earlier, or earlier in the same transaction)
// answers with the first event, and held records of the key (committed
// earlier, or inserted earlier in the same transaction) are returned.
// Without the checks at the commit, the duplicate would be answered as new
// and the held records as none.
func TestQueuedCaptures(t *testing.T) {
	t.Parallel()
	d, com := lanesCommitter(t, "1")
	drv := d.(*storepg.Driver)
	ctx := context.Background()
	commit(t, d, func(tx store.ExecutorTx) error {
		if _, _, err := tx.EventInsert(ctx, complete("evt_a", "ka", "idem-a")); err != nil {
			return err
		}
		_, _, err := tx.EventInsert(ctx, held("evt_h", "kh"))
		return err
	})

	type answer struct {
		id       string
		inserted bool
		held     []string
	}
	// run runs es in one unit and returns what the unit's last run was
	// told about each (a unit may run more than once).
	run := func(es ...*store.Event) []answer {
		t.Helper()
		var out []answer
		err := com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
			out = out[:0]
			for _, e := range es {
				id, ins, err := tx.EventInsert(ctx, e)
				if err != nil {
					return err
				}
				a := answer{id: id, inserted: ins}
				if ins && e.State != store.EventHeld {
					hs, err := tx.EventListHeldByKey(ctx, e.Flow, e.RecordKey)
					if err != nil {
						return err
					}
					for _, h := range hs {
						a.held = append(a.held, h.ID)
					}
				}
				if err := tx.AuditAppend(ctx, &store.AuditEntry{At: t0, EventID: e.ID, Actor: "test", Action: audit.ActionCaptured}); err != nil {
					return err
				}
				out = append(out, a)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(what string, got answer, id string, inserted bool, held ...string) {
		t.Helper()
		if got.id != id || got.inserted != inserted || fmt.Sprint(got.held) != fmt.Sprint(held) {
			t.Errorf("%s: got %+v, want id %s inserted %v held %v", what, got, id, inserted, held)
		}
	}

	rt0, _ := drv.RoundTrips()
	var es []*store.Event
	for i := range 10 {
		es = append(es, complete(fmt.Sprintf("evt_n%d", i), fmt.Sprintf("kn%d", i), fmt.Sprintf("idem-n%d", i)))
	}
	for i, a := range run(es...) {
		check("new", a, es[i].ID, true)
	}
	if rt1, _ := drv.RoundTrips(); rt1-rt0 > 2 {
		t.Errorf("10 new captures in one transaction took %d round trips, want 2 (queue with chain lock, audit with commit)", rt1-rt0)
	}

	got := run(complete("evt_b", "kb", "idem-a"))
	check("key taken by a committed event", got[0], "evt_a", false)
	got = run(complete("evt_c", "kc", "idem-c"), complete("evt_d", "kd", "idem-c"))
	check("first of a key", got[0], "evt_c", true)
	check("key taken earlier in the transaction", got[1], "evt_c", false)
	got = run(complete("evt_i", "kh", ""))
	check("held record committed", got[0], "evt_i", true, "evt_h")
	got = run(held("evt_j", "kj"), complete("evt_k", "kj", ""))
	check("held record of the transaction", got[1], "evt_k", true, "evt_j")
	got = run(complete("evt_l", "kl", ""), held("evt_m", "kl"))
	check("held record after the capture", got[0], "evt_l", true)

	for _, id := range []string{"evt_b", "evt_d"} {
		if _, err := d.Executor().EventGetByID(ctx, id); err == nil {
			t.Errorf("%s was inserted; its idempotency key was taken", id)
		}
	}
	for _, id := range []string{"evt_n9", "evt_c", "evt_i", "evt_k", "evt_m"} {
		if _, err := d.Executor().EventGetByID(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}
