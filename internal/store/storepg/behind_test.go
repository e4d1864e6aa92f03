package storepg_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

// TestQueuedWritesAreReadInTheirTransaction: writes that a transaction
// queues (delivery inserts and updates, identities, event states) are seen
// by its own later reads, in call order, and by others only after the
// commit; inserted deliveries of one key get ascending seq in insert order.
func TestQueuedWritesAreReadInTheirTransaction(t *testing.T) {
	drv := open(t, freshSchema(t), 3)
	ctx := testCtx(t, 30*time.Second)
	commit(t, drv, func(tx store.ExecutorTx) error {
		for _, id := range []string{"evt_1", "evt_2"} {
			if _, _, err := tx.EventInsert(ctx, newEvent(id, "k")); err != nil {
				return err
			}
		}
		return nil
	})
	tx, err := drv.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	a, b := newDelivery("dlv_a", "evt_1", "k", store.DeliveryPending), newDelivery("dlv_b", "evt_2", "k", store.DeliveryPending)
	for _, d := range []*store.Delivery{a, b} {
		if err := tx.DeliveryInsert(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	a.State, a.LastError = store.DeliverySucceeded, "first"
	if err := tx.DeliveryUpdate(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.LastError = "second" // the later update of the same row wins
	if err := tx.DeliveryUpdate(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: "evt_1", State: store.EventDelivered, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if err := tx.IdentityPut(ctx, &store.IdentityPutParams{Destination: "crm", RecordKey: "k", ExternalID: "1", Now: t0}); err != nil {
		t.Fatal(err)
	}
	if err := tx.IdentityPut(ctx, &store.IdentityPutParams{Destination: "crm", RecordKey: "k", ExternalID: "2", Now: t0}); err != nil {
		t.Fatal(err)
	}
	// Not visible outside before the commit.
	if _, err := drv.Executor().DeliveryGetByID(ctx, "dlv_a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another connection sees a queued insert before the commit: %v", err)
	}
	ds, err := tx.DeliveryListByEvent(ctx, "evt_1")
	if err != nil || len(ds) != 1 || ds[0].State != store.DeliverySucceeded || ds[0].LastError != "second" {
		t.Fatalf("own deliveries: %v %+v", err, ds)
	}
	if st, err := tx.EventStateGet(ctx, "evt_1"); err != nil || st != store.EventDelivered {
		t.Fatalf("own event state: %q %v", st, err)
	}
	if id, err := tx.IdentityGet(ctx, "crm", "k"); err != nil || id != "2" {
		t.Fatalf("own identity: %q %v", id, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if a.Seq == 0 || b.Seq <= a.Seq {
		t.Fatalf("seq after commit: a %d, b %d; want ascending in insert order", a.Seq, b.Seq)
	}
	got, err := drv.Executor().DeliveryGetByID(ctx, "dlv_b")
	if err != nil || got.Seq != b.Seq {
		t.Fatalf("committed delivery: %v %+v", err, got)
	}
}

// TestQueuedWriteFailureFailsItsUnitAlone: a queued update of a row that
// does not exist fails at the commit, marked store.ErrNotCommitted, with
// nothing of the transaction persisted; in a group commit the committer then
// runs the units alone, so only the failing unit gets the error.
func TestQueuedWriteFailureFailsItsUnitAlone(t *testing.T) {
	// One write lane: the first unit below holds the committer
	// (TestCommitterLanesBatchFailure is this with two).
	drv := open(t, withParams(t, freshSchema(t), map[string]string{"write_lanes": "1"}), 3)
	ctx := testCtx(t, 30*time.Second)

	err := tryCommit(ctx, drv, func(tx store.ExecutorTx) error {
		if _, _, err := tx.EventInsert(ctx, newEvent("evt_x", "k")); err != nil {
			return err
		}
		return tx.DeliveryUpdate(ctx, newDelivery("dlv_missing", "evt_x", "k", store.DeliverySucceeded))
	})
	if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, store.ErrNotCommitted) {
		t.Fatalf("commit with a queued update of a missing row: %v", err)
	}
	if _, err := drv.Executor().EventGetByID(ctx, "evt_x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed transaction's event persisted: %v", err)
	}

	com := store.NewCommitter(drv, 0)
	defer com.Close()
	// Hold the committer in a first batch until both units are queued, so
	// that they share the next transaction.
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error { close(started); <-release; return nil })
	}()
	<-started
	good, bad := make(chan error, 1), make(chan error, 1)
	go func() {
		good <- com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
			// Queued too, so both units' writes fail or pass at the commit.
			return tx.IdentityPut(ctx, &store.IdentityPutParams{Destination: "crm", RecordKey: "g", ExternalID: "1", Now: t0})
		})
	}()
	go func() {
		bad <- com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
			return tx.EventUpdate(ctx, &store.EventUpdateParams{ID: "evt_missing", State: store.EventDelivered, Now: t0})
		})
	}()
	for com.Pending() != 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-good; err != nil {
		t.Fatalf("the good unit of the batch failed: %v", err)
	}
	if err := <-bad; !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failing unit: %v", err)
	}
	if id, err := drv.Executor().IdentityGet(ctx, "crm", "g"); err != nil || id != "1" {
		t.Fatalf("the good unit's identity: %q %v", id, err)
	}
}

// TestQueuedUpdatesOfSeveralRows: the queued updates of a transaction go
// out as one statement per table (behind.go); every row gets its own
// values, and a row that is gone fails the commit, named, with nothing of
// the transaction persisted.
func TestQueuedUpdatesOfSeveralRows(t *testing.T) {
	drv := open(t, freshSchema(t), 3)
	ctx := testCtx(t, 30*time.Second)
	ds := []*store.Delivery{newDelivery("dlv_1", "evt_1", "k1", store.DeliveryPending),
		newDelivery("dlv_2", "evt_2", "k2", store.DeliveryPending), newDelivery("dlv_3", "evt_2", "k3", store.DeliveryPending)}
	commit(t, drv, func(tx store.ExecutorTx) error {
		for _, id := range []string{"evt_1", "evt_2"} {
			if _, _, err := tx.EventInsert(ctx, newEvent(id, "k")); err != nil {
				return err
			}
		}
		for _, d := range ds {
			if err := tx.DeliveryInsert(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	lease := t0.Add(time.Minute)
	ds[0].State, ds[0].ExternalID, ds[0].LastStatus, ds[0].UpdatedAt = store.DeliverySucceeded, "ext-1", 201, t0.Add(time.Second)
	ds[1].State, ds[1].LeaseOwner, ds[1].LeaseUntil, ds[1].Attempts = store.DeliveryInflight, "w", lease, 3
	ds[2].State, ds[2].LastError, ds[2].Ambiguous, ds[2].NextAt = store.DeliveryPending, "later", true, t0.Add(time.Hour)
	commit(t, drv, func(tx store.ExecutorTx) error {
		for _, d := range ds {
			if err := tx.DeliveryUpdate(ctx, d); err != nil {
				return err
			}
		}
		for _, u := range [][2]string{{"evt_1", "delivered"}, {"evt_2", "escalated"}} {
			if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: u[0], State: store.EventState(u[1]), Now: t0.Add(time.Second)}); err != nil {
				return err
			}
		}
		return nil
	})
	for _, want := range ds {
		got, err := drv.Executor().DeliveryGetByID(ctx, want.ID)
		if err != nil || got.State != want.State || got.ExternalID != want.ExternalID || got.LastStatus != want.LastStatus ||
			!got.UpdatedAt.Equal(want.UpdatedAt) || got.LeaseOwner != want.LeaseOwner || !got.LeaseUntil.Equal(want.LeaseUntil) ||
			got.Attempts != want.Attempts || got.LastError != want.LastError || got.Ambiguous != want.Ambiguous || !got.NextAt.Equal(want.NextAt) {
			t.Fatalf("%s after the update: %v\n got %+v\nwant %+v", want.ID, err, got, want)
		}
	}
	for id, want := range map[string]store.EventState{"evt_1": store.EventDelivered, "evt_2": store.EventEscalated} {
		if st, err := drv.Executor().EventStateGet(ctx, id); err != nil || st != want {
			t.Fatalf("%s: %q %v, want %s", id, st, err, want)
		}
	}

	for _, missingEvent := range []bool{false, true} {
		err := tryCommit(ctx, drv, func(tx store.ExecutorTx) error {
			d1, gone, d2 := *ds[0], *newDelivery("dlv_gone", "evt_1", "k", store.DeliveryEscalated), *ds[1]
			d1.LastError, d2.LastError = "not kept", "not kept"
			evs := []string{"evt_1", "evt_2"}
			if missingEvent {
				evs = []string{"evt_1", "evt_gone", "evt_2"}
			} else {
				if err := tx.DeliveryUpdate(ctx, &d1); err != nil {
					return err
				}
				if err := tx.DeliveryUpdate(ctx, &gone); err != nil {
					return err
				}
			}
			if err := tx.DeliveryUpdate(ctx, &d2); err != nil {
				return err
			}
			for _, id := range evs {
				if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: id, State: store.EventDiscarded, Now: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		gone := "dlv_gone"
		if missingEvent {
			gone = "evt_gone"
		}
		if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, store.ErrNotCommitted) || !strings.Contains(err.Error(), gone) {
			t.Fatalf("commit with a queued update of %s among others: %v", gone, err)
		}
		for _, id := range []string{"dlv_1", "dlv_2"} {
			if got, err := drv.Executor().DeliveryGetByID(ctx, id); err != nil || got.LastError == "not kept" {
				t.Fatalf("%s: the failed transaction's update persisted: %v %+v", id, err, got)
			}
		}
		if st, err := drv.Executor().EventStateGet(ctx, "evt_1"); err != nil || st != store.EventDelivered {
			t.Fatalf("evt_1: the failed transaction's update persisted: %q %v", st, err)
		}
	}
}

// TestRoundTripsOfATransaction counts what a transaction sends: BEGIN goes
// with its first statement, COMMIT with its last (the queued writes, or the
// audit insert after the chain lock), and a transaction that sent nothing
// commits without a round trip.
func TestRoundTripsOfATransaction(t *testing.T) {
	drv := open(t, freshSchema(t), 3)
	ctx := testCtx(t, 30*time.Second)
	count := func(fn func(tx store.ExecutorTx) error) int64 {
		t.Helper()
		before, _ := drv.RoundTrips()
		commit(t, drv, fn)
		after, _ := drv.RoundTrips()
		return after - before
	}
	if n := count(func(tx store.ExecutorTx) error { return nil }); n != 0 {
		t.Errorf("empty transaction: %d round trips, want 0", n)
	}
	// Event insert (with BEGIN), then delivery insert and COMMIT.
	if n := count(func(tx store.ExecutorTx) error {
		if _, _, err := tx.EventInsert(ctx, newEvent("evt_1", "k")); err != nil {
			return err
		}
		return tx.DeliveryInsert(ctx, newDelivery("dlv_1", "evt_1", "k", store.DeliveryPending))
	}); n != 2 {
		t.Errorf("capture without audit: %d round trips, want 2", n)
	}
	// A settle: the event's deliveries and state (with BEGIN); the queued
	// updates with the chain lock and head; the audit insert with COMMIT.
	if n := count(func(tx store.ExecutorTx) error {
		ds, err := tx.DeliveryListByEvent(ctx, "evt_1")
		if err != nil || len(ds) != 1 {
			return fmt.Errorf("deliveries: %v %d", err, len(ds))
		}
		ds[0].State = store.DeliverySucceeded
		if err := tx.DeliveryUpdate(ctx, ds[0]); err != nil {
			return err
		}
		if _, err := tx.EventStateGet(ctx, "evt_1"); err != nil {
			return err
		}
		if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: "evt_1", State: store.EventDelivered, Now: t0}); err != nil {
			return err
		}
		return tx.AuditAppend(ctx, &store.AuditEntry{At: t0, EventID: "evt_1", Actor: "system", Action: audit.ActionDelivered})
	}); n != 3 {
		t.Errorf("settle: %d round trips, want 3", n)
	}
	got, err := drv.Executor().DeliveryGetByID(ctx, "dlv_1")
	if err != nil || got.State != store.DeliverySucceeded {
		t.Fatalf("settled delivery: %v %+v", err, got)
	}
}
