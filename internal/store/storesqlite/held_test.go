package storesqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// TestHeldByKeyInOneTransaction: a transaction answers held-by-key from
// the flow's held keys read once (storesqlite's held-key cache). Every
// write of that same transaction that can hold an event under a key (an
// insert in state held, an update to held or of the record key, a
// replay's record put) must show in its later lookups, as it would with a
// statement per lookup; and a flow with more held keys than are cached
// still answers by key.
func TestHeldByKeyInOneTransaction(t *testing.T) {
	ctx := context.Background()
	d, err := storesqlite.Open(ctx, filepath.Join(t.TempDir(), "held.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.UnixMilli(1_700_000_000_000).UTC()
	ev := func(id, flow, key string, st store.EventState) *store.Event {
		return &store.Event{ID: id, Source: "src", Flow: flow, RecordKey: key, State: st, ContentType: "application/json",
			Raw: []byte(`{}`), Canonical: json.RawMessage(`{}`), ReceivedAt: now, UpdatedAt: now}
	}
	held := func(tx store.ExecutorTx, flow, key string) []string {
		t.Helper()
		es, err := tx.EventListHeldByKey(ctx, flow, key)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		return ids
	}
	insert := func(tx store.ExecutorTx, e *store.Event) {
		t.Helper()
		if _, _, err := tx.EventInsert(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Committed before: one held event in flow f, key a; 1,100 in flow
	// "many" (more than the cache takes).
	tx, err := d.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insert(tx, ev("evt_00", "f", "a", store.EventHeld))
	for i := range 1100 {
		insert(tx, ev(fmt.Sprintf("evt_m%04d", i), "many", fmt.Sprintf("k%04d", i), store.EventHeld))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	tx, err = d.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if got := held(tx, "f", "a"); len(got) != 1 || got[0] != "evt_00" {
		t.Fatalf("committed held event: got %v", got)
	}
	if got := held(tx, "f", "b"); len(got) != 0 {
		t.Fatalf("key b: got %v, want none", got)
	}
	if got := held(tx, "many", "k1099"); len(got) != 1 || got[0] != "evt_m1099" {
		t.Fatalf("flow with many held keys: got %v", got)
	}
	// Held in this transaction by an insert.
	insert(tx, ev("evt_01", "f", "b", store.EventHeld))
	if got := held(tx, "f", "b"); len(got) != 1 || got[0] != "evt_01" {
		t.Fatalf("after an insert held: got %v, want evt_01", got)
	}
	// By an update to held.
	insert(tx, ev("evt_02", "f", "c", store.EventDelivering))
	if got := held(tx, "f", "c"); len(got) != 0 {
		t.Fatalf("key c: got %v, want none", got)
	}
	if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: "evt_02", State: store.EventHeld, Now: now}); err != nil {
		t.Fatal(err)
	}
	if got := held(tx, "f", "c"); len(got) != 1 || got[0] != "evt_02" {
		t.Fatalf("after an update to held: got %v, want evt_02", got)
	}
	// By an update of a held event's record key.
	if got := held(tx, "f", "d"); len(got) != 0 {
		t.Fatalf("key d: got %v, want none", got)
	}
	key := "d"
	if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: "evt_02", State: store.EventHeld, RecordKey: &key, Now: now}); err != nil {
		t.Fatal(err)
	}
	if got := held(tx, "f", "d"); len(got) != 1 || got[0] != "evt_02" {
		t.Fatalf("after a key change: got %v, want evt_02", got)
	}
	// By a replay's record put.
	if got := held(tx, "f", "e"); len(got) != 0 {
		t.Fatalf("key e: got %v, want none", got)
	}
	rp, ok := tx.(store.ReplayStore)
	if !ok {
		t.Fatal("transaction is not a store.ReplayStore")
	}
	if err := rp.EventRecordPut(ctx, &store.EventRecordPutParams{ID: "evt_00", State: store.EventHeld, RecordKey: "e", Canonical: json.RawMessage(`{}`), Now: now}); err != nil {
		t.Fatal(err)
	}
	if got := held(tx, "f", "e"); len(got) != 1 || got[0] != "evt_00" {
		t.Fatalf("after a record put: got %v, want evt_00", got)
	}
	// Released: the cache may still name the key, the lookup finds none.
	if err := tx.EventUpdate(ctx, &store.EventUpdateParams{ID: "evt_01", State: store.EventDelivering, Now: now}); err != nil {
		t.Fatal(err)
	}
	if got := held(tx, "f", "b"); len(got) != 0 {
		t.Fatalf("after release: got %v, want none", got)
	}
}
