package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// TxFunc is one unit of work run inside a shared transaction.
type TxFunc func(ctx context.Context, tx ExecutorTx) error

// Committer is group commit: units of work submitted concurrently are run
// one after another inside one transaction and acknowledged together after
// a single durable commit. This is how
// Sluice gets throughput without weakening durability: nobody hears "ok"
// before their rows are on disk, but one fsync covers many callers.
//
// A driver whose database takes concurrent write transactions may ask for
// several lanes (WriteLanes): loops that share the queue, each running its
// own batch in its own transaction, so one lane's statements overlap
// another's commit wait. Units of two lanes are like units of two
// instances (docs/adr/0043-committer-lanes.md).
type Committer struct {
	drv     Driver
	reqs    chan *commitReq
	maxOps  int
	lanes   int
	wg      sync.WaitGroup
	closeMu sync.RWMutex
	closed  bool
}

type commitReq struct {
	ctx  context.Context
	fn   TxFunc
	done chan error
}

// WriteLanes is an optional Driver capability: how many write
// transactions the committer may run at once. A driver without it gets
// one lane (SQLite: one writer).
type WriteLanes interface {
	WriteLanes() int
}

// NewCommitter starts the commit loop, one per lane (WriteLanes). maxBatch
// bounds how many units share one transaction (0 means 512).
func NewCommitter(drv Driver, maxBatch int) *Committer {
	if maxBatch <= 0 {
		maxBatch = 512
	}
	lanes := 1
	if wl, ok := drv.(WriteLanes); ok {
		lanes = max(1, wl.WriteLanes())
	}
	c := &Committer{drv: drv, reqs: make(chan *commitReq, maxBatch*4), maxOps: maxBatch, lanes: lanes}
	c.wg.Add(lanes)
	for range lanes {
		go c.loop()
	}
	return c
}

// Lanes is how many transactions the committer runs at once.
func (c *Committer) Lanes() int { return c.lanes }

// Do runs fn in a shared transaction and returns once that transaction has
// committed (nil), or fn failed and none of its writes persisted (fn's
// error), or the commit itself failed. fn may run more than once (see
// run), so it must derive everything from the transaction and overwrite,
// not append to, what it reports.
func (c *Committer) Do(ctx context.Context, fn TxFunc) error {
	c.closeMu.RLock()
	if c.closed {
		c.closeMu.RUnlock()
		return ErrClosed
	}
	r := &commitReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		c.closeMu.RUnlock()
		return ctx.Err()
	}
	c.closeMu.RUnlock()
	// Once queued, the unit runs even if ctx ends: the caller must learn
	// whether it committed, so wait for the answer.
	return <-r.done
}

// Pending is the number of units waiting for the next transaction; the
// ingest layer sheds load (503) when it grows past a bound.
func (c *Committer) Pending() int { return len(c.reqs) }

// Capacity is the queue bound behind Pending.
func (c *Committer) Capacity() int { return cap(c.reqs) }

// Close stops accepting work, finishes what is queued and stops the loops.
func (c *Committer) Close() {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return
	}
	c.closed = true
	close(c.reqs)
	c.closeMu.Unlock()
	c.wg.Wait()
}

func (c *Committer) loop() {
	defer c.wg.Done()
	batch := make([]*commitReq, 0, c.maxOps)
	for r := range c.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < c.maxOps {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		c.run(batch)
	}
}

// run commits a batch optimistically: every unit runs straight in one
// transaction. Failures are rare (a unit refusing an operator action, a
// constraint), so when one fails the whole transaction is rolled back and
// each unit is run again on its own; the failing unit then gets its error
// and the others commit. Savepoints per unit would cost two statements for
// every capture to protect against the exception.
//
// A transaction that lost a deadlock or a serialization conflict to another
// instance's (store.Conflicts; sibling settles lock their event, ADR 0037)
// did nothing wrong: it is rolled back and run again as it was, a few times,
// before being treated like any other failure.
func (c *Committer) run(batch []*commitReq) {
	if len(batch) > 1 {
		if c.runRetrying(batch) {
			return
		}
		for _, r := range batch {
			c.runRetrying([]*commitReq{r})
		}
		return
	}
	c.runRetrying(batch)
}

// conflictRetries bounds the re-runs of a transaction that lost a conflict.
const conflictRetries = 5

// runRetrying is runTogether, re-run while it loses conflicts.
func (c *Committer) runRetrying(batch []*commitReq) bool {
	for i := 0; ; i++ {
		answered, conflict := c.runTogether(batch, i < conflictRetries)
		if !conflict {
			return answered
		}
	}
}

// Conflicts is an optional Driver capability: the driver recognises errors
// that mean the transaction lost to a concurrent one (PostgreSQL deadlock,
// serialization failure) and would succeed if run again.
type Conflicts interface {
	Conflict(err error) bool
}

// RerunOnConflict reports whether ctx is the context of a unit that the
// committer runs again, with its batch, if the driver reports the
// transaction's error as a conflict (Conflicts): true for every run but the
// last of runRetrying. A driver may then answer a write optimistically and
// check it with the commit, reporting a failed check as a conflict, because
// the unit will run again and nothing of the failed run persisted
// (storepg's queued captures, docs/adr/0049-postgres-queued-captures.md).
// Outside the committer (a transaction from Driver.Begin) it is false.
func RerunOnConflict(ctx context.Context) bool {
	v, _ := ctx.Value(rerunKey{}).(bool)
	return v
}

type rerunKey struct{}

func (c *Committer) conflict(err error) bool {
	cf, ok := c.drv.(Conflicts)
	return ok && cf.Conflict(err)
}

// runTogether runs units in one transaction. It answers every unit and
// returns true, or, if a unit of a multi-unit batch failed, rolls back and
// returns false without answering anyone. With retry, a transaction that
// lost a conflict before its commit is rolled back and reported as
// conflict, nobody answered.
func (c *Committer) runTogether(batch []*commitReq, retry bool) (answered, conflict bool) {
	ctx := context.Background()
	tx, err := c.drv.Begin(ctx)
	if err != nil {
		err = classify(c.drv, err)
		for _, r := range batch {
			r.done <- fmt.Errorf("group commit: %w", err)
		}
		return true, false
	}
	for _, r := range batch {
		// A queued unit runs to the end even if its caller gives up (see
		// Do), so its statements must not be interrupted by the caller's
		// context: that would roll back the whole batch and re-run it unit
		// by unit. A context without cancellation also spares the SQLite
		// driver a watcher goroutine per statement.
		uctx := context.WithoutCancel(r.ctx)
		if retry {
			uctx = context.WithValue(uctx, rerunKey{}, true)
		}
		if err := r.fn(uctx, tx); err != nil {
			tx.Rollback()
			if retry && c.conflict(err) {
				return false, true
			}
			err = classify(c.drv, err)
			if len(batch) > 1 && !errors.Is(err, ErrUnwritable) {
				return false, false
			}
			// A full or read-only disk fails every unit alike: answer
			// them all at once rather than retrying each alone.
			for _, r := range batch {
				r.done <- err
			}
			return true, false
		}
	}
	if err := tx.Commit(); err != nil {
		if retry && errors.Is(err, ErrNotCommitted) && c.conflict(err) {
			return false, true // nothing committed; run it again
		}
		err = classify(c.drv, err)
		if len(batch) > 1 && errors.Is(err, ErrNotCommitted) && !errors.Is(err, ErrUnwritable) {
			return false, false // nothing committed; find the failing unit alone
		}
		for _, r := range batch {
			r.done <- fmt.Errorf("group commit: %w", err)
		}
		return true, false
	}
	for _, r := range batch {
		r.done <- nil
	}
	return true, false
}

// Writable reports whether the store can write now, by one small durable
// write when the driver supports probing (store.WriteFaults); readiness
// checks call it so that a full or read-only disk takes the instance out of
// rotation and brings it back by itself once writing works again.
func (c *Committer) Writable(ctx context.Context) error {
	wf, ok := c.drv.(WriteFaults)
	if !ok {
		return nil
	}
	if err := wf.ProbeWrite(ctx); err != nil {
		return classify(c.drv, err)
	}
	return nil
}
