// Package sim is the shared base of Sluice's platform simulators: local HTTP
// servers that behave like a SaaS API (request shapes, limits, error bodies,
// partial batches) so that tests, the demo and the benchmarks never need the
// real platform.
//
// It owns what every simulator has in common: the faults an operator or a
// test injects (error rates per status, latency, writes that are applied but
// never answered, per-item batch failures, removed fields, a revoked token),
// the seeded randomness that makes those faults repeatable, request
// statistics, the /_sim/ control endpoints, a rolling-window rate limiter and
// helpers to serve on a loopback listener. A platform simulator (for example
// internal/sim/hubspot) embeds a *Base, calls its fault helpers where the
// platform's semantics decide (after a write, per batch item, per field) and
// mounts its API with Base.Handler.
package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ControlPrefix is where the control endpoints are mounted. Requests under it
// are never subject to faults, auth or rate limits.
const ControlPrefix = "/_sim/"

// Faults are the failures a simulator injects. The zero value injects none.
// Every probability is in [0, 1] and is drawn from the Base's seeded source,
// so one seed and one sequence of requests always give the same faults.
type Faults struct {
	// Errors maps an HTTP status ("500", "429") to the probability that an
	// API request is answered with it, in the platform's own error shape,
	// before the platform handles it (so nothing is written). The
	// probabilities must sum to at most 1.
	Errors map[string]float64 `json:"errors,omitempty"`
	// Latency is added before every API request is handled.
	Latency Duration `json:"latency,omitempty"`
	// TimeoutAfterWrite is the probability that a write is applied and then
	// never answered: the request is held for Hang, or until the client gives
	// up when Hang is 0, and the connection is dropped without a response.
	// This is the ambiguous outcome Sluice resolves by looking the record up.
	TimeoutAfterWrite float64 `json:"timeout_after_write,omitempty"`
	// Hang is how long a TimeoutAfterWrite request is held; 0 means until
	// the client gives up.
	Hang Duration `json:"hang,omitempty"`
	// ErrorAfterWrite is the probability that a write is applied and then
	// answered 500 in the platform's error shape: the platform kept the
	// change but said it failed, so a client that believes the answer
	// writes again (and a poll of the platform sees the write before the
	// client has recorded it). Drawn after TimeoutAfterWrite.
	ErrorAfterWrite float64 `json:"error_after_write,omitempty"`
	// RetryAfter, when set, makes injected 429 and 503 answers carry a
	// Retry-After header of this many whole seconds (rounded up), for
	// testing a client's honouring of it on platforms whose documented
	// answers carry none.
	RetryAfter Duration `json:"retry_after,omitempty"`
	// PartialBatch is the probability that one item of a batch request fails
	// on its own with a transient error while the other items are applied.
	PartialBatch float64 `json:"partial_batch,omitempty"`
	// RemovedFields are fields (properties, columns) that no longer exist on
	// the platform, to simulate schema drift: writing one fails the way the
	// platform reports an unknown field. A name is bare ("phone", every
	// object) or qualified by the platform's object ("contacts.phone").
	RemovedFields []string `json:"removed_fields,omitempty"`
	// Revoked makes every API request fail authentication with 401, as when
	// the token was revoked.
	Revoked bool `json:"revoked,omitempty"`
	// Next are HTTP statuses answered, in order, to the next API requests,
	// one each, in the platform's error shape and before Errors is drawn:
	// the deterministic "fail exactly once" a test of a client's own retry
	// needs. Each is used up when answered.
	Next []int `json:"next,omitempty"`
}

// Validate reports the first invalid value, naming the JSON field.
func (f Faults) Validate() error {
	sum := 0.0
	codes := make([]string, 0, len(f.Errors))
	for c := range f.Errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		n, err := strconv.Atoi(c)
		if err != nil || n < 400 || n > 599 {
			return fmt.Errorf("errors.%s: not an HTTP error status (400-599)", c)
		}
		if err := checkRate("errors."+c, f.Errors[c]); err != nil {
			return err
		}
		sum += f.Errors[c]
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("errors: probabilities sum to %g, more than 1", sum)
	}
	switch {
	case f.Latency < 0:
		return errors.New("latency: must not be negative")
	case f.Hang < 0:
		return errors.New("hang: must not be negative")
	case f.RetryAfter < 0:
		return errors.New("retry_after: must not be negative")
	}
	if err := checkRate("timeout_after_write", f.TimeoutAfterWrite); err != nil {
		return err
	}
	if err := checkRate("error_after_write", f.ErrorAfterWrite); err != nil {
		return err
	}
	if err := checkRate("partial_batch", f.PartialBatch); err != nil {
		return err
	}
	for i, n := range f.Next {
		if n < 400 || n > 599 {
			return fmt.Errorf("next[%d]: %d is not an HTTP error status (400-599)", i, n)
		}
	}
	for i, name := range f.RemovedFields {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("removed_fields[%d]: empty", i)
		}
	}
	return nil
}

func checkRate(field string, p float64) error {
	if !(p >= 0 && p <= 1) { // also rejects NaN
		return fmt.Errorf("%s: %v is not a probability in [0, 1]", field, p)
	}
	return nil
}

func (f Faults) clone() Faults {
	c := f
	if f.Errors != nil {
		c.Errors = make(map[string]float64, len(f.Errors))
		for k, v := range f.Errors {
			c.Errors[k] = v
		}
	}
	c.RemovedFields = append([]string(nil), f.RemovedFields...)
	c.Next = append([]int(nil), f.Next...)
	return c
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("250ms", "2s"); a bare JSON number is taken as milliseconds.
type Duration time.Duration

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts "250ms" or 250 (milliseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration: want a string like \"250ms\" or milliseconds, got %s", b)
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

// Stats are what a simulator has seen since it started or was reset.
type Stats struct {
	// Requests counts API requests (control endpoints excluded).
	Requests int64 `json:"requests"`
	// RateLimited counts 429 responses sent, injected or by a limiter.
	RateLimited int64 `json:"rate_limited"`
	// ByStatus counts responses by HTTP status.
	ByStatus map[string]int64 `json:"by_status"`
	// InjectedErrors counts responses sent because of Faults.Errors or
	// Faults.Revoked.
	InjectedErrors int64 `json:"injected_errors"`
	// TimeoutsAfterWrite counts writes applied and never answered.
	TimeoutsAfterWrite int64 `json:"timeouts_after_write"`
	// ErrorsAfterWrite counts writes applied and answered 500.
	ErrorsAfterWrite int64 `json:"errors_after_write"`
	// PartialBatchItems counts batch items failed by Faults.PartialBatch.
	PartialBatchItems int64 `json:"partial_batch_items"`
	// DuplicatesByKey counts records that came to hold a business key
	// another live record already held (see Base.KeyAdded): what Sluice
	// must never cause.
	DuplicatesByKey int64 `json:"duplicates_by_key"`
}

// Options configure a Base.
type Options struct {
	// Seed makes fault decisions repeatable; 0 picks a random seed, which
	// Base.Seed reports so a failing run can be replayed.
	Seed uint64
	// Faults are injected from the start and restored by a reset.
	Faults Faults
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Base is the part of every simulator that does not depend on the platform.
// It is safe for concurrent use.
type Base struct {
	now     func() time.Time
	seed    uint64
	initial Faults

	mu       sync.Mutex
	faults   Faults
	rng      *rand.Rand
	requests int64
	byStatus map[int]int64
	injected int64
	hangs    int64
	errAfter int64
	partial  int64
	keys     map[string]int64
	dups     int64
}

// New builds a Base; it fails when o.Faults is invalid.
func New(o Options) (*Base, error) {
	if err := o.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("faults.%w", err)
	}
	b := &Base{now: o.Now, seed: o.Seed, initial: o.Faults.clone()}
	if b.now == nil {
		b.now = time.Now
	}
	if b.seed == 0 {
		b.seed = rand.Uint64() | 1
	}
	b.Reset()
	return b, nil
}

// Now is the simulator's clock, for platform code that stamps records or
// counts windows.
func (b *Base) Now() time.Time { return b.now() }

// Seed is the seed in use, to replay a run.
func (b *Base) Seed() uint64 { return b.seed }

// Reset restores the initial faults, reseeds the random source and clears
// the statistics. Platforms clear their own records in Platform.Reset.
func (b *Base) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = b.initial.clone()
	b.rng = rand.New(rand.NewPCG(b.seed, b.seed^0x9e3779b97f4a7c15))
	b.requests, b.injected, b.hangs, b.errAfter, b.partial, b.dups = 0, 0, 0, 0, 0, 0
	b.byStatus = map[int]int64{}
	b.keys = map[string]int64{}
}

// Faults returns a copy of the faults in force.
func (b *Base) Faults() Faults {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.faults.clone()
}

// SetFaults replaces the faults in force (the Go form of PUT /_sim/faults).
func (b *Base) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	b.mu.Lock()
	b.faults = f.clone()
	b.mu.Unlock()
	return nil
}

// Stats returns a snapshot of the statistics.
func (b *Base) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{
		Requests:           b.requests,
		RateLimited:        b.byStatus[http.StatusTooManyRequests],
		ByStatus:           make(map[string]int64, len(b.byStatus)),
		InjectedErrors:     b.injected,
		TimeoutsAfterWrite: b.hangs,
		ErrorsAfterWrite:   b.errAfter,
		PartialBatchItems:  b.partial,
		DuplicatesByKey:    b.dups,
	}
	for code, n := range b.byStatus {
		s.ByStatus[strconv.Itoa(code)] = n
	}
	return s
}

// Chance draws from the seeded source: true with probability p.
func (b *Base) Chance(p float64) bool {
	if p <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rng.Float64() < p
}

// FailItem decides whether one batch item fails under Faults.PartialBatch.
// Platforms call it once per item, in input order, and answer a failed item
// with their own transient per-item error without applying it.
func (b *Base) FailItem() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.faults.PartialBatch <= 0 || b.rng.Float64() >= b.faults.PartialBatch {
		return false
	}
	b.partial++
	return true
}

// Removed reports whether field of object is listed in Faults.RemovedFields,
// bare or as "object.field".
func (b *Base) Removed(object, field string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.faults.RemovedFields {
		if r == field || r == object+"."+field {
			return true
		}
	}
	return false
}

// KeyAdded records that a record now holds the business key key: it was
// created with it, or changed to it. Stats.DuplicatesByKey counts every time
// a key is added while another record already holds it. The platform chooses
// the key (an e-mail, a primary field, a message text); empty keys are
// ignored.
func (b *Base) KeyAdded(key string) {
	if key == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys[key] > 0 {
		b.dups++
	}
	b.keys[key]++
}

// KeyRemoved records that a record no longer holds key: it was deleted, or
// its key changed.
func (b *Base) KeyRemoved(key string) {
	if key == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.keys[key] > 0 {
		b.keys[key]--
	}
}

// TimedOut is called by a platform after it applied a write and before it
// writes the response. With probability Faults.TimeoutAfterWrite it holds
// the request (for Faults.Hang, or until the client gives up) and returns
// true; the handler from Base.Handler then drops the connection so the
// client sees no response at all. Else, with probability
// Faults.ErrorAfterWrite, it answers 500 in the platform's error shape and
// returns true. Either way the platform must return without writing
// anything. The caller must not hold locks.
func (b *Base) TimedOut(r *http.Request) bool {
	b.mu.Lock()
	hit := b.faults.TimeoutAfterWrite > 0 && b.rng.Float64() < b.faults.TimeoutAfterWrite
	hang := time.Duration(b.faults.Hang)
	errAfter := !hit && b.faults.ErrorAfterWrite > 0 && b.rng.Float64() < b.faults.ErrorAfterWrite
	if hit {
		b.hangs++
	}
	if errAfter {
		b.errAfter++
	}
	b.mu.Unlock()
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	if errAfter && st != nil && st.fail != nil {
		st.fail(http.StatusInternalServerError)
		return true
	}
	if !hit {
		return false
	}
	if st != nil {
		st.abort = true
	}
	sleep(r.Context(), hang)
	return true
}

// sleep waits for d, or until ctx ends when d is 0.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// injectedStatus takes the next of Faults.Next, else draws the status of an
// injected error, 0 for none. Codes are visited in sorted order so a seed
// always maps to the same status.
func (b *Base) injectedStatus() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.faults.Next) > 0 {
		n := b.faults.Next[0]
		b.faults.Next = b.faults.Next[1:]
		b.injected++
		return n
	}
	if len(b.faults.Errors) == 0 {
		return 0
	}
	codes := make([]string, 0, len(b.faults.Errors))
	for c := range b.faults.Errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	u, acc := b.rng.Float64(), 0.0
	for _, c := range codes {
		acc += b.faults.Errors[c]
		if u < acc {
			n, _ := strconv.Atoi(c) // validated by SetFaults
			b.injected++
			return n
		}
	}
	return 0
}

// Platform is what a simulator plugs into Base.Handler.
type Platform struct {
	// API serves the platform's own endpoints: everything outside /_sim/.
	API http.Handler
	// WriteError writes the platform's error response for a status injected
	// by Faults.Errors, or 401 for Faults.Revoked.
	WriteError func(w http.ResponseWriter, r *http.Request, status int)
	// Records returns every stored record, JSON-encodable, for
	// GET /_sim/records.
	Records func() any
	// Reset clears the platform's records and limiter windows on
	// POST /_sim/reset (the Base resets itself).
	Reset func()
	// Control, when set, mounts the platform's own control endpoints
	// (under /_sim/) on the control mux, e.g. OAuth.Mount.
	Control func(mux *http.ServeMux)
}

type stateKey struct{}

// reqState lets TimedOut tell the outer handler to drop the connection,
// or answer an error after a write through the platform's WriteError.
type reqState struct {
	abort bool
	fail  func(status int)
}

// Handler serves p's API behind the faults and the statistics, and the
// control endpoints under /_sim/:
//
//	GET  /_sim/faults   the faults in force
//	PUT  /_sim/faults   replace them (the whole Faults document); 400 if invalid
//	GET  /_sim/records  every stored record
//	GET  /_sim/stats    Stats
//	POST /_sim/reset    clear records and stats, restore the initial faults
//
// An API request is handled in this order: statistics, added latency, a
// revoked token (401), an injected error status, then p.API.
func (b *Base) Handler(p Platform) http.Handler {
	ctl := http.NewServeMux()
	ctl.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, b.Faults())
	})
	ctl.HandleFunc("PUT /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error()})
			return
		}
		if err := b.SetFaults(f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults." + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, b.Faults())
	})
	ctl.HandleFunc("GET /_sim/records", func(w http.ResponseWriter, _ *http.Request) {
		var recs any = []any{}
		if p.Records != nil {
			recs = p.Records()
		}
		writeJSON(w, http.StatusOK, recs)
	})
	ctl.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, b.Stats())
	})
	ctl.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, _ *http.Request) {
		if p.Reset != nil {
			p.Reset()
		}
		b.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	if p.Control != nil {
		p.Control(ctl)
	}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, ControlPrefix) {
			ctl.ServeHTTP(w, r)
			return
		}
		b.mu.Lock()
		b.requests++
		latency := time.Duration(b.faults.Latency)
		revoked := b.faults.Revoked
		b.mu.Unlock()

		st := &reqState{}
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		st.fail = func(status int) { p.WriteError(sw, r, status) }
		defer func() {
			if st.abort {
				// Headers were never written: drop the connection so the
				// client gets no answer at all. net/http recovers this
				// sentinel silently.
				panic(http.ErrAbortHandler)
			}
			b.mu.Lock()
			b.byStatus[sw.code()]++
			b.mu.Unlock()
		}()

		if latency > 0 {
			sleep(r.Context(), latency)
			if r.Context().Err() != nil {
				st.abort = true
				return
			}
		}
		if revoked {
			b.mu.Lock()
			b.injected++
			b.mu.Unlock()
			p.WriteError(sw, r, http.StatusUnauthorized)
			return
		}
		if code := b.injectedStatus(); code != 0 {
			if ra := b.Faults().RetryAfter; ra > 0 && (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) {
				secs := (time.Duration(ra) + time.Second - 1) / time.Second
				sw.Header().Set("Retry-After", strconv.Itoa(int(secs)))
			}
			p.WriteError(sw, r, code)
			return
		}
		p.API.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status written, for the statistics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// WriteJSON writes v as a JSON response with status; simulators use it for
// their own bodies.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
