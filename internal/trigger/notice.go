package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// NoticeGate is the gate as the notice worker needs it: the due notices,
// the capture that settles a notice in its own transaction, and the
// transitions of a notice that failed or was answered by a listing.
type NoticeGate interface {
	Capturer
	NoticesDue(ctx context.Context, limit int) ([]*store.HookNotice, error)
	NoticeNextDue(ctx context.Context) (time.Time, error)
	NoticeFailed(ctx context.Context, f pipeline.NoticeFailure) (escalated bool, err error)
	NoticesDone(ctx context.Context, ids []string) error
	NoticesPrune(ctx context.Context, keep time.Duration, limit int) (int, error)
}

// NoticeSource is how one source's notices are answered: a Notion notice
// names a page, read through Reader (the destination's connector, whose
// rate limits and credentials the deliveries share); an Airtable notice
// asks for a listing, which Fetcher runs from the source's cursor.
type NoticeSource struct {
	Destination    string
	Reader         connector.RecordReader
	Fetcher        *HookFetcher
	SuppressEchoes bool
}

// NoticeWorker works off the durable notice queue (store.HookNotice): it
// fetches what each due notice names and captures it through the gate
// (CapturePolled: normalize, validate, hold, route, echo suppression), the
// notice settled in the capture's transaction. A failed fetch waits longer
// each time and escalates after EscalateAfter attempts; it is never
// dropped. Run it on one instance (the leader): two workers would only
// fetch the same records, whose captures dedupe by the notice's key.
type NoticeWorker struct {
	Gate NoticeGate
	// Sources returns the current sources by name (a config reload may
	// change them); a notice of a source it lacks fails and is retried.
	Sources func() map[string]*NoticeSource
	Log     *slog.Logger
	// Now is the clock backoff is computed from; nil: time.Now.
	Now func() time.Time
	// OnCaptured runs after a capture that created work; may be nil.
	OnCaptured func()
	// OnEscalated runs once per notice that reached EscalateAfter failed
	// attempts (the server alerts); may be nil. It must not block.
	OnEscalated func(n *store.HookNotice, err error)

	// MinBackoff and MaxBackoff bound the wait after a failure (doubling,
	// with jitter); defaults 2s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// EscalateAfter is the failed attempts after which a notice escalates;
	// default 8 (about eight minutes of failures with the default backoff).
	EscalateAfter int
	// FetchTimeout bounds one read of a record; default 10s.
	FetchTimeout time.Duration
	// PerSource is how many records of one source are read at once;
	// default 4. Sources are read in parallel: a slow platform delays only
	// its own notices.
	PerSource int
	// Idle is how long Run waits without a kick before it looks for due
	// notices anyway (committed by another instance whose wake-up was
	// lost); default 2s.
	Idle time.Duration
	// Keep is how long a done notice is kept to recognise the platform's
	// late retries; default 7 days. Pruned about hourly.
	Keep time.Duration

	// Straggle is how long a pass of Run waits for a slow source before it
	// goes on without it (the source's reads continue; later passes leave
	// its notices to them until they end); default 1s. ProcessDue waits
	// for every source.
	Straggle time.Duration

	once sync.Once
	kick chan struct{}

	mu   sync.Mutex
	busy map[string]int // sources an earlier pass still works: notices held
	bg   sync.WaitGroup // their goroutines
}

// NoticeBatch is how many due notices one pass takes.
const NoticeBatch = 100

func (w *NoticeWorker) kicks() chan struct{} {
	w.once.Do(func() { w.kick = make(chan struct{}, 1) })
	return w.kick
}

// Kick asks Run to look for due notices now; it never blocks.
func (w *NoticeWorker) Kick() {
	select {
	case w.kicks() <- struct{}{}:
	default:
	}
}

func (w *NoticeWorker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// NoticePass counts what one pass did.
type NoticePass struct {
	Settled  int
	Failed   int
	Deferred int
	// Postponed counts notices not tried because their source's read
	// failed earlier in the pass.
	Postponed int
	// Skipped counts due notices left to an earlier pass that is still
	// working their source (a slow or hanging platform).
	Skipped int
	pipeline.PollResult
}

// ProcessDue works off the notices due now, once each.
func (w *NoticeWorker) ProcessDue(ctx context.Context) (NoticePass, error) {
	return w.process(ctx, 0)
}

// process is one pass. With straggle > 0 it returns after that long even
// if a source is still being worked; that source's goroutine carries on,
// holds its notices (later passes skip them) and kicks Run when it ends.
func (w *NoticeWorker) process(ctx context.Context, straggle time.Duration) (NoticePass, error) {
	var pass NoticePass
	w.mu.Lock()
	held, busy := 0, map[string]bool{}
	for name, n := range w.busy {
		held += n
		busy[name] = true
	}
	w.mu.Unlock()
	// The notices held by busy sources are still due: ask for as many
	// more, so they cannot fill the batch.
	due, err := w.Gate.NoticesDue(ctx, NoticeBatch+held)
	if err != nil {
		return pass, fmt.Errorf("notices due: %w", err)
	}
	sources := w.Sources()
	// An Airtable source's notices are all answered by one listing; a
	// Notion source's are read one page each.
	listed, read := map[string][]*store.HookNotice{}, map[string][]*store.HookNotice{}
	var order []string
	for _, n := range due {
		if busy[n.Source] {
			pass.Skipped++
			continue
		}
		src := sources[n.Source]
		switch {
		case src != nil && src.Fetcher != nil:
			if _, ok := listed[n.Source]; !ok {
				order = append(order, n.Source)
			}
			listed[n.Source] = append(listed[n.Source], n)
		case src != nil && src.Reader != nil && n.RecordID != "":
			if _, ok := read[n.Source]; !ok {
				order = append(order, n.Source)
			}
			read[n.Source] = append(read[n.Source], n)
		default:
			w.fail(ctx, []*store.HookNotice{n}, fmt.Errorf("source %s no longer receives %s notices; restore it in the config", n.Source, n.Platform), &pass)
		}
	}
	// Sources are worked in parallel, so one slow or hanging platform
	// holds up only its own notices; within a source, PerSource reads run
	// at once (the connector keeps them inside the platform's rate window).
	type result struct {
		pass NoticePass
		err  error
	}
	results := make(chan result, len(order)) // never blocks a source
	var abandoned atomic.Bool
	w.mu.Lock()
	if w.busy == nil {
		w.busy = map[string]int{}
	}
	for _, name := range order {
		w.busy[name] = len(listed[name]) + len(read[name])
	}
	w.mu.Unlock()
	for _, name := range order {
		w.bg.Add(1)
		go func() {
			defer w.bg.Done()
			var p NoticePass
			var err error
			if ns, ok := listed[name]; ok {
				err = w.listSource(ctx, sources[name], ns, &p)
			} else {
				err = w.readSource(ctx, sources[name], read[name], &p)
			}
			w.mu.Lock()
			delete(w.busy, name)
			w.mu.Unlock()
			results <- result{p, err}
			if abandoned.Load() {
				w.Kick() // its notices may be due again, others waited
			}
		}()
	}
	var timeout <-chan time.Time
	if straggle > 0 {
		t := time.NewTimer(straggle)
		defer t.Stop()
		timeout = t.C
	}
	var first error
	for range order {
		select {
		case r := <-results:
			pass.add(r.pass)
			if r.err != nil && first == nil {
				first = r.err
			}
			continue
		case <-timeout:
			abandoned.Store(true)
		}
		break
	}
	if first == nil {
		first = ctx.Err()
	}
	return pass, first
}

func (p *NoticePass) add(q NoticePass) {
	p.Settled += q.Settled
	p.Failed += q.Failed
	p.Deferred += q.Deferred
	p.Postponed += q.Postponed
	p.Skipped += q.Skipped
	p.Captured += q.Captured
	p.Duplicates += q.Duplicates
	p.Echoes += q.Echoes
	p.PollResult.Deferred += q.PollResult.Deferred
}

// perSource is how many reads of one source run at once.
func (w *NoticeWorker) perSource() int {
	if w.PerSource > 0 {
		return w.PerSource
	}
	return 4
}

// listSource answers an Airtable source's notices with one listing.
func (w *NoticeWorker) listSource(ctx context.Context, src *NoticeSource, ns []*store.HookNotice, pass *NoticePass) error {
	res, err := src.Fetcher.FetchOnce(ctx)
	w.count(pass, res)
	switch {
	case err != nil:
		w.fail(ctx, ns, err, pass)
	case res.Deferred > 0:
		pass.Deferred += len(ns)
	default:
		ids := make([]string, len(ns))
		for i, n := range ns {
			ids[i] = n.ID
		}
		if err := w.Gate.NoticesDone(ctx, ids); err != nil {
			return err
		}
		pass.Settled += len(ns)
	}
	return nil
}

// readSource reads the pages a Notion source's notices name: the first
// alone (a probe), then up to perSource at once. Once a read failed the
// source is not asked again in this pass: its notices not yet started
// wait as long as the failed one, untried, so a platform that is down
// costs one request per pass, not one per notice.
func (w *NoticeWorker) readSource(ctx context.Context, src *NoticeSource, ns []*store.HookNotice, pass *NoticePass) error {
	var (
		mu    sync.Mutex
		down  bool
		until time.Time
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, w.perSource())
	for i, n := range ns {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		isDown, next := down, until
		mu.Unlock()
		if isDown {
			<-sem
			if _, err := w.Gate.NoticeFailed(ctx, pipeline.NoticeFailure{ID: n.ID, NextAt: next, Postpone: true}); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				break
			}
			mu.Lock()
			pass.Postponed++
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var p NoticePass
			next, failed := w.fetchRecord(ctx, n, src, &p)
			mu.Lock()
			defer mu.Unlock()
			pass.add(p)
			if failed && !down {
				down, until = true, next
			}
		}()
		if i == 0 {
			wg.Wait()
		}
	}
	wg.Wait()
	return first
}

// fetchRecord reads the record a notice names and captures it, settling
// the notice in the same transaction. It reports whether the read failed,
// and then when the notice is tried again.
func (w *NoticeWorker) fetchRecord(ctx context.Context, n *store.HookNotice, src *NoticeSource, pass *NoticePass) (time.Time, bool) {
	timeout := w.FetchTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	read, err := src.Reader.ReadRecord(rctx, n.RecordID)
	cancel()
	if err != nil {
		next := w.fail(ctx, []*store.HookNotice{n}, fmt.Errorf("read %s %s from %s: %w", n.Object, n.RecordID, n.Platform, err), pass)
		return next, true
	}
	rec := pipeline.PolledRecord{RecordID: n.RecordID, ModifiedAt: n.OccurredAt, Deleted: read.Deleted, Fields: read.Fields, IdemKey: n.Key}
	if read.ModifiedAt.After(rec.ModifiedAt) {
		rec.ModifiedAt = read.ModifiedAt
	}
	batch := pipeline.PollBatch{Source: n.Source, Platform: n.Platform, Object: n.Object, Via: "webhook",
		EchoDestination: src.Destination, Records: []pipeline.PolledRecord{rec}, Notices: []string{n.ID}}
	if src.SuppressEchoes {
		batch.SameAsWritten = sameAsWritten
	}
	res, err := w.Gate.CapturePolled(ctx, batch)
	if err != nil {
		if errors.Is(err, pipeline.ErrUnknownSource) {
			err = fmt.Errorf("no flow reads source %s", n.Source)
		}
		w.fail(ctx, []*store.HookNotice{n}, err, pass)
		return time.Time{}, false // the store, not the platform
	}
	w.count(pass, res)
	if res.Deferred > 0 {
		// Sluice is writing this record to the platform right now; the
		// notice stays due and is fetched again after that write settles.
		pass.Deferred++
		return time.Time{}, false
	}
	pass.Settled++
	return time.Time{}, false
}

func (w *NoticeWorker) count(pass *NoticePass, res pipeline.PollResult) {
	pass.Captured += res.Captured
	pass.Duplicates += res.Duplicates
	pass.Echoes += res.Echoes
	if res.Captured > 0 && w.OnCaptured != nil {
		w.OnCaptured()
	}
}

// fail records a failed attempt on each notice, with a backoff that
// doubles with its attempts, and tells OnEscalated of those it escalated.
// It returns the last notice's next attempt.
func (w *NoticeWorker) fail(ctx context.Context, ns []*store.HookNotice, cause error, pass *NoticePass) time.Time {
	if ctx.Err() != nil {
		return time.Time{} // shutting down: not the notice's failure
	}
	lo, hi := w.MinBackoff, w.MaxBackoff
	if lo <= 0 {
		lo = 2 * time.Second
	}
	if hi <= 0 {
		hi = 5 * time.Minute
	}
	after := w.EscalateAfter
	if after <= 0 {
		after = 8
	}
	var next time.Time
	for _, n := range ns {
		pass.Failed++
		d := min(lo<<min(n.Attempts, 20), hi)
		d = d/2 + rand.N(d/2+1) // jitter: spread retries of a burst
		next = w.now().Add(d)
		escalated, err := w.Gate.NoticeFailed(ctx, pipeline.NoticeFailure{ID: n.ID, Err: cause.Error(), NextAt: next, EscalateAfter: after})
		if err != nil {
			w.Log.Error("notice failure not recorded; it is retried when due", "notice", n.ID, "source", n.Source, "err", err)
			continue
		}
		w.Log.Warn("notice fetch failed; retrying later", "notice", n.ID, "source", n.Source, "attempt", n.Attempts+1, "retry_in", d, "err", cause)
		if escalated && w.OnEscalated != nil {
			w.OnEscalated(n, cause)
		}
	}
	return next
}

// Run works off due notices until ctx ends: at once when kicked, when the
// earliest pending notice falls due, and at least every Idle.
func (w *NoticeWorker) Run(ctx context.Context) {
	kick := w.kicks()
	idle := w.Idle
	if idle <= 0 {
		idle = 2 * time.Second
	}
	keep := w.Keep
	if keep <= 0 {
		keep = 7 * 24 * time.Hour
	}
	straggle := w.Straggle
	if straggle <= 0 {
		straggle = time.Second
	}
	defer w.bg.Wait() // sources a pass went on without end with ctx
	nextPrune := w.now()
	for ctx.Err() == nil {
		pass, err := w.process(ctx, straggle)
		if ctx.Err() != nil {
			return
		}
		wait := idle
		switch {
		case err != nil:
			w.Log.Error("notice queue", "err", err)
		case pass.Deferred > 0:
			wait = time.Second
		case pass.Settled+pass.Failed+pass.Postponed >= NoticeBatch:
			wait = 0 // a full batch: more may be due
		case pass.Skipped > 0:
			// A source is still being worked (its notices are due, so the
			// next due time says nothing); it kicks when it ends.
		default:
			if next, err := w.Gate.NoticeNextDue(ctx); err == nil && !next.IsZero() {
				wait = max(min(wait, next.Sub(w.now())), 0)
			}
		}
		if pass.Captured+pass.Echoes > 0 {
			w.Log.Info("notices captured changes", "captured", pass.Captured, "duplicates", pass.Duplicates, "echoes_suppressed", pass.Echoes)
		}
		if now := w.now(); !now.Before(nextPrune) {
			nextPrune = now.Add(time.Hour)
			if n, err := w.Gate.NoticesPrune(ctx, keep, 1000); err != nil && ctx.Err() == nil {
				w.Log.Error("prune done notices", "err", err)
			} else if n > 0 {
				w.Log.Info("pruned done notices", "deleted", n)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-kick:
		case <-t.C:
		}
		t.Stop()
	}
}
