package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

func retentionOf(t *testing.T, ex store.Executor) store.RetentionStore {
	t.Helper()
	rs, ok := ex.(store.RetentionStore)
	if !ok {
		t.Fatalf("%T does not implement store.RetentionStore", ex)
	}
	return rs
}

// finished is what retention deletes.
var finished = []store.EventState{store.EventDelivered, store.EventDiscarded, store.EventRejected}

// exerciseRetention runs the conformance suite of store.RetentionStore.
func exerciseRetention(t *testing.T, open Opener) {
	old, cutoff, recent := t0, t0.Add(24*time.Hour), t0.Add(48*time.Hour)

	t.Run("event prune deletes only finished old events, in batches", func(t *testing.T) {
		d := open(t)
		keep := map[string]string{}
		inTx(t, d, func(tx store.ExecutorTx) error {
			add := func(id string, state store.EventState, updated time.Time) error {
				e := event(id, "", id+"@x", state)
				e.ReceivedAt, e.UpdatedAt = old, updated
				_, _, err := tx.EventInsert(ctx(t), e)
				return err
			}
			steps := []error{
				// deleted: finished and old, with their rows
				add("evt_01", store.EventDelivered, old),
				tx.DeliveryInsert(ctx(t), delivery("dlv_01", "evt_01", "crm", "evt_01@x", store.DeliverySucceeded, old)),
				add("evt_02", store.EventDiscarded, old),
				tx.EscalationInsert(ctx(t), &store.Escalation{ID: "esc_02", EventID: "evt_02", Kind: "permanent_error", Reason: "r",
					Status: store.EscalationDiscarded, CreatedAt: old, UpdatedAt: old}),
				tx.DeliveryInsert(ctx(t), delivery("dlv_02", "evt_02", "crm", "evt_02@x", store.DeliveryCancelled, old)),
				add("evt_03", store.EventRejected, old),
				add("evt_04", store.EventDelivered, old),
				tx.ReconciliationInsert(ctx(t), &store.Reconciliation{ID: "rec_04", EventID: "evt_04", Status: store.ReconciliationResolved,
					Summary: []byte(`{}`), CreatedAt: old, UpdatedAt: old}),
				// kept
				add("evt_10", store.EventDelivered, recent),
				add("evt_11", store.EventHeld, old),
				add("evt_12", store.EventEscalated, old),
				add("evt_13", store.EventDelivering, old),
				add("evt_14", store.EventDelivered, old), // a fallback copy still pending
				tx.DeliveryInsert(ctx(t), delivery("dlv_14", "evt_14", "backup", "evt_14@x", store.DeliveryPending, old)),
				add("evt_15", store.EventDelivered, old), // open reconciliation
				tx.ReconciliationInsert(ctx(t), &store.Reconciliation{ID: "rec_15", EventID: "evt_15", Status: store.ReconciliationOpen,
					Summary: []byte(`{}`), CreatedAt: old, UpdatedAt: old}),
				add("evt_16", store.EventDiscarded, old), // open escalation
				tx.EscalationInsert(ctx(t), &store.Escalation{ID: "esc_16", EventID: "evt_16", Kind: "k", Reason: "r",
					Status: store.EscalationOpen, CreatedAt: old, UpdatedAt: old}),
			}
			return errors.Join(steps...)
		})
		for _, id := range []string{"evt_10", "evt_11", "evt_12", "evt_13", "evt_14", "evt_15", "evt_16"} {
			keep[id] = "kept"
		}
		rs := retentionOf(t, d.Executor())
		var batches []int
		total := store.PruneResult{}
		for i := 0; i < 5; i++ {
			res, err := rs.EventPrune(ctx(t), &store.EventPruneParams{States: finished, UpdatedBefore: cutoff, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, res.Events)
			total.Events += res.Events
			total.Deliveries += res.Deliveries
			total.Escalations += res.Escalations
			total.Reconciliations += res.Reconciliations
			if i == 0 && (res.OldestID != "evt_01" || res.NewestID != "evt_03") {
				t.Errorf("first batch range %s..%s, want evt_01..evt_03 (oldest first)", res.OldestID, res.NewestID)
			}
			if res.Events == 0 {
				break
			}
		}
		if fmt.Sprint(batches) != "[3 1 0]" {
			t.Errorf("batch sizes %v, want [3 1 0] (limit 3, 4 deletable)", batches)
		}
		if total.Events != 4 || total.Deliveries != 2 || total.Escalations != 1 || total.Reconciliations != 1 {
			t.Errorf("deleted %+v, want 4 events, 2 deliveries, 1 escalation, 1 reconciliation", total)
		}
		ex := d.Executor()
		for _, id := range []string{"evt_01", "evt_02", "evt_03", "evt_04"} {
			if _, err := ex.EventGetByID(ctx(t), id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s still there (%v)", id, err)
			}
		}
		if _, err := ex.DeliveryGetByID(ctx(t), "dlv_01"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("dlv_01 still there (%v)", err)
		}
		if _, err := ex.EscalationGetByID(ctx(t), "esc_02"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("esc_02 still there (%v)", err)
		}
		for id := range keep {
			if _, err := ex.EventGetByID(ctx(t), id); err != nil {
				t.Errorf("%s was deleted: %v", id, err)
			}
		}
		// The ID bound narrows the search without changing the result.
		res, err := rs.EventPrune(ctx(t), &store.EventPruneParams{States: finished, UpdatedBefore: recent.Add(time.Hour), BeforeID: "evt_10", Limit: 10})
		if err != nil || res.Events != 0 {
			t.Errorf("prune below evt_10: %+v %v, want nothing (the rest is kept for other reasons)", res, err)
		}
		res, err = rs.EventPrune(ctx(t), &store.EventPruneParams{States: finished, UpdatedBefore: recent.Add(time.Hour), BeforeID: "evt_11", Limit: 10})
		if err != nil || res.Events != 1 || res.OldestID != "evt_10" {
			t.Errorf("prune below evt_11 after its time: %+v %v, want evt_10", res, err)
		}
	})

	t.Run("audit prune keeps the chain verifiable from a checkpoint", func(t *testing.T) {
		d := open(t)
		inTx(t, d, func(tx store.ExecutorTx) error {
			_, _, err := tx.EventInsert(ctx(t), event("evt_live", "", "live@x", store.EventEscalated))
			return err
		})
		appendAt := func(at time.Time, eventID string, action audit.Action) {
			inTx(t, d, func(tx store.ExecutorTx) error {
				return tx.AuditAppend(ctx(t), &store.AuditEntry{At: at, EventID: eventID, Actor: "system", Action: action})
			})
		}
		// seq 1..4: trails of events deleted long ago; 5: a system entry;
		// 6: the capture of an event still stored; 7: an old entry after it.
		for i := 1; i <= 4; i++ {
			appendAt(old, fmt.Sprintf("evt_gone%d", i), audit.ActionCaptured)
		}
		appendAt(old, "", audit.ActionDestinationPaused)
		appendAt(old, "evt_live", audit.ActionCaptured)
		appendAt(old, "evt_gone1", audit.ActionDelivered)
		appendAt(recent, "", audit.ActionDestinationResumed)

		rs := retentionOf(t, d.Executor())
		if cp, err := rs.AuditCheckpointGet(ctx(t)); err != nil || cp != nil {
			t.Fatalf("checkpoint before any prune: %+v %v, want none", cp, err)
		}
		prune := func(limit int) (*store.AuditCheckpoint, int) {
			t.Helper()
			var cp *store.AuditCheckpoint
			var n int
			inTx(t, d, func(tx store.ExecutorTx) error {
				var err error
				cp, n, err = retentionOf(t, tx).AuditPrune(ctx(t), &store.AuditPruneParams{Before: cutoff, Limit: limit, Now: recent})
				if err != nil || cp == nil {
					return err
				}
				return tx.AuditAppend(ctx(t), &store.AuditEntry{At: recent, Actor: "system", Action: audit.ActionPruned, Message: audit.PrunedMessage(cp, n)})
			})
			return cp, n
		}
		cp, n := prune(2)
		if n != 2 || cp == nil || cp.Seq != 2 || cp.Deleted != 2 || !cp.At.Equal(old) {
			t.Fatalf("first batch: %+v, %d; want checkpoint at seq 2 after deleting 2", cp, n)
		}
		cp, n = prune(100)
		if n != 3 || cp.Seq != 5 {
			t.Fatalf("second batch: %+v, %d; want 3 more deleted, stopping before seq 6 (evt_live's trail)", cp, n)
		}
		if cp, n = prune(100); cp != nil || n != 0 {
			t.Fatalf("third batch: %+v, %d; want nothing (pinned by evt_live)", cp, n)
		}
		got, err := rs.AuditCheckpointGet(ctx(t))
		if err != nil || got == nil || got.Seq != 5 {
			t.Fatalf("checkpoint: %+v %v, want seq 5", got, err)
		}
		trail, err := d.Executor().AuditListByEvent(ctx(t), "evt_live")
		if err != nil || len(trail) != 1 {
			t.Fatalf("evt_live trail: %d entries, %v", len(trail), err)
		}
		rep, err := audit.Verify(ctx(t), d.Executor())
		if err != nil {
			t.Fatalf("verify after prune: %v", err)
		}
		if rep.From != 5 || rep.Entries != 5 || rep.LastSeq != 10 {
			t.Fatalf("verify report %+v, want from 5, 5 entries (6..10), last seq 10", rep)
		}
	})

	t.Run("audit prune never deletes the head", func(t *testing.T) {
		d := open(t)
		for i := 0; i < 3; i++ {
			inTx(t, d, func(tx store.ExecutorTx) error {
				return tx.AuditAppend(ctx(t), &store.AuditEntry{At: old, Actor: "system", Action: audit.ActionState})
			})
		}
		var cp *store.AuditCheckpoint
		var n int
		inTx(t, d, func(tx store.ExecutorTx) error {
			var err error
			cp, n, err = retentionOf(t, tx).AuditPrune(ctx(t), &store.AuditPruneParams{Before: recent, Limit: 100, Now: recent})
			if err != nil {
				return err
			}
			// The next append still links to the kept head.
			return tx.AuditAppend(ctx(t), &store.AuditEntry{At: recent, Actor: "system", Action: audit.ActionPruned, Message: audit.PrunedMessage(cp, n)})
		})
		if n != 2 || cp.Seq != 2 {
			t.Fatalf("pruned %d through %+v, want 2 (seq 3 is the head)", n, cp)
		}
		if _, err := audit.Verify(ctx(t), d.Executor()); err != nil {
			t.Fatalf("verify: %v", err)
		}
	})

	t.Run("verify refuses an unattested checkpoint", func(t *testing.T) {
		d := open(t)
		for i := 0; i < 4; i++ {
			inTx(t, d, func(tx store.ExecutorTx) error {
				return tx.AuditAppend(ctx(t), &store.AuditEntry{At: old, Actor: "system", Action: audit.ActionState})
			})
		}
		// A prune whose batch did not record its attestation (as if the
		// checkpoint had been written by hand to cover deleted rows).
		if _, _, err := retentionOf(t, d.Executor()).AuditPrune(ctx(t), &store.AuditPruneParams{Before: recent, Limit: 2, Now: recent}); err != nil {
			t.Fatal(err)
		}
		_, err := audit.Verify(ctx(t), d.Executor())
		var be *audit.BrokenError
		if !errors.As(err, &be) || be.Seq != 3 {
			t.Fatalf("verify: %v, want broken at seq 3 (checkpoint not attested)", err)
		}
	})
}
