package storetest

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// exerciseSettleSerializes checks the contract on DeliveryListByEvent
// (ADR 0037): a transaction listing an event's deliveries waits for another
// transaction that listed them and wrote one, and then sees its write. Two
// instances settling sibling deliveries rely on it to see each other's.
func exerciseSettleSerializes(t *testing.T, open Opener) {
	d := open(t)
	inTx(t, d, func(tx store.ExecutorTx) error {
		if _, _, err := tx.EventInsert(ctx(t), event("evt_s", "idem-s", "s@x", store.EventDelivering)); err != nil {
			return err
		}
		for _, id := range []string{"ds1", "ds2"} {
			dl := delivery(id, "evt_s", "crm-"+id, "s@x", store.DeliveryInflight, t0)
			if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
				return err
			}
		}
		return nil
	})
	first, err := d.Begin(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := first.DeliveryListByEvent(ctx(t), "evt_s")
	if err != nil || len(ds) != 2 {
		first.Rollback()
		t.Fatalf("first list: %v %v", ds, err)
	}
	for _, dl := range ds {
		if dl.ID == "ds1" {
			dl.State, dl.UpdatedAt = store.DeliverySucceeded, t0
			if err := first.DeliveryUpdate(ctx(t), dl); err != nil {
				first.Rollback()
				t.Fatal(err)
			}
		}
	}
	// The second transaction lists while the first is still open; the
	// pause only makes it likely that its list is sent before the commit.
	seen := make(chan store.DeliveryState, 1)
	errs := make(chan error, 1)
	go func() {
		second, err := d.Begin(ctx(t))
		if err != nil {
			errs <- err
			return
		}
		defer second.Rollback()
		ds, err := second.DeliveryListByEvent(ctx(t), "evt_s")
		if err != nil {
			errs <- err
			return
		}
		for _, dl := range ds {
			if dl.ID == "ds1" {
				seen <- dl.State
			}
		}
		errs <- nil
	}()
	time.Sleep(200 * time.Millisecond)
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if st := <-seen; st != store.DeliverySucceeded {
		t.Fatalf("second transaction saw ds1 %s; it must wait for the first and see its commit", st)
	}
}
