package storetest

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

// exerciseSweep checks EventListDelivering: only events in delivering, in
// (flow, ID) order after the cursor, at most the limit, each with its primary
// deliveries and the unfinished ones among them counted (fallback copies
// left out).
func exerciseSweep(t *testing.T, open Opener) {
	d := open(t)
	ex := d.Executor()
	// evt_w0: all terminal (stuck); evt_w1: one pending; evt_w2: delivered
	// (not listed); evt_w3: no deliveries; evt_w4: primary succeeded, a
	// fallback copy still pending (stuck: copies do not decide).
	inTx(t, d, func(tx store.ExecutorTx) error {
		states := []store.EventState{store.EventDelivering, store.EventDelivering, store.EventDelivered, store.EventDelivering, store.EventDelivering}
		for i, st := range states {
			if _, _, err := tx.EventInsert(ctx(t), event(fmt.Sprintf("evt_w%d", i), fmt.Sprintf("idem-w%d", i), "w@x", st)); err != nil {
				return err
			}
		}
		ds := []*store.Delivery{
			delivery("dw0a", "evt_w0", "crm", "w@x", store.DeliverySucceeded, t0),
			delivery("dw0b", "evt_w0", "sheet", "w@x", store.DeliveryEscalated, t0),
			delivery("dw0c", "evt_w0", "chat", "w@x", store.DeliveryCancelled, t0),
			delivery("dw1a", "evt_w1", "crm", "w@x", store.DeliverySucceeded, t0),
			delivery("dw1b", "evt_w1", "sheet", "w@x", store.DeliveryPending, t0),
			delivery("dw2a", "evt_w2", "crm", "w@x", store.DeliverySucceeded, t0),
			delivery("dw4a", "evt_w4", "crm", "w@x", store.DeliverySucceeded, t0),
		}
		cp := delivery("dw4f", "evt_w4", "backup", "w@x", store.DeliveryPending, t0)
		cp.FallbackFor = "dw4a"
		for _, dl := range append(ds, cp) {
			if err := tx.DeliveryInsert(ctx(t), dl); err != nil {
				return err
			}
		}
		return nil
	})
	type row struct {
		ID              string
		Primaries, Open int
	}
	got := func(after string, limit int) []row {
		t.Helper()
		evs, err := ex.EventListDelivering(ctx(t), &store.EventListDeliveringParams{AfterID: after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		var out []row
		for _, e := range evs {
			if !e.UpdatedAt.Equal(t0) {
				t.Errorf("%s updated at %v, want %v", e.ID, e.UpdatedAt, t0)
			}
			out = append(out, row{e.ID, e.Primaries, e.Open})
		}
		return out
	}
	all := []row{{"evt_w0", 3, 0}, {"evt_w1", 2, 1}, {"evt_w3", 0, 0}, {"evt_w4", 1, 0}}
	if g := got("", 0); !reflect.DeepEqual(g, all) {
		t.Fatalf("all: got %v, want %v", g, all)
	}
	if g := got("", 2); !reflect.DeepEqual(g, all[:2]) {
		t.Fatalf("first window: got %v, want %v", g, all[:2])
	}
	if g := got("evt_w1", 2); !reflect.DeepEqual(g, all[2:]) {
		t.Fatalf("second window: got %v, want %v", g, all[2:])
	}
	if g := got("evt_w4", 2); len(g) != 0 {
		t.Fatalf("past the end: got %v", g)
	}
	// Flows are walked in name order, each in ID order: evt_w5 and evt_w6
	// of flow "a" come before the others, whatever their IDs.
	inTx(t, d, func(tx store.ExecutorTx) error {
		for _, id := range []string{"evt_w6", "evt_w5"} {
			e := event(id, "idem-"+id, "w@x", store.EventDelivering)
			e.Flow = "a"
			if _, _, err := tx.EventInsert(ctx(t), e); err != nil {
				return err
			}
		}
		return nil
	})
	all = append([]row{{"evt_w5", 0, 0}, {"evt_w6", 0, 0}}, all...)
	if g := got("", 0); !reflect.DeepEqual(g, all) {
		t.Fatalf("two flows: got %v, want %v", g, all)
	}
	if g := got("evt_w6", 2); !reflect.DeepEqual(g, all[2:4]) {
		t.Fatalf("across flows: got %v, want %v", g, all[2:4])
	}
	if g := got("evt_gone", 2); !reflect.DeepEqual(g, all[:2]) {
		t.Fatalf("a cursor event that is gone starts over: got %v, want %v", g, all[:2])
	}
}
