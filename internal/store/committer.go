package store

import (
	"context"
	"fmt"
	"sync"
)

// TxFunc is one unit of work run inside a shared transaction.
type TxFunc func(ctx context.Context, tx ExecutorTx) error

// Committer is group commit: units of work submitted concurrently are run
// one after another inside one transaction, each under its own savepoint,
// and acknowledged together after a single durable commit. This is how
// Sluice gets throughput without weakening durability: nobody hears "ok"
// before their rows are on disk, but one fsync covers many callers.
type Committer struct {
	drv     Driver
	reqs    chan *commitReq
	maxOps  int
	wg      sync.WaitGroup
	closeMu sync.RWMutex
	closed  bool
}

type commitReq struct {
	ctx  context.Context
	fn   TxFunc
	done chan error
}

// NewCommitter starts the commit loop. maxBatch bounds how many units share
// one transaction (0 means 512).
func NewCommitter(drv Driver, maxBatch int) *Committer {
	if maxBatch <= 0 {
		maxBatch = 512
	}
	c := &Committer{drv: drv, reqs: make(chan *commitReq, maxBatch*4), maxOps: maxBatch}
	c.wg.Add(1)
	go c.loop()
	return c
}

// Do runs fn in a shared transaction and returns once that transaction has
// committed (nil) or fn's savepoint was rolled back (fn's error), or the
// commit itself failed (then every unit of the batch gets the error and none
// of their writes persisted).
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

// Close stops accepting work, finishes what is queued and stops the loop.
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

func (c *Committer) run(batch []*commitReq) {
	ctx := context.Background()
	tx, err := c.drv.Begin(ctx)
	if err != nil {
		for _, r := range batch {
			r.done <- fmt.Errorf("group commit: %w", err)
		}
		return
	}
	errs := make([]error, len(batch))
	for i, r := range batch {
		if len(batch) == 1 {
			errs[i] = r.fn(r.ctx, tx)
			continue
		}
		errs[i] = tx.Savepoint(ctx, func() error { return r.fn(r.ctx, tx) })
	}
	if len(batch) == 1 && errs[0] != nil {
		tx.Rollback()
		batch[0].done <- errs[0]
		return
	}
	if err := tx.Commit(); err != nil {
		for _, r := range batch {
			r.done <- fmt.Errorf("group commit: %w", err)
		}
		return
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}
