package storepg_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// TestCommitterRerunsADeadlock: two instances' transactions lock two events
// in opposite order (settles lock the event whose deliveries they read, ADR
// 0037), so PostgreSQL aborts one with a deadlock. The loser did nothing
// wrong: its committer must run it again and both callers hear success.
func TestCommitterRerunsADeadlock(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	coms := [2]*store.Committer{}
	var ds [2]store.Driver
	for i := range coms {
		ds[i] = open(t, dsn, 2)
		coms[i] = store.NewCommitter(ds[i], 4)
		t.Cleanup(coms[i].Close)
	}
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tx, err := ds[0].Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"evt_a", "evt_b"} {
		e := &store.Event{ID: id, Source: "src", Flow: "flow", IdemKey: id, RecordKey: id, State: store.EventDelivering, ContentType: "application/json",
			Raw: []byte(`{}`), Canonical: json.RawMessage(`{}`), ReceivedAt: now, UpdatedAt: now}
		if _, _, err := tx.EventInsert(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Each unit locks its first event, waits (on its first run only) until
	// the other holds its own, then asks for the other's.
	locked := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var once [2]sync.Once
	var runs atomic.Int32
	order := [2][2]string{{"evt_a", "evt_b"}, {"evt_b", "evt_a"}}
	errs := make(chan error, 2)
	for i := range coms {
		go func() {
			errs <- coms[i].Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
				runs.Add(1)
				if _, err := tx.DeliveryListByEvent(ctx, order[i][0]); err != nil {
					return err
				}
				once[i].Do(func() { close(locked[i]) })
				<-locked[1-i]
				_, err := tx.DeliveryListByEvent(ctx, order[i][1])
				return err
			})
		}()
	}
	for range coms {
		if err := <-errs; err != nil {
			t.Fatalf("a unit that lost a deadlock failed instead of running again: %v", err)
		}
	}
	// At least one deadlock and its re-run; the re-run may race the winner
	// for the row lock it waits on and deadlock again (seen under -race), so
	// more runs are allowed, up to each committer's bound of 5 re-runs.
	if n := runs.Load(); n < 3 || n > 2*(1+5) {
		t.Fatalf("units ran %d times, want 3 to 12 (a deadlock, then at most 5 re-runs per committer)", n)
	}
}
