package storepg_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
)

// lanesCommitter opens a driver with two write lanes and its committer.
func lanesCommitter(t *testing.T, lanes string) (store.Driver, *store.Committer) {
	t.Helper()
	d := open(t, withParams(t, freshSchema(t), map[string]string{"write_lanes": lanes}), 4)
	com := store.NewCommitter(d, 8)
	t.Cleanup(com.Close)
	return d, com
}

// waitFor fails the test if ch is not closed within a minute: the guard
// against a test that would otherwise hang, not a timing assertion.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("%s: not within a minute", what)
	}
}

func waitRunning(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("unit %s did not run within a minute", what)
	}
}

// TestCommitterLanesOverlap: with two lanes, a unit that holds its
// transaction open does not stop the next unit from running in a second
// transaction; both commit. With one lane the second unit waits for the
// first's commit, and the first waits for the second: the test fails.
func TestCommitterLanesOverlap(t *testing.T) {
	t.Parallel()
	d, com := lanesCommitter(t, "2")
	if com.Lanes() != 2 {
		t.Fatalf("committer runs %d lanes, want 2", com.Lanes())
	}
	ctx := context.Background()
	started := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var once [2]sync.Once
	errs := make(chan error, 2)
	unit := func(i int) {
		errs <- com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
			if _, _, err := tx.EventInsert(ctx, newEvent(fmt.Sprintf("evt_%d", i), "k")); err != nil {
				return err
			}
			once[i].Do(func() { close(started[i]) })
			select {
			case <-started[1-i]:
				return nil
			case <-time.After(30 * time.Second):
				return fmt.Errorf("unit %d: the other unit did not start while this one's transaction was open", i)
			}
		})
	}
	go unit(0)
	waitFor(t, started[0], "first unit")
	go unit(1)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if _, err := d.Executor().EventGetByID(ctx, fmt.Sprintf("evt_%d", i)); err != nil {
			t.Fatalf("unit %d answered but its event is not there: %v", i, err)
		}
	}
}

// TestCommitterLanesBatchFailure: while one lane holds a transaction open,
// the other runs a batch in which one unit fails; that batch is re-run unit
// by unit, the failing unit alone gets its error and nothing of it
// persists, the others and the open lane's unit commit.
func TestCommitterLanesBatchFailure(t *testing.T) {
	t.Parallel()
	d, com := lanesCommitter(t, "2")
	ctx := context.Background()
	refused := errors.New("refused")
	insert := func(id string, fail error, hold <-chan struct{}, running chan<- struct{}, runs *atomic.Int32) error {
		return com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
			if runs != nil {
				runs.Add(1)
			}
			if _, _, err := tx.EventInsert(ctx, newEvent(id, id)); err != nil {
				return err
			}
			if running != nil {
				select {
				case running <- struct{}{}:
				default:
				}
			}
			if hold != nil {
				<-hold
			}
			return fail
		})
	}
	// Both lanes busy: x holds one, z the other, until the three units of
	// the batch are queued.
	releaseX, releaseZ := make(chan struct{}), make(chan struct{})
	var onceX, onceZ sync.Once
	freeX := func() { onceX.Do(func() { close(releaseX) }) }
	freeZ := func() { onceZ.Do(func() { close(releaseZ) }) }
	t.Cleanup(freeX) // before the committer closes, if the test fails early
	t.Cleanup(freeZ)
	runningX, runningZ := make(chan struct{}, 1), make(chan struct{}, 1)
	errX, errZ := make(chan error, 1), make(chan error, 1)
	go func() { errX <- insert("evt_x", nil, releaseX, runningX, nil) }()
	waitRunning(t, runningX, "x")
	go func() { errZ <- insert("evt_z", nil, releaseZ, runningZ, nil) }()
	waitRunning(t, runningZ, "z, while x holds the other lane")
	var runs [3]atomic.Int32
	errY := make([]chan error, 3)
	for i := range errY {
		errY[i] = make(chan error, 1)
		var fail error
		if i == 1 {
			fail = refused
		}
		go func() { errY[i] <- insert(fmt.Sprintf("evt_y%d", i), fail, nil, nil, &runs[i]) }()
	}
	for deadline := time.Now().Add(time.Minute); com.Pending() < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the three units were not queued within a minute")
		}
	}
	freeZ() // z's lane commits, then takes y0, y1, y2 as one batch
	if err := <-errZ; err != nil {
		t.Fatal(err)
	}
	for i, ch := range errY {
		err := <-ch
		if i == 1 {
			if !errors.Is(err, refused) {
				t.Fatalf("the failing unit got %v, want its own error", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("unit y%d: %v", i, err)
		}
	}
	// The failing unit ran in the batch, then alone; the others ran alone,
	// and in the batch too unless they were queued after the failing one.
	if n := runs[1].Load(); n != 2 {
		t.Fatalf("the failing unit ran %d times, want 2 (the batch, then alone)", n)
	}
	freeX()
	if err := <-errX; err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"evt_x", "evt_z", "evt_y0", "evt_y2"} {
		if _, err := d.Executor().EventGetByID(ctx, id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if _, err := d.Executor().EventGetByID(ctx, "evt_y1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failing unit's event: %v, want it rolled back", err)
	}
}

// TestCommitterLanesRerunADeadlock: two lanes of one committer lock two
// events in opposite order, as two instances can (TestCommitterRerunsADeadlock);
// PostgreSQL aborts one, and its lane runs it again.
func TestCommitterLanesRerunADeadlock(t *testing.T) {
	t.Parallel()
	d, com := lanesCommitter(t, "2")
	ctx := context.Background()
	commit(t, d, func(tx store.ExecutorTx) error {
		for _, id := range []string{"evt_a", "evt_b"} {
			if _, _, err := tx.EventInsert(ctx, newEvent(id, id)); err != nil {
				return err
			}
		}
		return nil
	})
	locked := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var once [2]sync.Once
	var runs atomic.Int32
	order := [2][2]string{{"evt_a", "evt_b"}, {"evt_b", "evt_a"}}
	errs := make(chan error, 2)
	unit := func(i int) {
		errs <- com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
			runs.Add(1)
			if _, err := tx.DeliveryListByEvent(ctx, order[i][0]); err != nil {
				return err
			}
			once[i].Do(func() { close(locked[i]) })
			select {
			case <-locked[1-i]:
			case <-time.After(30 * time.Second):
				return fmt.Errorf("unit %d: the other unit did not run while this one's transaction was open", i)
			}
			_, err := tx.DeliveryListByEvent(ctx, order[i][1])
			return err
		})
	}
	go unit(0)
	waitFor(t, locked[0], "first unit's lock")
	go unit(1)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a unit that lost a deadlock to the other lane failed instead of running again: %v", err)
		}
	}
	if n := runs.Load(); n < 3 || n > 2*(1+5) {
		t.Fatalf("units ran %d times, want 3 to 12 (a deadlock, then at most 5 re-runs per lane)", n)
	}
}

// TestWriteLanesSetting: write_lanes in the DSN sets the lanes, a pool set
// in the DSN keeps a connection besides them, and a bad value is refused.
func TestWriteLanesSetting(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	for _, tc := range []struct {
		lanes, conns string
		want         int
	}{
		{"", "", 1}, {"1", "", 1}, {"3", "", 3}, {"3", "3", 2}, {"2", "1", 1},
	} {
		params := map[string]string{}
		if tc.lanes != "" {
			params["write_lanes"] = tc.lanes
		}
		if tc.conns != "" {
			params["pool_max_conns"] = tc.conns
		}
		d, err := storepg.Open(context.Background(), withParams(t, dsn, params))
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		got := d.WriteLanes()
		d.Close()
		if got != tc.want {
			t.Fatalf("write_lanes=%q pool_max_conns=%q: %d lanes, want %d", tc.lanes, tc.conns, got, tc.want)
		}
	}
	if _, err := storepg.Open(context.Background(), withParams(t, dsn, map[string]string{"write_lanes": "0"})); err == nil {
		t.Fatal("write_lanes=0 was accepted")
	}
}
