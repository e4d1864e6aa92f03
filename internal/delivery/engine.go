// Package delivery is the engine that moves deliveries from the store to the
// destinations: per-destination workers that claim work under a lease, keep
// to the platform's rate limit and concurrency, batch when the connector can,
// classify failures, and schedule retries with exponential backoff and full
// jitter. Every outcome is handed to the pipeline's state machine; the engine
// keeps no queue of its own in memory, so a crash loses nothing.
package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// Destination is one configured destination with its connector.
type Destination struct {
	Name     string
	Conn     connector.Connector
	Conf     *config.Destination
	Observer Observer
}

// Observer receives attempt outcomes for metrics; nil is allowed.
type Observer interface {
	Attempt(destination string, outcome string, status int, latency time.Duration)
	// Breaker reports a circuit state change: "closed", "half-open", "open".
	Breaker(destination string, state string)
}

// Pipeline is the state machine the engine drives (the port it needs of
// package pipeline; *pipeline.Gate implements it). Every outcome the engine
// sees becomes one of these transitions: the engine never writes to the
// store itself, and reads no clock for what it records.
type Pipeline interface {
	// Plan is the compiled config (which routes have a fallback).
	Plan() *pipeline.Plan
	ClaimDeliveries(ctx context.Context, destination, owner string, lease time.Duration, limit int) ([]*store.Delivery, error)
	DeliverySucceeded(ctx context.Context, d *store.Delivery, externalID string, at pipeline.Attempt) error
	DeliveryRetry(ctx context.Context, d *store.Delivery, wait time.Duration, class string, at pipeline.Attempt) error
	DeliveryParked(ctx context.Context, ds []*store.Delivery, wait time.Duration, reason string, at pipeline.Attempt) error
	DeliveryEscalate(ctx context.Context, d *store.Delivery, kind, reason string, at pipeline.Attempt) error
	DeliveryFallback(ctx context.Context, ds []*store.Delivery, reason string) error
	// DestinationPause pauses d's destination (an auth error, with the
	// platform's message as detail) and parks d.
	DestinationPause(ctx context.Context, d *store.Delivery, class, detail string, at pipeline.Attempt) error
	RecoverLeases(ctx context.Context) (int, error)
	ExpireHolds(ctx context.Context) (int, error)
	// Now is the clock the gate stamps leases with: a lease's end is
	// compared with it, never with the wall clock (tests inject one).
	Now() time.Time
}

// Reader is what the engine reads from the store (store.Executor
// implements it): a destination's switch and the rows a delivery needs to
// be prepared. The identity map's entry comes with the claim
// (store.Delivery.Identity).
type Reader interface {
	DestinationStateGet(ctx context.Context, name string) (*store.DestinationState, error)
	DeliveryListNeedingFallback(ctx context.Context, destination string, limit int) ([]*store.Delivery, error)
	DeliveryListByEvent(ctx context.Context, eventID string) ([]*store.Delivery, error)
	EscalationList(ctx context.Context, p *store.EscalationListParams) ([]*store.Escalation, error)
	DeliveryLatestSucceeded(ctx context.Context, destination, recordKey string) (*store.Delivery, error)
	SyncBaselineGet(ctx context.Context, destination, recordKey string) (*store.SyncBaseline, error)
}

// Engine runs one worker per destination.
type Engine struct {
	Pipeline Pipeline
	Store    Reader
	Owner    string // lease owner name of this process
	Lease    time.Duration
	Poll     time.Duration
	Log      *slog.Logger
	// Lead, when set, runs the maintenance loop (lease recovery, hold
	// expiry) for as long as this instance is the elected leader, so that
	// one instance of several runs it; nil runs it here (share.go).
	Lead func(ctx context.Context, fn func(context.Context))

	// mu guards dests, govs, runCtx and share: Reconfigure replaces
	// workers while the engine runs (reconfigure.go).
	mu      sync.RWMutex
	dests   map[string]*worker
	govs    map[string]*rateGovernor // adaptive rates by credential (credentialKey)
	runCtx  context.Context          // set by Run; nil before
	share   int                      // the ShareRate divisor, applied to new workers too
	workers sync.WaitGroup
	// attempting counts deliveries whose attempt is running, for the
	// shutdown report.
	attempting atomic.Int64
}

// Attempting is the number of deliveries whose attempt is running now.
func (e *Engine) Attempting() int { return int(e.attempting.Load()) }

type worker struct {
	e       *Engine
	d       Destination
	limiter *rate.Limiter // the connector's declared steady rate
	gov     *rateGovernor // adaptive rate, shared by destinations on one credential
	conc    *concLimit    // requests in flight: fixed, or adaptive when not configured
	wake    chan struct{}
	// sendsRaw: the connector takes the stored payload JSON undecoded.
	sendsRaw bool
	batch    int
	timeout  time.Duration
	mu       sync.Mutex
	coolTill time.Time // no request before this (429 penalty)
	lastErr  lastError // the latest failed attempt, for the console
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	stop     context.CancelFunc // ends run; set by start
	done     chan struct{}      // closed when run returned (attempts finished)
}

// errUnhealthy tells the breaker an attempt failed for a reason that says
// the destination is unwell (timeouts, 5xx, 429), as opposed to a bad
// record, which says nothing about the destination.
var errUnhealthy = errors.New("destination unhealthy")

// errRateLimited marks an attempt answered only with 429s.
var errRateLimited = errors.New("rate limited")

// New builds an engine over the given destinations.
func New(p Pipeline, r Reader, owner string, lease, poll time.Duration, log *slog.Logger, dests []Destination) *Engine {
	e := &Engine{Pipeline: p, Store: r, Owner: owner, Lease: lease, Poll: poll, Log: log, dests: map[string]*worker{}, govs: map[string]*rateGovernor{}, share: 1}
	for _, d := range dests {
		e.dests[d.Name] = e.newWorker(d)
	}
	return e
}

// newWorker builds the worker of one destination: its rate limiter,
// concurrency slots and circuit breaker.
func (e *Engine) newWorker(d Destination) *worker {
	lease, log := e.Lease, e.Log
	c := d.Conn.Constraints()
	lim := rate.NewLimiter(rate.Inf, 1)
	if c.RatePerSecond > 0 {
		burst := c.Burst
		if burst < 1 {
			burst = 1
		}
		lim = rate.NewLimiter(rate.Limit(c.RatePerSecond), burst)
	}
	key := credentialKey(d)
	gov := e.govs[key]
	if gov == nil {
		gov = newRateGovernor(time.Now)
		e.govs[key] = gov
	}
	batch := 1
	if _, ok := d.Conn.(connector.Batcher); ok && c.BatchSize > 1 {
		batch = c.BatchSize
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if timeout > lease/2 {
		timeout = lease / 2 // an attempt must end well inside its lease
	}
	w := &worker{e: e, d: d, limiter: lim, gov: gov, conc: newConcLimit(c.Concurrency), wake: make(chan struct{}, 1), batch: batch, timeout: timeout}
	if rs, ok := d.Conn.(connector.RawSender); ok && rs.SendsRaw() {
		w.sendsRaw = true
	}
	failures, openFor := 5, 30*time.Second
	if d.Conf != nil {
		failures, openFor = d.Conf.Breaker.Failures, d.Conf.Breaker.OpenFor.D()
	}
	name := d.Name
	w.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        d.Name,
		MaxRequests: 1,
		Timeout:     openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return int(c.ConsecutiveFailures) >= failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, errRateLimited) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			log.Warn("circuit state changed", "destination", name, "from", from.String(), "to", to.String())
			if d.Observer != nil {
				d.Observer.Breaker(name, to.String())
			}
			if to != gobreaker.StateOpen {
				w.kickSelf()
			}
		},
	})
	return w
}

// Kick wakes every worker, e.g. after a capture created deliveries, so they
// do not wait for the next poll.
func (e *Engine) Kick() {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, w := range e.dests {
		w.kickSelf()
	}
}

// KickFor wakes the workers of the named destinations only, e.g. after a
// capture whose deliveries go there.
func (e *Engine) KickFor(destinations []string) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, name := range destinations {
		if w := e.dests[name]; w != nil {
			w.kickSelf()
		}
	}
}

// Run works until ctx ends, then waits for attempts in flight to finish
// (their results are committed, so none is lost or repeated needlessly).
func (e *Engine) Run(ctx context.Context) {
	e.mu.Lock()
	e.runCtx = ctx
	for _, w := range e.dests {
		e.start(w)
	}
	e.mu.Unlock()
	e.workers.Add(1)
	go func() { defer e.workers.Done(); e.singleton(ctx, e.maintain) }()
	<-ctx.Done()
	e.workers.Wait() // also workers a reconfiguration started meanwhile
}

// maintain recovers expired leases and expires holds.
func (e *Engine) maintain(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := e.Pipeline.RecoverLeases(ctx); err != nil && ctx.Err() == nil {
			e.Log.Error("recover leases", "err", err)
		} else if n > 0 {
			e.Log.Info("recovered expired leases", "count", n)
			e.Kick()
		}
		if n, err := e.Pipeline.ExpireHolds(ctx); err != nil && ctx.Err() == nil {
			e.Log.Error("expire holds", "err", err)
		} else if n > 0 {
			e.Log.Info("escalated expired holds", "count", n)
		}
	}
}

func (w *worker) run(ctx context.Context) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	attempts := newRunner(ctx)
	short := true // the last claim found fewer deliveries than it asked for
	for ctx.Err() == nil {
		st, err := w.e.Store.DestinationStateGet(ctx, w.d.Name)
		if err != nil {
			w.sleep(ctx, w.e.Poll)
			continue
		}
		if st.Paused || w.breaker.State() == gobreaker.StateOpen {
			// Unavailable: deliveries wait in the store without spending
			// attempts; routes with a fallback send a copy there.
			reason := "circuit open"
			if st.Paused {
				reason = "paused: " + st.Reason
			}
			if err := w.fallback(ctx, reason); err != nil && ctx.Err() == nil {
				w.e.Log.Error("fallback", "destination", w.d.Name, "err", err)
			}
			w.idle(ctx, w.e.Poll*4, min(w.e.Poll, maxIdleRecheck))
			continue
		}
		free, limit := w.conc.Free(), w.conc.Limit()
		if free == 0 || (free < limit/claimShare && !short) {
			// Claim for several requests at once: every claim is a unit
			// of the single commit loop (a select and an update), and
			// one per finished request cost the store as much as the
			// request. While requests are in flight, each answer wakes
			// this loop; wait until a share of the limit is free. When
			// the last claim found the queue short, claim at once:
			// there is no backlog to batch, only a new event's latency.
			w.sleep(ctx, w.e.Poll)
			continue
		}
		claimed, err := w.claim(ctx, free*w.batch)
		short = len(claimed) < free*w.batch
		if err != nil {
			if ctx.Err() == nil {
				w.e.Log.Error("claim", "destination", w.d.Name, "err", err)
			}
			w.sleep(ctx, w.e.Poll)
			continue
		}
		if len(claimed) == 0 {
			w.sleep(ctx, w.e.Poll)
			continue
		}
		for start := 0; start < len(claimed); start += w.batch {
			end := min(start+w.batch, len(claimed))
			chunk := claimed[start:end]
			w.conc.Acquire()
			inflight.Add(1)
			w.e.attempting.Add(int64(len(chunk)))
			attempts.Go(func() {
				defer inflight.Done()
				defer w.e.attempting.Add(-int64(len(chunk)))
				released := false
				release := func(latency time.Duration, o concOutcome) {
					if !released {
						released = true
						w.conc.Release(latency, o, time.Now())
						w.kickSelf()
					}
				}
				// Attempts finish even when ctx ends: their outcome must be
				// recorded, or the work waits for its lease to expire.
				w.attempt(context.WithoutCancel(ctx), chunk, release)
				release(0, concNone)
			})
		}
	}
}

// claimShare: with requests in flight, a worker claims once 1/claimShare
// of its concurrency limit is free (see worker.run).
const claimShare = 4

func (w *worker) kickSelf() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// isJSONObject reports whether b is one valid JSON object: a scan, no
// allocation.
func isJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// maxIdleRecheck bounds how long a wake-up waits to be looked at while
// the destination is unavailable (see worker.idle).
const maxIdleRecheck = 50 * time.Millisecond

// idle waits while the destination is unavailable (paused or its circuit
// open), for d or until a wake-up, but a wake-up ends the wait no sooner
// than recheck after it began. Every capture wakes every worker; a worker
// that answered each one by re-reading the destination's state and
// looking for deliveries needing a fallback cost one store read per
// capture (5% of intake's CPU at 6,000 captures/s with a destination
// paused). Now it reads at most once per recheck; a resume or a closing
// circuit is still seen within recheck.
func (w *worker) idle(ctx context.Context, d, recheck time.Duration) {
	begin := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
		return
	case <-w.wake:
	}
	rest := recheck - time.Since(begin)
	if rest <= 0 {
		return
	}
	t.Reset(rest)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (w *worker) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-w.wake:
	}
}

func (w *worker) claim(ctx context.Context, limit int) ([]*store.Delivery, error) {
	return w.e.Pipeline.ClaimDeliveries(ctx, w.d.Name, w.e.Owner, w.e.Lease, limit)
}

// attempt sends one chunk (one delivery unless the connector batches) and
// records the outcomes. It calls release, with how the request went, as
// soon as the destination has answered and before the outcomes are
// committed: the concurrency limit counts requests the destination is
// working on, and holding a slot through the settle's commit as well
// left the destination idle for that long (at a fixed concurrency of 32
// the wait for the commit capped delivery at about 2,100/s).
func (w *worker) attempt(ctx context.Context, ds []*store.Delivery, release func(time.Duration, concOutcome)) {
	// The request must end inside the chunk's lease: once a lease runs out,
	// lease recovery hands the delivery to another attempt, and a write
	// sent after that could land after a newer write of the same record
	// (a stale overwrite no retry repairs). So preparing (look-ups, the
	// conflict read-back) and the wait for a turn end where the request's
	// timeout would still fit; what cannot go by then goes back to the
	// queue unsent.
	// The lease's end is on the gate's clock: so are the comparisons, and
	// the context's deadline is the time left on it.
	sendBy := leaseEnd(ds).Add(-w.timeout)
	pctx, pcancel := context.WithTimeout(ctx, sendBy.Sub(w.e.Pipeline.Now()))
	defer pcancel()
	reqs := make([]connector.Delivery, 0, len(ds))
	ready := ds[:0:0]
	for i, d := range ds {
		if !w.e.Pipeline.Now().Before(sendBy) {
			w.putBack(ctx, ds[i:], 0, "prepared until its lease would run out (look-ups before writing); not sent")
			break
		}
		r, err := w.prepare(pctx, d)
		if err != nil && pctx.Err() != nil && ctx.Err() == nil {
			w.putBack(ctx, ds[i:], 0, "prepared until its lease would run out (look-ups before writing); not sent")
			break
		}
		if err != nil {
			// The lookup before a write (or reading the identity map)
			// failed: this delivery waits for another attempt; the rest
			// of the chunk goes ahead.
			ce := connector.Classify(err)
			if ce.Class == connector.Retryable {
				ce.Sent = false // nothing was written by this attempt
			}
			w.settle(ctx, d, connector.BatchResult{Err: ce}, 0)
			continue
		}
		reqs = append(reqs, r)
		ready = append(ready, d)
	}
	ds = ready
	if len(ds) == 0 {
		return
	}
	if err := w.waitTurn(pctx); err != nil {
		if ctx.Err() == nil {
			// Due again when its turn would come, not after a poll: parked
			// for a poll, a chunk behind a slow rate was claimed and put
			// back every few milliseconds until its turn (a claim, a park
			// and an audit entry each time; 237 entries for one record at
			// one request per 6 s).
			w.putBack(ctx, ds, w.turnIn(), "waited for a turn (rate limit or Retry-After) until its lease would run out; not sent")
		}
		return
	}
	done, err := w.breaker.Allow()
	if err != nil {
		// The circuit opened (or is probing) since the claim: put the chunk
		// back without spending attempts.
		w.parkAll(ctx, ds, "circuit open")
		return
	}
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, w.timeout)
	results := make([]connector.BatchResult, len(ds))
	if b, ok := w.d.Conn.(connector.Batcher); ok && len(ds) > 1 && !anyDelete(reqs) {
		rs, err := b.DeliverBatch(actx, reqs)
		if err != nil {
			for i := range results {
				results[i].Err = err
			}
		} else {
			copy(results, rs)
		}
	} else {
		for i, r := range reqs {
			res, err := w.send(actx, r)
			results[i] = connector.BatchResult{Result: res, Err: err}
		}
	}
	timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
	cancel()
	latency := time.Since(start)
	// The request failed as a whole when every item failed retryably; one
	// item of a batch failing says nothing about the destination's health.
	// A 429 is the platform pacing us, which the limiter and penalty
	// handle; it neither trips nor heals the circuit.
	health := errUnhealthy
	limited := true
	var retryAfter time.Duration
	for _, r := range results {
		if r.Err == nil {
			health, limited = nil, false
			break
		}
		ce := connector.Classify(r.Err)
		if ce.Class != connector.Retryable {
			health = nil
		}
		if ce.Status != http.StatusTooManyRequests {
			limited = false
		} else {
			retryAfter = max(retryAfter, ce.RetryAfter)
		}
	}
	if limited {
		health = errRateLimited
	}
	done(health)
	// One request, one answer for the adaptive rate. Only when the share
	// of 429s says a limit is really exceeded does the whole destination
	// wait out the Retry-After; otherwise the 429 delays just the
	// deliveries it answered (their next attempt honours it, in settle).
	if w.gov.Observe(limited) {
		w.penalise(retryAfter)
		w.e.Log.Info("destination rate limit reached: slowing down", "destination", w.d.Name, "rate", w.gov.Rate())
	}
	switch {
	case timedOut && health != nil:
		release(latency, concTimeout)
	case health != nil:
		release(latency, concFailed)
	default:
		release(latency, concOK)
	}
	w.settleAll(ctx, ds, results, latency)
}

// settleAll records the outcomes of one request. The settles of a batch
// go to the committer together, so they share one transaction and one
// fsync instead of waiting for one commit after another (a HubSpot batch
// of 100 was 100 commits in a row); each is still its own unit, so one
// that fails does not undo the others.
func (w *worker) settleAll(ctx context.Context, ds []*store.Delivery, results []connector.BatchResult, latency time.Duration) {
	if len(ds) == 1 {
		w.settle(ctx, ds[0], results[0], latency)
		return
	}
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() { defer wg.Done(); w.settle(ctx, d, results[i], latency) }()
	}
	wg.Wait()
}

// leaseEnd is the earliest lease expiry of a chunk.
func leaseEnd(ds []*store.Delivery) time.Time {
	end := ds[0].LeaseUntil
	for _, d := range ds[1:] {
		if d.LeaseUntil.Before(end) {
			end = d.LeaseUntil
		}
	}
	return end
}

// putBack returns an unsent chunk to the queue while its lease still
// holds. Too close to the lease's end it does nothing: lease recovery
// requeues the chunk (as ambiguous, which only costs a look-up), and a
// park racing that recovery could requeue a delivery another attempt has
// claimed meanwhile.
// They are due again after a poll, or after `after` if that is longer.
func (w *worker) putBack(ctx context.Context, ds []*store.Delivery, after time.Duration, reason string) {
	if leaseEnd(ds).Sub(w.e.Pipeline.Now()) < w.e.Poll+time.Second {
		return
	}
	w.park(ctx, ds, max(after, w.e.Poll), reason)
}

// parkAll returns claimed deliveries to the queue without an attempt.
func (w *worker) parkAll(ctx context.Context, ds []*store.Delivery, reason string) {
	w.park(ctx, ds, w.e.Poll, reason)
}

func (w *worker) park(ctx context.Context, ds []*store.Delivery, after time.Duration, reason string) {
	if err := w.e.Pipeline.DeliveryParked(ctx, ds, after, reason, pipeline.Attempt{}); err != nil {
		w.e.Log.Error("park deliveries", "destination", w.d.Name, "err", err)
	}
}

// fallback sends copies of waiting deliveries whose route has a fallback
// destination.
func (w *worker) fallback(ctx context.Context, reason string) error {
	if !w.hasFallback() {
		return nil
	}
	ds, err := w.e.Store.DeliveryListNeedingFallback(ctx, w.d.Name, 200)
	if err != nil || len(ds) == 0 {
		return err
	}
	err = w.e.Pipeline.DeliveryFallback(ctx, ds, reason)
	if err == nil {
		w.e.Kick()
	}
	return err
}

// prepare loads what the connector needs: the identity map's external ID,
// upstream routes' IDs and, after an ambiguous outcome, a lookup by key so
// the retry updates instead of creating a duplicate.
func (w *worker) prepare(ctx context.Context, d *store.Delivery) (connector.Delivery, error) {
	ex := w.e.Store
	// A connector that sends the stored JSON as it is gets it undecoded
	// (connector.RawSender); anything but a JSON object takes the decode,
	// which fails it as before.
	raw := w.sendsRaw && connector.Op(d.Operation) != connector.OpDelete && isJSONObject(d.Payload)
	var payload map[string]any
	if !raw {
		if err := json.Unmarshal(d.Payload, &payload); err != nil {
			return connector.Delivery{}, fmt.Errorf("payload: %w", err)
		}
	}
	r := connector.Delivery{ID: d.ID, EventID: d.EventID, Route: d.Route, RecordKey: d.RecordKey, Payload: payload, Attempt: d.Attempts,
		Ambiguous: d.Ambiguous, Op: connector.Op(d.Operation)}
	if raw {
		r.Raw = d.Payload
	}
	// The identity came with the claim (store.Delivery.Identity). It
	// cannot change before the send: only a success of this key's one
	// delivery in flight writes it (per-key ordering), apart from a sync
	// point recorded from another destination (pipeline.recordSyncPoint),
	// which could as well land between a look-up here and the send.
	ext := d.Identity
	r.ExternalID = ext
	if r.Op == connector.OpDelete {
		// The connector finds the record (by ID, else by key) and treats
		// one already gone as deleted; there is nothing to compare.
		return r, nil
	}
	if ext != "" && w.deletes() {
		// Sluice deleted this record here since: the ID is dead, and the
		// record is created anew.
		last, err := ex.DeliveryLatestSucceeded(ctx, d.Destination, d.RecordKey)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
		if err == nil && last != nil && last.Operation == store.OpDelete {
			r.ExternalID = ""
		}
	}
	if len(d.After) > 0 {
		sibs, err := ex.DeliveryListByEvent(ctx, d.EventID)
		if err != nil {
			return r, err
		}
		r.Upstream = map[string]string{}
		for _, s := range sibs {
			for _, a := range d.After {
				if s.Route == a {
					r.Upstream[a] = s.ExternalID
				}
			}
		}
	}
	// An ambiguous retry is checked too: a record holding what this very
	// delivery writes (the earlier attempt landed) agrees with it and is
	// no conflict, while a person's change made since would otherwise be
	// overwritten by the retry.
	if r.ExternalID != "" && w.d.Conf != nil && w.d.Conf.OnConflict == "review" {
		if raw {
			if err := json.Unmarshal(d.Payload, &payload); err != nil {
				return r, fmt.Errorf("payload: %w", err)
			}
		}
		if err := w.checkConflict(ctx, d, r.ExternalID, payload); err != nil {
			return r, err
		}
	}
	// A platform that upserts by key dedupes the retry itself: no look-up
	// (HubSpot's is a search, a few a second, behind by seconds).
	if d.Ambiguous && r.ExternalID == "" && !w.d.Conn.Constraints().Upsert {
		if lk, ok := w.d.Conn.(connector.Looker); ok {
			lctx, cancel := context.WithTimeout(ctx, w.timeout)
			found, _, ok, err := lk.Lookup(lctx, d.RecordKey)
			cancel()
			if err != nil {
				return r, fmt.Errorf("lookup after ambiguous outcome: %w", err)
			}
			if ok {
				r.ExternalID = found
			}
		}
	}
	return r, nil
}

// waitTurn blocks until the destination may take another request: its 429
// penalty (if any) is over, the connector's token bucket has a token and
// the adaptive rate lets it go.
func (w *worker) waitTurn(ctx context.Context) error {
	w.mu.Lock()
	till := w.coolTill
	w.mu.Unlock()
	if d := time.Until(till); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := w.limiter.Wait(ctx); err != nil {
		return err
	}
	return w.gov.Wait(ctx)
}

// turnIn is how long until a request could go by waitTurn: the end of a
// Retry-After cool-down, or the next token of the declared rate or of the
// adaptive one, whichever is latest. The tokens are reserved and given
// back at once, so asking takes no one's turn.
func (w *worker) turnIn() time.Duration {
	w.mu.Lock()
	d := time.Until(w.coolTill)
	w.mu.Unlock()
	for _, l := range []*rate.Limiter{w.limiter, w.gov.lim} {
		r := l.Reserve()
		if r.OK() {
			d = max(d, r.Delay())
		}
		r.Cancel()
	}
	return d
}

func (w *worker) settle(ctx context.Context, d *store.Delivery, r connector.BatchResult, latency time.Duration) {
	p := w.e.Pipeline
	conf := w.d.Conf
	var err error
	outcome := "succeeded"
	status := r.Result.Status
	if r.Err == nil {
		ext := r.Result.ExternalID
		err = p.DeliverySucceeded(ctx, d, ext, pipeline.Attempt{Status: status, Message: r.Result.Message, Latency: latency})
	} else {
		ce := connector.Classify(r.Err)
		status = ce.Status
		at := pipeline.Attempt{Status: ce.Status, Code: ce.Code, Message: ce.Error(), Latency: latency, Ambiguous: ce.Sent && ce.Class == connector.Retryable}
		w.mu.Lock()
		w.lastErr = lastError{At: time.Now().UTC(), Class: string(ce.Class), Status: ce.Status, Message: ce.Error()}
		w.mu.Unlock()
		outcome = string(ce.Class)
		switch ce.Class {
		case connector.Retryable:
			if d.Attempts >= conf.MaxAttempts {
				err = p.DeliveryEscalate(ctx, d, "retries_exhausted", fmt.Sprintf("gave up after %d attempts", d.Attempts), at)
			} else {
				wait := Backoff(d.Attempts, conf.RetryBase.D(), conf.RetryMax.D(), clampRetryAfter(ce.RetryAfter))
				err = p.DeliveryRetry(ctx, d, wait, string(ce.Class), at)
			}
		case connector.Auth:
			// Every write would fail the same way: stop them all.
			err = p.DestinationPause(ctx, d, string(ce.Class), ce.Message, at)
		default: // Permanent, Drift, Conflict the connector could not settle
			kind, reason := string(ce.Class)+"_error", "the destination refused the record"
			if ce.Class == connector.Drift {
				// A data error of this record's payload (a field the
				// destination does not have), not of the destination:
				// records that do not send the field still land, so only
				// this one is parked (docs/adr/0050-rerender-and-failure-groups.md).
				reason = "the destination does not have a field this record sends (schema drift); the record is parked and the rest keep flowing: fix the route map (or add the field in the destination), then re-render and retry"
			}
			if ce.Code == codeChanged {
				kind, reason = "conflict_review", "someone changed the record in the destination; retry overwrites it with Sluice's version, resolve keeps theirs"
			} else if ce.Code == connector.CodeTemplate {
				kind, reason = "config_error", "the destination's template could not be rendered for this record, so nothing was sent: the config is at fault, not the destination (fix the template, then retry)"
			}
			err = p.DeliveryEscalate(ctx, d, kind, reason, at)
		}
	}
	if w.d.Observer != nil {
		w.d.Observer.Attempt(w.d.Name, outcome, status, latency)
	}
	if err != nil {
		// The outcome could not be recorded; the lease will expire and the
		// delivery is retried as ambiguous, which the lookup makes safe.
		w.e.Log.Error("record delivery outcome", "delivery", d.ID, "err", err)
	}
}

// penalise stops all requests to the destination for the platform's
// requested wait (clamped to MaxRetryAfter), once the adaptive rate has
// decided the 429s mean a real limit; without a Retry-After the rate cut
// alone slows it down.
func (w *worker) penalise(retryAfter time.Duration) {
	retryAfter = clampRetryAfter(retryAfter)
	if retryAfter <= 0 {
		return
	}
	w.mu.Lock()
	if t := time.Now().Add(retryAfter); t.After(w.coolTill) {
		w.coolTill = t
	}
	w.mu.Unlock()
}

// Backoff is the wait before attempt n+1: exponential from base, capped at
// max, with full jitter (a uniform draw in [0, cap)) so retries of many
// records spread out; never shorter than the platform's Retry-After.
func Backoff(attempt int, base, max, retryAfter time.Duration) time.Duration {
	exp := float64(base) * math.Pow(2, float64(attempt-1))
	if exp > float64(max) || math.IsInf(exp, 0) {
		exp = float64(max)
	}
	d := time.Duration(rand.Int64N(int64(exp) + 1))
	if d < retryAfter {
		d = retryAfter
	}
	return d
}

// hasFallback is true when some route to this destination names a fallback;
// only then is the queue searched for deliveries owed a copy.
func (w *worker) hasFallback() bool {
	plan := w.e.Pipeline.Plan()
	if plan == nil {
		return true
	}
	for _, name := range plan.FlowNames() {
		for _, r := range plan.Flow(name).Routes {
			if r.Destination == w.d.Name && r.Fallback != "" {
				return true
			}
		}
	}
	return false
}

// syncedVersion is the record's version in the destination when Sluice
// last knew it in sync: what Sluice last wrote there, or, for a destination
// Sluice also polls, the version it last carried to the other side (a sync
// baseline), whichever is newer. A baseline holds every field the platform
// returned, so only the fields the new write sets are compared. nil when
// Sluice knows no version (the first write).
func syncedVersion(ctx context.Context, ex Reader, destination, key string, next map[string]any) (map[string]any, error) {
	last, err := ex.DeliveryLatestSucceeded(ctx, destination, key)
	if errors.Is(err, store.ErrNotFound) {
		last, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	base, err := ex.SyncBaselineGet(ctx, destination, key)
	if errors.Is(err, store.ErrNotFound) {
		base, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out map[string]any
	switch {
	case base != nil && (last == nil || base.SyncedAt.After(last.UpdatedAt)):
		var all map[string]any
		if err := json.Unmarshal(base.Fields, &all); err != nil {
			return nil, nil
		}
		out = map[string]any{}
		for k := range next {
			if v, ok := all[k]; ok {
				out[k] = v
			}
		}
	case last != nil:
		if err := json.Unmarshal(last.Payload, &out); err != nil {
			return nil, nil
		}
	}
	return out, nil
}

// codeChanged marks a conflict found before writing: the record changed in
// the destination since Sluice last wrote it.
const codeChanged = "CHANGED_SINCE_WRITTEN"

// checkConflict reads the record back before an update and compares it with
// what Sluice last wrote there. If someone changed a field since (and the
// new write would change it again), it returns a Conflict error naming both
// versions instead of overwriting. A person's retry of that conflict is the
// decision to overwrite, so it is not checked again.
func (w *worker) checkConflict(ctx context.Context, d *store.Delivery, externalID string, next map[string]any) error {
	lk, ok := w.d.Conn.(connector.Looker)
	if !ok {
		return nil
	}
	ex := w.e.Store
	escs, err := ex.EscalationList(ctx, &store.EscalationListParams{EventID: d.EventID, Limit: 1000})
	if err != nil {
		return err
	}
	for _, e := range escs {
		if e.DeliveryID == d.ID && e.Kind == "conflict_review" && e.Status != store.EscalationDiscarded {
			// A person chose to overwrite: an escalated delivery is only
			// attempted again after a retry, which keeps its escalation
			// open until the write lands (or resolved it, before).
			return nil
		}
	}
	wrote, err := syncedVersion(ctx, ex, d.Destination, d.RecordKey, next)
	if err != nil || wrote == nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, w.timeout)
	var found map[string]any
	// Read back every field this write and the last one set: a platform
	// that returns only what is asked for would otherwise return nothing
	// to compare.
	fields := make([]string, 0, len(next)+len(wrote))
	for k := range next {
		fields = append(fields, k)
	}
	for k := range wrote {
		if _, dup := next[k]; !dup {
			fields = append(fields, k)
		}
	}
	sort.Strings(fields)
	if fr, isFR := w.d.Conn.(connector.FieldReader); isFR && externalID != "" {
		found, ok, err = fr.ReadFields(lctx, externalID, fields)
	} else if fl, isFL := w.d.Conn.(connector.FieldLooker); isFL {
		_, found, ok, err = fl.LookupFields(lctx, d.RecordKey, fields)
	} else {
		_, found, ok, err = lk.Lookup(lctx, d.RecordKey)
	}
	cancel()
	if err != nil {
		return fmt.Errorf("read back before update: %w", err)
	}
	if !ok {
		return nil // gone: the connector recreates it
	}
	var parts []string
	for _, df := range connector.CompareFields(wrote, found) {
		if nv, ok := next[df.Field]; ok && connector.SameValue(nv, df.Found) {
			continue // the change agrees with what we are writing
		}
		parts = append(parts, fmt.Sprintf("%s: Sluice last wrote %v, the destination now has %v, the new record has %v", df.Field, df.Wrote, df.Found, next[df.Field]))
	}
	if len(parts) == 0 {
		return nil
	}
	return &connector.Error{Class: connector.Conflict, Code: codeChanged,
		Message: "changed in " + w.d.Name + " since Sluice wrote it: " + strings.Join(parts, "; ")}
}

// send performs one delivery: a delete through the connector's Deleter,
// anything else through Deliver. `sluice check` refuses routes that send
// deletes to a destination that cannot delete; one that arrives anyway
// (a connector changed under a stored delivery) is a permanent error.
func (w *worker) send(ctx context.Context, r connector.Delivery) (connector.Result, error) {
	if r.Op != connector.OpDelete {
		return w.d.Conn.Deliver(ctx, r)
	}
	del, ok := w.d.Conn.(connector.Deleter)
	if !ok {
		return connector.Result{}, &connector.Error{Class: connector.Permanent, Code: "delete_unsupported",
			Message: "destination " + w.d.Name + " cannot delete records; set on_delete: ignore on the route"}
	}
	return del.Delete(ctx, r)
}

// anyDelete reports whether a chunk holds a delete, which is never sent in
// a batch of writes.
func anyDelete(rs []connector.Delivery) bool {
	for _, r := range rs {
		if r.Op == connector.OpDelete {
			return true
		}
	}
	return false
}

// deletes is true when some route removes deleted records from this
// destination: only then can an identity point at a record Sluice deleted.
func (w *worker) deletes() bool {
	plan := w.e.Pipeline.Plan()
	if plan == nil {
		return true
	}
	for _, name := range plan.FlowNames() {
		for _, r := range plan.Flow(name).Routes {
			if r.Destination == w.d.Name && r.Deletes {
				return true
			}
		}
	}
	return false
}
