package storepg_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func rawConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func newEvent(id, key string) *store.Event {
	return &store.Event{ID: id, Source: "src", Flow: "flow", RecordKey: key, State: store.EventDelivering,
		Raw: []byte(`{}`), ReceivedAt: t0, UpdatedAt: t0}
}

func newDelivery(id, eventID, key string, state store.DeliveryState) *store.Delivery {
	return &store.Delivery{ID: id, EventID: eventID, Route: "r", Destination: "crm", RecordKey: key, State: state,
		Payload: json.RawMessage(`{}`), NextAt: t0, CreatedAt: t0, UpdatedAt: t0}
}

func commit(t *testing.T, d store.Driver, fn func(tx store.ExecutorTx) error) {
	t.Helper()
	if err := tryCommit(context.Background(), d, fn); err != nil {
		t.Fatal(err)
	}
}

func tryCommit(ctx context.Context, d store.Driver, fn func(tx store.ExecutorTx) error) error {
	tx, err := d.Begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func claim(ctx context.Context, d store.Driver, owner string, limit int) ([]*store.Delivery, error) {
	return claimHolding(ctx, d, owner, limit, 0)
}

// claimHolding claims and keeps the transaction open for up to hold before
// committing, as a group-commit batch does while its other units run.
func claimHolding(ctx context.Context, d store.Driver, owner string, limit int, hold time.Duration) ([]*store.Delivery, error) {
	var out []*store.Delivery
	err := tryCommit(ctx, d, func(tx store.ExecutorTx) error {
		var err error
		out, err = tx.DeliveryClaim(ctx, &store.DeliveryClaimParams{Destination: "crm", Owner: owner, Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: limit})
		if hold > 0 {
			time.Sleep(rand.N(hold))
		}
		return err
	})
	return out, err
}

func ids(ds []*store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func finish(t *testing.T, drv store.Driver, d *store.Delivery) {
	t.Helper()
	d.State, d.UpdatedAt = store.DeliverySucceeded, t0
	commit(t, drv, func(tx store.ExecutorTx) error { return tx.DeliveryUpdate(context.Background(), d) })
}

// TestClaimSkipsKeysHeldByAnotherInstance: while one instance's claim
// transaction is open, another claims other keys without waiting, and
// nothing of the first one's key.
func TestClaimSkipsKeysHeldByAnotherInstance(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	a, b := open(t, dsn, 2), open(t, dsn, 2)
	ctx := testCtx(t, 30*time.Second)
	commit(t, a, func(tx store.ExecutorTx) error {
		if _, _, err := tx.EventInsert(ctx, newEvent("evt_1", "k")); err != nil {
			return err
		}
		for _, d := range []*store.Delivery{
			newDelivery("d1", "evt_1", "k1", store.DeliveryPending),
			newDelivery("d2", "evt_1", "k1", store.DeliveryPending),
			newDelivery("d3", "evt_1", "k2", store.DeliveryPending),
		} {
			if err := tx.DeliveryInsert(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback()
	got, err := txA.DeliveryClaim(ctx, &store.DeliveryClaimParams{Destination: "crm", Owner: "a", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 1})
	if err != nil || len(got) != 1 || got[0].ID != "d1" {
		t.Fatalf("claim by a: %v %v, want d1", ids(got), err)
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err = claim(bctx, b, "b", 10)
	if err != nil || len(got) != 1 || got[0].ID != "d3" {
		t.Fatalf("claim by b while a holds k1: %v %v, want only d3 without waiting", ids(got), err)
	}
	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err = claim(ctx, b, "b", 10); err != nil || len(got) != 0 {
		t.Fatalf("claim by b after a committed: %v %v, want nothing (d1 in flight)", ids(got), err)
	}
}

// TestClaimNeverTwoInFlightOfAKey covers the cases where the head of a key is
// not its oldest sequence number: a delivery committed after a later-numbered
// one was claimed, and an earlier delivery put back to pending by an
// operator while a later one is in flight.
func TestClaimNeverTwoInFlightOfAKey(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)

	// d_late gets the lower seq but commits after d_early was claimed. A
	// second instance claiming while that claim is uncommitted sees d_late
	// as the head of the key and nothing in flight: only the key lock stops
	// it. Once the claim is committed, the in-flight check does.
	t.Run("lower seq committed late", func(t *testing.T) {
		dsn := freshSchema(t)
		a, b := open(t, dsn, 2), open(t, dsn, 2)
		commit(t, a, func(tx store.ExecutorTx) error {
			_, _, err := tx.EventInsert(ctx, newEvent("evt_1", "k"))
			return err
		})
		late, err := a.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer late.Rollback()
		if err := late.DeliveryInsert(ctx, newDelivery("d_late", "evt_1", "k", store.DeliveryPending)); err != nil {
			t.Fatal(err)
		}
		commit(t, b, func(tx store.ExecutorTx) error {
			return tx.DeliveryInsert(ctx, newDelivery("d_early", "evt_1", "k", store.DeliveryPending))
		})
		claimTx, err := b.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer claimTx.Rollback()
		got, err := claimTx.DeliveryClaim(ctx, &store.DeliveryClaimParams{Destination: "crm", Owner: "b", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
		if err != nil || len(got) != 1 || got[0].ID != "d_early" {
			t.Fatalf("first claim: %v %v, want d_early", ids(got), err)
		}
		if err := late.Commit(); err != nil {
			t.Fatal(err)
		}
		if again, err := claim(ctx, a, "a", 10); err != nil || len(again) != 0 {
			t.Fatalf("claim while the claim of d_early is uncommitted: %v %v, want nothing", ids(again), err)
		}
		if err := claimTx.Commit(); err != nil {
			t.Fatal(err)
		}
		if again, err := claim(ctx, a, "a", 10); err != nil || len(again) != 0 {
			t.Fatalf("claim with d_early in flight: %v %v, want nothing", ids(again), err)
		}
		finish(t, b, got[0])
		if again, err := claim(ctx, a, "a", 10); err != nil || len(again) != 1 || again[0].ID != "d_late" {
			t.Fatalf("claim after d_early succeeded: %v %v, want d_late", ids(again), err)
		}
	})

	t.Run("earlier delivery retried", func(t *testing.T) {
		dsn := freshSchema(t)
		a := open(t, dsn, 2)
		d1 := newDelivery("d1", "evt_1", "k", store.DeliveryEscalated)
		commit(t, a, func(tx store.ExecutorTx) error {
			if _, _, err := tx.EventInsert(ctx, newEvent("evt_1", "k")); err != nil {
				return err
			}
			if err := tx.DeliveryInsert(ctx, d1); err != nil {
				return err
			}
			return tx.DeliveryInsert(ctx, newDelivery("d2", "evt_1", "k", store.DeliveryPending))
		})
		got, err := claim(ctx, a, "a", 10)
		if err != nil || len(got) != 1 || got[0].ID != "d2" {
			t.Fatalf("claim: %v %v, want d2", ids(got), err)
		}
		d1.State = store.DeliveryPending
		commit(t, a, func(tx store.ExecutorTx) error { return tx.DeliveryUpdate(ctx, d1) })
		if again, err := claim(ctx, a, "a", 10); err != nil || len(again) != 0 {
			t.Fatalf("claim with d2 in flight: %v %v, want nothing", ids(again), err)
		}
		finish(t, a, got[0])
		if again, err := claim(ctx, a, "a", 10); err != nil || len(again) != 1 || again[0].ID != "d1" {
			t.Fatalf("claim after d2 succeeded: %v %v, want d1", ids(again), err)
		}
	})
}

// claimTracker checks, from the workers' side, what the store promises:
// every delivery is handed out once, at most one per key is being worked
// on, and a key's deliveries that were committed in sequence order are
// handed out in that order. A worker marks a delivery started after its
// claim committed and done before its success commits, so its window lies
// inside the store's in-flight window: disjoint store windows imply
// disjoint tracker windows.
type claimTracker struct {
	mu       sync.Mutex
	claimed  map[string]bool
	inflight map[string]string  // key -> delivery
	order    map[string][]int64 // key -> seqs in claim order
	errs     []string
}

func (c *claimTracker) start(d *store.Delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimed[d.ID] {
		c.errs = append(c.errs, fmt.Sprintf("%s handed out twice", d.ID))
	}
	c.claimed[d.ID] = true
	if other, ok := c.inflight[d.RecordKey]; ok {
		c.errs = append(c.errs, fmt.Sprintf("%s and %s of key %s in flight at once", other, d.ID, d.RecordKey))
	}
	c.inflight[d.RecordKey] = d.ID
	c.order[d.RecordKey] = append(c.order[d.RecordKey], d.Seq)
}

func (c *claimTracker) done(d *store.Delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[d.RecordKey] == d.ID {
		delete(c.inflight, d.RecordKey)
	}
}

// TestConcurrentClaimsFromTwoInstances runs rounds of workers on two
// drivers (two pools, like two instances) draining one destination while
// more deliveries are inserted concurrently, and checks the claim
// guarantees from the workers' side and, continuously, in the database.
func TestConcurrentClaimsFromTwoInstances(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	drivers := []*storepg.Driver{open(t, dsn, 6), open(t, dsn, 6)}
	checker := rawConn(t, dsn)
	ctx := testCtx(t, 5*time.Minute)

	rounds, keys, initialPerKey, latePerKey, workers := 12, 4, 2, 10, 4
	if testing.Short() {
		rounds = 3
	}
	for round := 0; round < rounds; round++ {
		evt := fmt.Sprintf("evt_%02d", round)
		key := func(k int) string { return fmt.Sprintf("r%02d-k%d", round, k) }
		commit(t, drivers[0], func(tx store.ExecutorTx) error {
			if _, _, err := tx.EventInsert(ctx, newEvent(evt, "k")); err != nil {
				return err
			}
			for i := 0; i < initialPerKey; i++ {
				for k := 0; k < keys; k++ {
					if err := tx.DeliveryInsert(ctx, newDelivery(fmt.Sprintf("d%02d-k%d-%d", round, k, i), evt, key(k), store.DeliveryPending)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		var lastInitial int64
		if err := checker.QueryRow(ctx, `SELECT max(seq) FROM deliveries`).Scan(&lastInitial); err != nil {
			t.Fatal(err)
		}
		total := int64(keys * (initialPerKey + latePerKey))
		tr := &claimTracker{claimed: map[string]bool{}, inflight: map[string]string{}, order: map[string][]int64{}}
		var finished atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})

		// Late deliveries, inserted by both instances in concurrent
		// transactions, so their sequence order is not commit order.
		for p := 0; p < 2; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < keys*latePerKey/2; i++ {
					d := newDelivery(fmt.Sprintf("d%02d-late-%d-%d", round, p, i), evt, key(i%keys), store.DeliveryPending)
					err := tryCommit(ctx, drivers[p], func(tx store.ExecutorTx) error {
						if err := tx.DeliveryInsert(ctx, d); err != nil {
							return err
						}
						time.Sleep(rand.N(3 * time.Millisecond)) // commit late: seq order is not commit order
						return nil
					})
					if err != nil {
						t.Errorf("late insert: %v", err)
						return
					}
					runtime.Gosched()
				}
			}()
		}

		// The database's own view: never two in flight of one key.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var k string
				var n int
				err := checker.QueryRow(ctx, `SELECT record_key, count(*) FROM deliveries WHERE state = 'inflight'
					GROUP BY record_key HAVING count(*) > 1 LIMIT 1`).Scan(&k, &n)
				if err == nil {
					t.Errorf("database shows %d deliveries of %s in flight", n, k)
					return
				}
				if !errors.Is(err, pgx.ErrNoRows) {
					t.Errorf("check: %v", err)
					return
				}
			}
		}()

		var claimers sync.WaitGroup
		for i, drv := range drivers {
			for w := 0; w < workers; w++ {
				claimers.Add(1)
				go func() {
					defer claimers.Done()
					owner := fmt.Sprintf("i%d-w%d", i, w)
					for finished.Load() < total && ctx.Err() == nil {
						ds, err := claimHolding(ctx, drv, owner, 1+rand.IntN(3), 2*time.Millisecond)
						if err != nil {
							t.Errorf("claim: %v", err)
							return
						}
						if len(ds) == 0 {
							time.Sleep(time.Millisecond)
							continue
						}
						for _, d := range ds {
							if d.Attempts != 1 || d.LeaseOwner != owner || d.State != store.DeliveryInflight {
								t.Errorf("claimed %+v", d)
							}
							tr.start(d)
						}
						runtime.Gosched()
						for _, d := range ds {
							tr.done(d)
							d.State, d.UpdatedAt = store.DeliverySucceeded, t0
							if err := tryCommit(ctx, drv, func(tx store.ExecutorTx) error { return tx.DeliveryUpdate(ctx, d) }); err != nil {
								t.Errorf("complete: %v", err)
								return
							}
							finished.Add(1)
						}
					}
				}()
			}
		}
		claimers.Wait()
		close(stop)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		if n := finished.Load(); n != total {
			t.Fatalf("round %d: %d of %d deliveries done", round, n, total)
		}
		for _, e := range tr.errs {
			t.Errorf("round %d: %s", round, e)
		}
		// Deliveries committed in sequence order go out in that order, and
		// before any delivery of the key inserted after them.
		for k, seqs := range tr.order {
			var prev int64
			lateSeen := false
			for _, s := range seqs {
				if s > lastInitial {
					lateSeen = true
					continue
				}
				if lateSeen || s < prev {
					t.Errorf("round %d: key %s handed out in order %v", round, k, seqs)
					break
				}
				prev = s
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

// TestConcurrentAuditAppendsFromTwoInstances appends from two drivers at
// once, in transactions (some rolled back), through group commit and
// outside transactions, and checks that the result is one valid chain.
func TestConcurrentAuditAppendsFromTwoInstances(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	drivers := []*storepg.Driver{open(t, dsn, 6), open(t, dsn, 6)}
	ctx := testCtx(t, 2*time.Minute)
	iterations := 25
	if testing.Short() {
		iterations = 5
	}
	var committed atomic.Int64
	var wg sync.WaitGroup
	for i, drv := range drivers {
		c := store.NewCommitter(drv, 16)
		defer c.Close()
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				entry := func(n int) *store.AuditEntry {
					return &store.AuditEntry{At: time.Now(), EventID: fmt.Sprintf("evt_%d_%d", i, w), Actor: "system", Action: audit.ActionState, Message: fmt.Sprint(n)}
				}
				for n := 0; n < iterations; n++ {
					var err error
					switch n % 4 {
					case 0: // a transaction with several appends
						k := 1 + rand.IntN(4)
						err = tryCommit(ctx, drv, func(tx store.ExecutorTx) error {
							for j := 0; j < k; j++ {
								if err := tx.AuditAppend(ctx, entry(n)); err != nil {
									return err
								}
							}
							return nil
						})
						if err == nil {
							committed.Add(int64(k))
						}
					case 1: // rolled back: leaves no trace, no gap
						var tx store.ExecutorTx
						if tx, err = drv.Begin(ctx); err == nil {
							err = tx.AuditAppend(ctx, entry(n))
							tx.Rollback()
						}
					case 2: // group commit
						err = c.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error { return tx.AuditAppend(ctx, entry(n)) })
						if err == nil {
							committed.Add(1)
						}
					case 3: // outside a transaction
						if err = drv.Executor().AuditAppend(ctx, entry(n)); err == nil {
							committed.Add(1)
						}
					}
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	rep, err := audit.Verify(ctx, drivers[1].Executor())
	if err != nil || rep.Entries != committed.Load() || rep.LastSeq != rep.Entries {
		t.Fatalf("verify: %+v %v; want %d entries", rep, err, committed.Load())
	}
}

// TestConcurrentOpenMigratesOnce starts several instances on an empty
// schema at once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := storepg.Open(testCtx(t, 30*time.Second), withParams(t, dsn, map[string]string{"pool_max_conns": "1"}))
			if err != nil {
				t.Errorf("open %d: %v", i, err)
				return
			}
			d.Close()
		}()
	}
	wg.Wait()
	var versions []string
	rows, err := rawConn(t, dsn).Query(testCtx(t, 10*time.Second), `SELECT version FROM schema_migrations ORDER BY version`)
	if err == nil {
		versions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || fmt.Sprint(versions) != migrationVersions(t) { // sla_test.go
		t.Fatalf("schema_migrations: %v %v", versions, err)
	}
}

// TestErrorsAndValuesAtTheSeam: errors carry no pgx types, context errors
// stay matchable, and times come back as storesqlite returns them.
func TestErrorsAndValuesAtTheSeam(t *testing.T) {
	t.Parallel()
	d := open(t, freshSchema(t), 2)
	ctx := testCtx(t, 30*time.Second)
	ex := d.Executor()

	_, err := ex.DeliveryGetByID(ctx, "nope")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing delivery: %v", err)
	}
	err = ex.DeliveryInsert(ctx, newDelivery("d1", "evt_missing", "k", store.DeliveryPending))
	var pgErr *pgconn.PgError
	if err == nil || errors.As(err, &pgErr) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("foreign key violation: %v (leaks pgx: %v)", err, pgErr != nil)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ex.EventGetByID(cctx, "x"); !errors.Is(err, context.Canceled) || errors.As(err, &pgErr) {
		t.Fatalf("cancelled: %v", err)
	}

	local := time.FixedZone("X", 5*3600)
	at := time.Date(2026, 11, 29, 17, 0, 0, 123456789, local)
	e := newEvent("evt_t", "k")
	e.Raw, e.HoldUntil, e.ReceivedAt = nil, at, at
	dl := newDelivery("d_t", "evt_t", "k", store.DeliveryPending)
	dl.NextAt = at
	commit(t, d, func(tx store.ExecutorTx) error {
		if _, _, err := tx.EventInsert(ctx, e); err != nil {
			return err
		}
		return tx.DeliveryInsert(ctx, dl)
	})
	want := at.UTC().Truncate(time.Millisecond)
	got, err := ex.EventGetByID(ctx, "evt_t")
	if err != nil || got.HoldUntil != want || got.ReceivedAt != want || got.Raw == nil || len(got.Raw) != 0 {
		t.Fatalf("event times %v %v, raw %q, err %v; want %v (UTC, ms) and empty raw", got.HoldUntil, got.ReceivedAt, got.Raw, err, want)
	}
	gd, err := ex.DeliveryGetByID(ctx, "d_t")
	if err != nil || gd.NextAt != want || !gd.LeaseUntil.IsZero() || gd.After == nil || len(gd.After) != 0 {
		t.Fatalf("delivery: %+v %v", gd, err)
	}
	if nr, err := ex.DeliveryNextReady(ctx, "nowhere"); err != nil || !nr.IsZero() {
		t.Fatalf("next ready of nothing: %v %v", nr, err)
	}
}
