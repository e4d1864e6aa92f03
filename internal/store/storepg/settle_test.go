package storepg_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
)

// TestSettleFromClaim: inside the committer, a settle's read of its
// event's state and deliveries is answered from what the claim saw, for
// events with one delivery (docs/adr/0049-postgres-queued-captures.md),
// and checked at the commit. A settle must still act on the rows as they
// are when it commits: here the delivery and the event change between
// the claim and the settle, and the settle's last run must see both
// changes. Without the check it is told the claimed row and the
// delivering state.
func TestSettleFromClaim(t *testing.T) {
	t.Parallel()
	d, com := lanesCommitter(t, "1")
	drv := d.(*storepg.Driver)
	ctx := context.Background()
	commit(t, d, func(tx store.ExecutorTx) error {
		for _, id := range []string{"a", "b"} {
			if _, _, err := tx.EventInsert(ctx, newEvent("evt_"+id, "k"+id)); err != nil {
				return err
			}
			if err := tx.DeliveryInsert(ctx, newDelivery("dlv_"+id, "evt_"+id, "k"+id, store.DeliveryPending)); err != nil {
				return err
			}
		}
		return nil
	})
	claimed, err := d.Executor().DeliveryClaim(ctx, &store.DeliveryClaimParams{Destination: "crm", Owner: "w",
		Now: t0.Add(time.Second), LeaseUntil: t0.Add(time.Hour), Limit: 10})
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}

	// settle reads what a settle reads and returns what its last run saw.
	settle := func(eventID string) (st store.EventState, ds []*store.Delivery) {
		t.Helper()
		err := com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
			got, err := tx.DeliveryListByEvent(ctx, eventID)
			if err != nil {
				return err
			}
			if st, err = tx.EventStateGet(ctx, eventID); err != nil {
				return err
			}
			ds = ds[:0]
			for _, x := range got {
				seen := *x
				ds = append(ds, &seen)
				x.State, x.UpdatedAt = store.DeliverySucceeded, t0.Add(time.Minute)
				if err := tx.DeliveryUpdate(ctx, x); err != nil {
					return err
				}
			}
			return tx.EventUpdate(ctx, &store.EventUpdateParams{ID: eventID, State: store.EventDelivered, Now: t0.Add(time.Minute)})
		})
		if err != nil {
			t.Fatal(err)
		}
		return st, ds
	}

	rt0, _ := drv.RoundTrips()
	st, ds := settle("evt_a")
	if rt1, _ := drv.RoundTrips(); rt1-rt0 > 2 {
		t.Errorf("a settle answered from its claim took %d round trips, want 2", rt1-rt0)
	}
	if st != store.EventDelivering || len(ds) != 1 || ds[0].ID != "dlv_a" || ds[0].State != store.DeliveryInflight || ds[0].LeaseOwner != "w" {
		t.Fatalf("settle of evt_a saw %s and %+v", st, ds)
	}

	// Between claim and settle: the lease is renewed and the event moved.
	commit(t, d, func(tx store.ExecutorTx) error {
		x := *claimed[1]
		x.LeaseUntil = t0.Add(2 * time.Hour)
		if err := tx.DeliveryUpdate(ctx, &x); err != nil {
			return err
		}
		return tx.EventUpdate(ctx, &store.EventUpdateParams{ID: "evt_b", State: store.EventEscalated, Now: t0.Add(time.Second)})
	})
	reruns := drv.Reruns()
	st, ds = settle("evt_b")
	if st != store.EventEscalated || len(ds) != 1 || !ds[0].LeaseUntil.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("settle of evt_b saw %s and %+v; want the state and lease written after the claim", st, ds)
	}
	if drv.Reruns() == reruns {
		t.Error("the settle of evt_b was not run again after its check")
	}
	for _, id := range []string{"dlv_a", "dlv_b"} {
		got, err := d.Executor().DeliveryGetByID(ctx, id)
		if err != nil || got.State != store.DeliverySucceeded {
			t.Errorf("%s: %+v, %v", id, got, err)
		}
	}
}
