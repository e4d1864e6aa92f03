package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
//
// A driver whose commit can make a transaction visible before it is
// durable (SyncBehind: SQLite in WAL mode) lets a lane start its next
// batch while a sync makes the last one durable; the lane's units are
// still answered only once their commit is durable, in commit order
// (docs/adr/0046-sync-behind-the-writer.md).
type Committer struct {
	drv     Driver
	sb      SyncBehind // nil: every commit is durable when it returns
	reqs    chan *commitReq
	maxOps  int
	lanes   int
	wg      sync.WaitGroup
	closeMu sync.RWMutex
	closed  bool

	commits, units atomic.Uint64 // for Stats
}

// CommitStats counts a Committer's work since it started: transactions
// committed, the units they carried and, for a SyncBehind driver that
// counts them (SyncCounter), the log syncs that made them durable. Units
// per commit is group commit's yield; commits per sync, group sync's.
type CommitStats struct {
	Commits, Units, Syncs uint64
}

// SyncCounter is an optional capability of a SyncBehind driver: how many
// syncs of its log have completed.
type SyncCounter interface {
	Syncs() uint64
}

// Stats reports the committer's counts so far.
func (c *Committer) Stats() CommitStats {
	st := CommitStats{Commits: c.commits.Load(), Units: c.units.Load()}
	if sc, ok := c.drv.(SyncCounter); ok {
		st.Syncs = sc.Syncs()
	}
	return st
}

// SyncBehind is an optional Driver capability: transactions whose Commit
// returns once the commit is written and visible to other connections,
// before it is durable; DurableTx.Durable then waits for a sync that
// covers it. The committer answers the units of such a transaction only
// after Durable returned, and meanwhile runs its next batch, so one sync
// can cover several commits and the writer does not wait for the disk.
type SyncBehind interface {
	BeginSyncBehind(ctx context.Context) (DurableTx, error)
	// Syncing returns a channel that is closed once the commits made so
	// far are durable (or their sync failed), or nil when they are.
	Syncing() <-chan struct{}
}

// DurableTx is a transaction begun by SyncBehind.
type DurableTx interface {
	ExecutorTx
	// Durable blocks until the committed transaction is durable: a sync
	// of the log that started after Commit returned has completed (nil),
	// or it failed (an error wrapping ErrNotDurable). Call it once, after
	// Commit returned nil.
	Durable() error
}

// ErrNotDurable means a transaction committed (other connections may have
// read it) but the sync that was to make it durable failed, so whether it
// survives a crash is unknown. A failed sync cannot be retried: the kernel
// may already have dropped the pages it could not write and cleared the
// error (fsync on Linux reports a write-back error once), so a second sync
// could succeed over lost data. The driver therefore stops writing until
// the process is restarted, and recovery reads what really is on disk. It
// comes wrapped in ErrUnwritable, so callers answer 503 and readiness fails.
var ErrNotDurable = errors.New("committed, but the sync that makes it durable failed: durability unknown, the store stopped writing")

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
	c.sb, _ = drv.(SyncBehind)
	c.wg.Add(lanes)
	for range lanes {
		l := &lane{c: c}
		if c.sb != nil {
			l.acks = make(chan ack, acksBehind)
			c.wg.Add(1)
			go l.answer()
		}
		go l.loop()
	}
	return c
}

// acksBehind bounds the batches of one lane that are committed and wait
// for their sync (or are answered behind such batches). When it is
// reached the lane waits before its next batch: the disk is the limit.
const acksBehind = 16

// lane is one commit loop. With SyncBehind its answers go through acks
// to the lane's answer goroutine, which sends them in commit order, each
// committed batch once it is durable.
type lane struct {
	c    *Committer
	acks chan ack // nil without SyncBehind: answers are sent at once
}

// ack is the answer to a batch: err for all of them, or, when tx is set,
// whatever tx.Durable reports.
type ack struct {
	batch []*commitReq
	err   error
	tx    DurableTx
}

// reply answers batch with err, or after tx is durable. Without
// SyncBehind it answers at once. With it every answer, an error too, goes
// through the lane's queue: an error can come from a unit that read what
// an earlier batch committed, and must not reach its caller before that
// batch is durable.
func (l *lane) reply(batch []*commitReq, err error, tx DurableTx) {
	if l.acks == nil {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	l.acks <- ack{batch: slices.Clone(batch), err: err, tx: tx}
}

// answer sends the lane's answers in order until the loop is done.
func (l *lane) answer() {
	defer l.c.wg.Done()
	for a := range l.acks {
		err := a.err
		if a.tx != nil {
			if derr := a.tx.Durable(); derr != nil {
				err = fmt.Errorf("group commit: %w", classify(l.c.drv, derr))
			}
		}
		for _, r := range a.batch {
			r.done <- err
		}
	}
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

func (l *lane) loop() {
	c := l.c
	defer c.wg.Done()
	if l.acks != nil {
		defer close(l.acks)
	}
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
		l.run(batch)
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
func (l *lane) run(batch []*commitReq) {
	batch, answered := l.runRetrying(batch, l.c.sb != nil)
	if answered {
		return
	}
	for _, r := range batch {
		l.runRetrying([]*commitReq{r}, false)
	}
}

// conflictRetries bounds the re-runs of a transaction that lost a conflict.
const conflictRetries = 5

// runRetrying is runTogether, re-run while it loses conflicts. It returns
// the batch as it ran (grown, see runTogether) and whether it was
// answered.
func (l *lane) runRetrying(batch []*commitReq, grow bool) ([]*commitReq, bool) {
	for i := 0; ; i++ {
		var answered, conflict bool
		batch, answered, conflict = l.runTogether(batch, i < conflictRetries, grow)
		grow = false
		if !conflict {
			return batch, answered
		}
	}
}

// growBatch waits, after the last unit of a SyncBehind batch ran, for the
// sync of the commits before it: until then a commit of this batch could
// not be answered anyway, so units queued meanwhile join it (returned
// appended) instead of waiting for a commit of their own. It returns batch
// unchanged once that sync is done, the batch is full or the queue closed.
// The statements of the units it adds run while the disk syncs; only the
// commit waits.
func (l *lane) growBatch(batch []*commitReq) []*commitReq {
	if len(batch) >= l.c.maxOps {
		return batch
	}
	syncing := l.c.sb.Syncing()
	if syncing == nil {
		return batch
	}
	select {
	case r, ok := <-l.c.reqs:
		if ok {
			return append(batch, r)
		}
	case <-syncing:
	}
	return batch
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
// conflict, nobody answered. A SyncBehind transaction's units are answered
// once its commit is durable (lane.reply); with grow, units queued while
// the previous commits sync join the batch (growBatch), and the batch is
// returned as it ran.
func (l *lane) runTogether(batch []*commitReq, retry, grow bool) (_ []*commitReq, answered, conflict bool) {
	c := l.c
	ctx := context.Background()
	var tx ExecutorTx
	var dtx DurableTx
	var err error
	if c.sb != nil {
		dtx, err = c.sb.BeginSyncBehind(ctx)
		tx = dtx
	} else {
		tx, err = c.drv.Begin(ctx)
	}
	if err != nil {
		err = classify(c.drv, err)
		l.reply(batch, fmt.Errorf("group commit: %w", err), nil)
		return batch, true, false
	}
	for i := 0; i < len(batch); i++ {
		r := batch[i]
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
				return batch, false, true
			}
			err = classify(c.drv, err)
			if len(batch) > 1 && !errors.Is(err, ErrUnwritable) {
				return batch, false, false
			}
			// A full or read-only disk fails every unit alike: answer
			// them all at once rather than retrying each alone.
			l.reply(batch, err, nil)
			return batch, true, false
		}
		if grow && i == len(batch)-1 {
			batch = l.growBatch(batch)
		}
	}
	if err := tx.Commit(); err != nil {
		if retry && errors.Is(err, ErrNotCommitted) && c.conflict(err) {
			return batch, false, true // nothing committed; run it again
		}
		err = classify(c.drv, err)
		if len(batch) > 1 && errors.Is(err, ErrNotCommitted) && !errors.Is(err, ErrUnwritable) {
			return batch, false, false // nothing committed; find the failing unit alone
		}
		l.reply(batch, fmt.Errorf("group commit: %w", err), nil)
		return batch, true, false
	}
	c.commits.Add(1)
	c.units.Add(uint64(len(batch)))
	l.reply(batch, nil, dtx)
	return batch, true, false
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
