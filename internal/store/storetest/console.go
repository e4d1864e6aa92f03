package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/store"
)

func consoleOf(t *testing.T, ex store.Executor) store.ConsoleStore {
	t.Helper()
	cs, ok := ex.(store.ConsoleStore)
	if !ok {
		t.Fatalf("%T does not implement store.ConsoleStore", ex)
	}
	return cs
}

// ExerciseConsole runs the conformance suite of store.ConsoleStore: event
// search filters and keyset pages, queue stats, and rollups folded from the
// audit log exactly once.
func ExerciseConsole(t *testing.T, open Opener) {
	t.Run("event search filters and pages", func(t *testing.T) {
		d := open(t)
		var ids []string
		inTx(t, d, func(tx store.ExecutorTx) error {
			for i := 0; i < 6; i++ {
				at := t0.Add(time.Duration(i) * time.Minute)
				e := event(id.New("evt", at), "", "k"+string(rune('a'+i%3))+"@x", store.EventHeld)
				e.ReceivedAt, e.UpdatedAt = at, at
				if i%2 == 1 {
					e.Flow = "other"
				}
				e.Missing = json.RawMessage(`["company"]`)
				if i == 5 {
					e.Missing = json.RawMessage(`["phone","company_size"]`)
				}
				if _, _, err := tx.EventInsert(ctx(t), e); err != nil {
					return err
				}
				ids = append(ids, e.ID)
			}
			return nil
		})
		cs := consoleOf(t, d.Executor())
		get := func(p store.EventSearchParams) []string {
			t.Helper()
			evs, err := cs.EventSearch(ctx(t), &p)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range evs {
				out = append(out, e.ID)
			}
			return out
		}
		same := func(got, want []string) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("got %v, want %v", got, want)
				}
			}
		}
		same(get(store.EventSearchParams{Oldest: true, Limit: 2}), ids[:2])
		same(get(store.EventSearchParams{Oldest: true, Limit: 2, After: ids[1]}), ids[2:4])
		same(get(store.EventSearchParams{Limit: 2}), []string{ids[5], ids[4]})
		same(get(store.EventSearchParams{Limit: 2, After: ids[4]}), []string{ids[3], ids[2]})
		same(get(store.EventSearchParams{Flow: "other", Oldest: true}), []string{ids[1], ids[3], ids[5]})
		same(get(store.EventSearchParams{RecordKey: "ka@x", Oldest: true}), []string{ids[0], ids[3]})
		same(get(store.EventSearchParams{Missing: "company", Oldest: true}), ids[:5])
		same(get(store.EventSearchParams{Missing: "company_size"}), []string{ids[5]})
		same(get(store.EventSearchParams{From: t0.Add(2 * time.Minute), To: t0.Add(4 * time.Minute), Oldest: true}), ids[2:4])
		same(get(store.EventSearchParams{ID: ids[2], State: store.EventHeld}), ids[2:3])
		same(get(store.EventSearchParams{State: store.EventDelivered}), nil)
		evs, _ := cs.EventSearch(ctx(t), &store.EventSearchParams{ID: ids[5]})
		if len(evs) != 1 || len(evs[0].Missing) != 2 || evs[0].Flow != "other" || !evs[0].ReceivedAt.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("summary = %+v", evs)
		}
	})

	t.Run("queue stats", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			if _, _, err := tx.EventInsert(ctx(t), event("evt_q", "", "a@x", store.EventDelivering)); err != nil {
				return err
			}
			for i, st := range []string{store.DeliveryPending, store.DeliveryPending, store.DeliveryInflight, store.DeliverySucceeded} {
				dl := delivery("dlv_q"+string(rune('0'+i)), "evt_q", "crm", "a@x", st, t0)
				dl.CreatedAt = t0.Add(time.Duration(i) * time.Second)
				if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
					return err
				}
			}
			return nil
		})
		qs, err := consoleOf(t, d.Executor()).QueueStats(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(qs) != 1 || qs[0].Destination != "crm" || qs[0].Pending != 2 || qs[0].Inflight != 1 || !qs[0].Oldest.Equal(t0) {
			t.Fatalf("queue stats = %+v", qs)
		}
	})

	t.Run("rollups fold the audit log once and survive reopen", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			for i, st := range []string{store.DeliverySucceeded, store.DeliverySucceeded, store.DeliveryEscalated} {
				evID := "evt_r" + string(rune('0'+i))
				e := event(evID, "", "r"+string(rune('0'+i))+"@x", store.EventDelivered)
				if _, _, err := tx.EventInsert(ctx(t), e); err != nil {
					return err
				}
				dl := delivery("dlv_r"+string(rune('0'+i)), evID, "crm", e.RecordKey, st, t0)
				if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
					return err
				}
				if i != 2 { // the third event's trail lacks its capture entry
					if err := tx.AuditAppend(ctx(t), &store.AuditEntry{At: t0, EventID: evID, Actor: "system", Action: audit.ActionCaptured, Outcome: "delivering"}); err != nil {
						return err
					}
				}
				action, attempt, at := audit.ActionDelivered, 1, t0.Add(300*time.Millisecond)
				switch i {
				case 1:
					attempt, at = 3, t0.Add(70*time.Second) // the next minute
				case 2:
					action, attempt = audit.ActionEscalated, 2
				}
				if err := tx.AuditAppend(ctx(t), &store.AuditEntry{At: at, EventID: evID, DeliveryID: dl.ID, Actor: "system", Action: action, Attempt: attempt}); err != nil {
					return err
				}
			}
			return nil
		})
		fold := func() int {
			t.Helper()
			var n int
			inTx(t, d, func(tx store.ExecutorTx) error {
				var err error
				n, err = consoleOf(t, tx).RollupFold(ctx(t), 2)
				return err
			})
			return n
		}
		total := 0
		for i := 0; i < 10; i++ {
			n := fold()
			if n == 0 {
				break
			}
			total += n
		}
		if total != 5 {
			t.Fatalf("folded %d entries, want 5", total)
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			return consoleOf(t, tx).RollupConsistencyAdd(ctx(t), t0.Add(10*time.Second), "crm", 10, 1)
		})
		rs, err := consoleOf(t, d.Executor()).RollupList(ctx(t), &store.RollupListParams{From: t0, To: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var sum store.Rollup
		for _, r := range rs {
			sum.Add(r)
		}
		if sum.Settled != 3 || sum.Failed != 1 || sum.Retried != 2 || sum.RetriedOK != 1 || sum.Complete != 2 || sum.Checked != 10 || sum.Inconsistent != 1 {
			t.Fatalf("rollup sum = %+v", sum)
		}
		if sum.Latency[store.LatencyBucket(300)] != 1 || sum.Latency[store.LatencyBucket(70000)] != 1 {
			t.Fatalf("latency histogram = %v", sum.Latency)
		}
		if len(rs) != 3 || !rs[0].Minute.Equal(t0) || !rs[len(rs)-1].Minute.Equal(t0.Add(time.Minute)) {
			for _, r := range rs {
				t.Logf("%+v", r)
			}
			t.Fatalf("want rows for (t0, flow), (t0, consistency) and (t0+1m, flow)")
		}
		only, _ := consoleOf(t, d.Executor()).RollupList(ctx(t), &store.RollupListParams{From: t0.Add(time.Minute), To: t0.Add(time.Hour), Destination: "crm", Flow: "flow"})
		if len(only) != 1 || only[0].RetriedOK != 1 {
			t.Fatalf("filtered rollups = %+v", only)
		}
	})
}
