package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
		// A state without a flow is read per flow and merged (ADR 0047).
		same(get(store.EventSearchParams{State: store.EventHeld, Limit: 3}), []string{ids[5], ids[4], ids[3]})
		same(get(store.EventSearchParams{State: store.EventHeld, Oldest: true, Limit: 3, After: ids[0]}), ids[1:4])
		same(get(store.EventSearchParams{State: store.EventHeld, Flow: "flow", Oldest: true}), []string{ids[0], ids[2], ids[4]})
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
			// crm: the oldest unfinished delivery is in flight; erp: pending.
			for i, d := range []struct {
				dest, key string
				st        store.DeliveryState
				created   time.Duration
			}{
				{"crm", "a@x", store.DeliveryInflight, 0},
				{"crm", "b@x", store.DeliveryPending, time.Second},
				{"crm", "c@x", store.DeliveryPending, 2 * time.Second},
				{"crm", "a@x", store.DeliveryWaiting, 5 * time.Second},
				{"crm", "d@x", store.DeliverySucceeded, -time.Hour},
				{"erp", "a@x", store.DeliveryPending, 7 * time.Second},
				{"erp", "e@x", store.DeliveryEscalated, -time.Hour},
			} {
				dl := delivery("dlv_q"+string(rune('0'+i)), "evt_q", d.dest, d.key, d.st, t0)
				dl.CreatedAt = t0.Add(d.created)
				if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
					return err
				}
			}
			return nil
		})
		cs := consoleOf(t, d.Executor())
		all := &store.QueueStatsParams{Destinations: []string{"erp", "crm", "crm", "none"}}
		qs, err := cs.QueueStats(ctx(t), all)
		if err != nil {
			t.Fatal(err)
		}
		if len(qs) != 2 || qs[0].Destination != "crm" || qs[0].Pending != 3 || qs[0].Capped || qs[0].Inflight != 1 || !qs[0].Oldest.Equal(t0) {
			t.Fatalf("queue stats = %+v", qs)
		}
		if qs[1].Destination != "erp" || qs[1].Pending != 1 || qs[1].Inflight != 0 || !qs[1].Oldest.Equal(t0.Add(7*time.Second)) {
			t.Fatalf("queue stats of erp = %+v", qs[1])
		}
		// The limit applies to the waiting and pending ones, not to those
		// in flight; past the limit the count says it is a lower bound.
		for limit, want := range map[int64]struct {
			pending int64
			capped  bool
		}{1: {1, true}, 2: {2, true}, 3: {3, false}} {
			qs, err := cs.QueueStats(ctx(t), &store.QueueStatsParams{Destinations: all.Destinations, CountLimit: limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(qs) != 2 || qs[0].Pending != want.pending || qs[0].Capped != want.capped || qs[0].Inflight != 1 || !qs[0].Oldest.Equal(t0) {
				t.Fatalf("limit %d: queue stats = %+v, want pending %d capped %v", limit, qs[0], want.pending, want.capped)
			}
		}
		// Only the destinations asked for are read.
		if qs, err := cs.QueueStats(ctx(t), &store.QueueStatsParams{Destinations: []string{"none"}}); err != nil || len(qs) != 0 {
			t.Fatalf("queue stats of none = %+v, %v", qs, err)
		}
		if _, err := cs.QueueStats(ctx(t), &store.QueueStatsParams{CountLimit: -1}); err == nil || !strings.Contains(err.Error(), "count_limit") {
			t.Fatalf("negative limit: err = %v", err)
		}
	})

	t.Run("rollups fold the audit log once and survive reopen", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			for i, st := range []store.DeliveryState{store.DeliverySucceeded, store.DeliverySucceeded, store.DeliveryEscalated} {
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

	t.Run("rollups count a delivery once when it settles again", func(t *testing.T) {
		// dlv_a: escalated after 3 attempts, retried by a person, delivered
		// (attempt 1 of the revived delivery) two minutes later.
		// dlv_b: escalated, retried, escalated again.
		// The fold runs between the settlements for dlv_a (two batches) and
		// once over both of dlv_b's (one batch): each way counts once.
		d := open(t)
		cs := func(tx store.ExecutorTx) store.ConsoleStore { return consoleOf(t, tx) }
		settle := func(evID, dlvID string, action audit.Action, attempt int, at time.Time) {
			inTx(t, d, func(tx store.ExecutorTx) error {
				return tx.AuditAppend(ctx(t), &store.AuditEntry{At: at, EventID: evID, DeliveryID: dlvID, Actor: "system", Action: action, Attempt: attempt})
			})
		}
		foldAll := func() {
			inTx(t, d, func(tx store.ExecutorTx) error {
				for range 20 {
					n, err := cs(tx).RollupFold(ctx(t), 100)
					if err != nil || n == 0 {
						return err
					}
				}
				return nil
			})
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			for _, k := range []string{"a", "b"} {
				e := event("evt_"+k, "", k+"@x", store.EventDelivering)
				if _, _, err := tx.EventInsert(ctx(t), e); err != nil {
					return err
				}
				if err := tx.DeliveryInsert(ctx(t), delivery("dlv_"+k, e.ID, "crm", e.RecordKey, store.DeliveryPending, t0)); err != nil {
					return err
				}
				if err := tx.AuditAppend(ctx(t), &store.AuditEntry{At: t0, EventID: e.ID, Actor: "system", Action: audit.ActionCaptured}); err != nil {
					return err
				}
			}
			return nil
		})
		settle("evt_a", "dlv_a", audit.ActionEscalated, 3, t0.Add(10*time.Second))
		foldAll()
		settle("evt_a", "dlv_a", audit.ActionDelivered, 1, t0.Add(130*time.Second))
		foldAll()
		settle("evt_b", "dlv_b", audit.ActionEscalated, 1, t0.Add(20*time.Second))
		settle("evt_b", "dlv_b", audit.ActionEscalated, 2, t0.Add(140*time.Second))
		foldAll()
		sum := func(p store.RollupListParams) (store.Rollup, []*store.Rollup) {
			t.Helper()
			rs, err := consoleOf(t, d.Executor()).RollupList(ctx(t), &p)
			if err != nil {
				t.Fatal(err)
			}
			var s store.Rollup
			for _, r := range rs {
				s.Add(r)
			}
			return s, rs
		}
		all, _ := sum(store.RollupListParams{From: t0, To: t0.Add(time.Hour)})
		if all.Settled != 2 || all.Failed != 1 || all.Retried != 2 || all.RetriedOK != 1 || all.Complete != 2 {
			t.Fatalf("want 2 settled (a delivered after a retry, b escalated twice), 1 failed, 2 retried, 1 retried ok, 2 complete; got %+v", all)
		}
		if all.Latency[store.LatencyBucket(130000)] != 1 {
			t.Fatalf("latency histogram = %v, want the delivery in the 130 s bucket", all.Latency)
		}
		first, _ := sum(store.RollupListParams{From: t0, To: t0.Add(time.Minute)})
		if first.Settled != 0 || first.Failed != 0 {
			t.Fatalf("the first minute still counts the replaced escalations: %+v", first)
		}
		// Buckets: the hour summed into one row per flow and destination,
		// starting at From.
		_, hour := sum(store.RollupListParams{From: t0, To: t0.Add(time.Hour), Bucket: time.Hour})
		if len(hour) != 1 || !hour[0].Minute.Equal(t0) || hour[0].Settled != 2 || hour[0].Flow != "flow" || hour[0].Destination != "crm" {
			t.Fatalf("hour bucket = %+v", hour)
		}
		_, mins := sum(store.RollupListParams{From: t0, To: t0.Add(time.Hour), Bucket: 2 * time.Minute})
		if len(mins) != 2 || !mins[1].Minute.Equal(t0.Add(2*time.Minute)) || mins[1].Settled != 2 || mins[0].Settled != 0 {
			t.Fatalf("2-minute buckets = %+v", mins)
		}
	})

	t.Run("event counts in states", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			for i, st := range []store.EventState{store.EventHeld, store.EventHeld, store.EventEscalated, store.EventDelivered} {
				if _, _, err := tx.EventInsert(ctx(t), event(fmt.Sprintf("evt_c%d", i), "", fmt.Sprintf("c%d@x", i), st)); err != nil {
					return err
				}
			}
			return nil
		})
		n, err := consoleOf(t, d.Executor()).EventCountInStates(ctx(t), []store.EventState{store.EventHeld, store.EventEscalated, store.EventDelivering})
		if err != nil {
			t.Fatal(err)
		}
		if len(n) != 3 || n[store.EventHeld] != 2 || n[store.EventEscalated] != 1 || n[store.EventDelivering] != 0 {
			t.Fatalf("counts = %v", n)
		}
	})

	t.Run("console sessions", func(t *testing.T) {
		d := open(t)
		cs := consoleOf(t, d.Executor())
		s := &store.ConsoleSession{IDHash: "h1", Actor: "ana", Role: "admin", CreatedAt: t0, SeenAt: t0}
		if err := cs.ConsoleSessionInsert(ctx(t), s); err != nil {
			t.Fatal(err)
		}
		if err := cs.ConsoleSessionInsert(ctx(t), &store.ConsoleSession{IDHash: "h2", Actor: "val", Role: "viewer", CreatedAt: t0.Add(-13 * time.Hour), SeenAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := cs.ConsoleSessionTouch(ctx(t), "h1", t0.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		// An older touch (another instance, late) does not move it back.
		if err := cs.ConsoleSessionTouch(ctx(t), "h1", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, err := cs.ConsoleSessionGet(ctx(t), "h1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Actor != "ana" || got.Role != "admin" || !got.CreatedAt.Equal(t0) || !got.SeenAt.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("session = %+v", got)
		}
		if _, err := cs.ConsoleSessionGet(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing session: %v, want ErrNotFound", err)
		}
		// h2 is past its absolute age; h1 was seen recently.
		n, err := cs.ConsoleSessionPurge(ctx(t), &store.ConsoleSessionPurgeParams{SeenBefore: t0.Add(-30 * time.Minute), CreatedBefore: t0.Add(-12 * time.Hour)})
		if err != nil || n != 1 {
			t.Fatalf("purge = %d, %v; want 1", n, err)
		}
		if _, err := cs.ConsoleSessionGet(ctx(t), "h2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("purged session: %v", err)
		}
		if err := cs.ConsoleSessionDelete(ctx(t), "h1"); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.ConsoleSessionGet(ctx(t), "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted session: %v", err)
		}
		if err := cs.ConsoleSessionDelete(ctx(t), "h1"); err != nil {
			t.Fatalf("deleting twice: %v", err)
		}
	})

	t.Run("conditional updates refuse a stale version", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			e := event("evt_v", "", "v@x", store.EventHeld)
			if _, _, err := tx.EventInsert(ctx(t), e); err != nil {
				return err
			}
			return tx.EscalationInsert(ctx(t), &store.Escalation{ID: "esc_v", EventID: e.ID, Kind: "hold_expired", Reason: "r",
				Status: store.EscalationOpen, CreatedAt: t0, UpdatedAt: t0})
		})
		evUp := func(tx store.ExecutorTx, version, now time.Time) error {
			return tx.EventUpdate(ctx(t), &store.EventUpdateParams{ID: "evt_v", State: store.EventHeld, Now: now, IfUpdatedAt: version})
		}
		tkUp := func(tx store.ExecutorTx, version, now time.Time) error {
			owner := "ana"
			return tx.TicketUpdate(ctx(t), &store.TicketUpdateParams{ID: "esc_v", Owner: &owner, Now: now, IfUpdatedAt: version})
		}
		for name, up := range map[string]func(store.ExecutorTx, time.Time, time.Time) error{"event": evUp, "ticket": tkUp} {
			t.Run(name, func(t *testing.T) {
				// Two editors loaded version t0. The first saves in a
				// transaction; the second starts its own before the first
				// commits. Exactly one change lands, the other is ErrStale.
				txA, err := d.Begin(ctx(t))
				if err != nil {
					t.Fatal(err)
				}
				if err := up(txA, t0, t0.Add(time.Second)); err != nil {
					txA.Rollback()
					t.Fatal(err)
				}
				second := make(chan error, 1)
				go func() {
					txB, err := d.Begin(ctx(t))
					if err != nil {
						second <- err
						return
					}
					err = up(txB, t0, t0.Add(2*time.Second))
					if err != nil {
						txB.Rollback()
					} else {
						err = txB.Commit()
					}
					second <- err
				}()
				// Give the second a moment to reach its update (on
				// PostgreSQL it then waits on the row lock; SQLite's
				// single writer makes it wait in Begin). Either way the
				// outcome does not depend on this pause.
				time.Sleep(50 * time.Millisecond)
				if err := txA.Commit(); err != nil {
					t.Fatal(err)
				}
				if err := <-second; !errors.Is(err, store.ErrStale) {
					t.Fatalf("second save from the same version: %v, want ErrStale", err)
				}
				inTx(t, d, func(tx store.ExecutorTx) error {
					if err := up(tx, t0.Add(time.Second), t0.Add(3*time.Second)); err != nil {
						return fmt.Errorf("save from the current version: %w", err)
					}
					return nil
				})
				tx, err := d.Begin(ctx(t))
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				if err := up(tx, t0, t0.Add(4*time.Second)); !errors.Is(err, store.ErrStale) {
					t.Fatalf("save from an old version: %v, want ErrStale", err)
				}
			})
		}
		inTx(t, d, func(tx store.ExecutorTx) error {
			err := tx.EventUpdate(ctx(t), &store.EventUpdateParams{ID: "evt_gone", State: store.EventHeld, Now: t0, IfUpdatedAt: t0})
			if !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("missing event: %v, want ErrNotFound", err)
			}
			return nil
		})
	})
}
