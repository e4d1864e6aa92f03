package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/store"
)

// SourceDrift learns, per source, which fields payloads carry and with
// which JSON types, and reports when traffic departs from that baseline:
// new fields, fields that stopped coming, fields that changed type, and a
// likely rename (one field stops as another of the same type starts).
//
// Nothing of it runs on the intake path but a bounded walk of the payload:
// Observe hands the payload's shape to a bounded queue (dropping it when
// the queue is full) and returns. The background loop (Run) learns and
// judges, and sends at most one alert per source per AlertEvery, listing
// what it found. The baseline is learned from the first Learn payloads and
// saved in the store, so a restart does not learn it again and every
// instance judges against the same one (the fullest saved wins). Open
// findings are bounded per source and pruned after FindingTTL.
type SourceDrift struct {
	// Learn is the number of payloads that make the baseline (default 200).
	Learn int
	// Window is how many recent payloads a check looks at (default 100).
	Window int
	// AlertEvery is the least time between two alerts of one source
	// (default 15 minutes); findings in between wait for the next one.
	AlertEvery time.Duration
	// Queue bounds the payload shapes waiting for the loop (default 256).
	Queue int
	// MaxFindings bounds the open findings kept per source (default 50).
	MaxFindings int
	// FindingTTL is how long a finding stays listed (default 24 hours).
	FindingTTL time.Duration
	// Alerter receives the alerts; nil only records findings.
	Alerter *alert.Alerter
	// Store keeps the baselines; nil keeps them in memory only.
	Store store.BaselineStore
	Now   func() time.Time
	Log   *slog.Logger

	once    sync.Once
	queue   chan observation
	ready   chan struct{} // a payload was queued
	drainMu sync.Mutex    // one consumer of queue at a time
	dropped atomic.Int64

	mu      sync.Mutex
	sources map[string]*sourceShape
}

// DriftFinding is one departure from a source's baseline.
type DriftFinding struct {
	Source string    `json:"source"`
	Kind   string    `json:"kind"` // new_field, missing_field, retyped_field, renamed_field
	Field  string    `json:"field"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
}

type observation struct {
	source string
	shape  map[string]string
}

type sourceShape struct {
	loaded   bool // the stored baseline was read
	learned  int
	baseline map[string]map[string]int // path -> JSON type -> count
	recent   []map[string]string       // last Window payloads: path -> type
	open     map[string]DriftFinding   // by kind+field
	pending  []DriftFinding            // found since the last alert
	skipped  int                       // findings beyond MaxFindings since the last alert
	nextSend time.Time                 // no alert before this
	// quiet is true when the last check found nothing, not even findings
	// already open: the same payloads against the same baseline find
	// nothing again, so a payload shaped like the one it pushes out of
	// the judged window needs no check (the steady state of a source).
	quiet bool
}

const maxPaths = 500

func (d *SourceDrift) init() {
	d.once.Do(func() {
		n := d.Queue
		if n <= 0 {
			n = 256
		}
		d.queue = make(chan observation, n)
		d.ready = make(chan struct{}, 1)
	})
}

func (d *SourceDrift) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Observe records one payload of a source (decoded JSON) for the
// background loop. It never blocks and does no I/O: one walk of the
// payload, bounded in depth and paths, and a send to a bounded queue that
// drops the shape when full (Dropped counts them).
func (d *SourceDrift) Observe(_ context.Context, source string, payload any) {
	d.init()
	shape := map[string]string{}
	walk("", payload, shape, 0)
	select {
	case d.queue <- observation{source: source, shape: shape}:
	default:
		d.dropped.Add(1)
		return
	}
	select {
	case d.ready <- struct{}{}:
	default:
	}
}

// Dropped is how many payloads were not inspected because the queue was
// full.
func (d *SourceDrift) Dropped() int64 { return d.dropped.Load() }

// Run inspects queued payloads and sends alerts until ctx ends.
func (d *SourceDrift) Run(ctx context.Context) {
	d.init()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.ready:
			d.Drain(ctx)
		case <-t.C:
			d.Flush(ctx)
		}
	}
}

// Drain inspects every payload queued so far; Run does it as they come.
// When it returns, every payload Observe had queued before the call has
// been inspected, so a reader of Findings sees them.
func (d *SourceDrift) Drain(ctx context.Context) {
	d.init()
	d.drainMu.Lock()
	defer d.drainMu.Unlock()
	for {
		select {
		case o := <-d.queue:
			d.inspect(ctx, o)
		default:
			return
		}
	}
}

func (d *SourceDrift) params() (learn, window, maxFindings int, every, ttl time.Duration) {
	learn, window, maxFindings, every, ttl = d.Learn, d.Window, d.MaxFindings, d.AlertEvery, d.FindingTTL
	if learn <= 0 {
		learn = 200
	}
	if window <= 0 {
		window = 100
	}
	if maxFindings <= 0 {
		maxFindings = 50
	}
	if every <= 0 {
		every = 15 * time.Minute
	}
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return
}

// BaselineStatus says how far a source's baseline is: drift is judged only
// once Learned reaches Needed; until then the source is still learning and
// "no drift" means "not judged yet".
type BaselineStatus struct {
	Source   string `json:"source"`
	Learned  int    `json:"learned"`
	Needed   int    `json:"needed"`
	Learning bool   `json:"learning"`
}

// Baseline reports the baseline of source (read from the store the first
// time, as judging does).
func (d *SourceDrift) Baseline(ctx context.Context, source string) BaselineStatus {
	learn, _, _, _, _ := d.params()
	s := d.shapeOf(ctx, source)
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(s.learned, learn)
	return BaselineStatus{Source: source, Learned: n, Needed: learn, Learning: n < learn}
}

// shapeOf returns a source's state, reading its stored baseline the first
// time the source is seen.
func (d *SourceDrift) shapeOf(ctx context.Context, source string) *sourceShape {
	d.mu.Lock()
	if d.sources == nil {
		d.sources = map[string]*sourceShape{}
	}
	s := d.sources[source]
	if s == nil {
		s = &sourceShape{baseline: map[string]map[string]int{}, open: map[string]DriftFinding{}}
		d.sources[source] = s
	}
	loaded := s.loaded
	d.mu.Unlock()
	if loaded || d.Store == nil {
		return s
	}
	b, err := d.Store.SourceBaselineGet(ctx, source)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.loaded = true
	case err != nil:
		if d.Log != nil {
			d.Log.Warn("source drift: read baseline", "source", source, "err", err)
		}
	default:
		var base map[string]map[string]int
		if json.Unmarshal(b.Shape, &base) == nil && b.Learned > s.learned {
			s.baseline, s.learned, s.quiet = base, b.Learned, false
		}
		s.loaded = true
	}
	return s
}

// inspect learns from or judges one payload.
func (d *SourceDrift) inspect(ctx context.Context, o observation) {
	learn, window, maxFindings, _, _ := d.params()
	s := d.shapeOf(ctx, o.source)
	d.mu.Lock()
	if s.learned < learn {
		for p, t := range o.shape {
			if s.baseline[p] == nil {
				if len(s.baseline) >= maxPaths {
					continue
				}
				s.baseline[p] = map[string]int{}
			}
			s.baseline[p][t]++
		}
		s.learned++
		var save *store.SourceBaseline
		if d.Store != nil && (s.learned == learn || s.learned%50 == 0) {
			shape, _ := json.Marshal(s.baseline)
			save = &store.SourceBaseline{Source: o.source, Learned: s.learned, Shape: shape, UpdatedAt: d.now()}
		}
		d.mu.Unlock()
		if save != nil {
			if err := d.Store.SourceBaselinePut(ctx, save); err != nil && d.Log != nil {
				d.Log.Warn("source drift: save baseline", "source", o.source, "err", err)
			}
		}
		return
	}
	var out map[string]string // leaves the judged window as o.shape enters
	if n := len(s.recent); n >= judged(window) {
		out = s.recent[n-judged(window)]
	}
	s.recent = append(s.recent, o.shape)
	if len(s.recent) > window {
		s.recent = s.recent[1:]
	}
	if s.quiet && out != nil && maps.Equal(out, o.shape) {
		d.mu.Unlock()
		return
	}
	for _, f := range d.check(o.source, s, learn, window) {
		if len(s.open) >= maxFindings {
			s.skipped++
			continue
		}
		s.open[f.Kind+":"+f.Field] = f
		s.pending = append(s.pending, f)
	}
	d.mu.Unlock()
}

// Flush prunes old findings and sends, for each source whose quiet period
// is over, one alert listing what was found since its last alert.
func (d *SourceDrift) Flush(ctx context.Context) {
	_, _, maxFindings, every, ttl := d.params()
	now := d.now()
	type send struct {
		source  string
		found   []DriftFinding
		skipped int
	}
	var sends []send
	d.mu.Lock()
	for name, s := range d.sources {
		for k, f := range s.open {
			if now.Sub(f.Since) > ttl {
				delete(s.open, k)
			}
		}
		if len(s.pending) == 0 && s.skipped == 0 || now.Before(s.nextSend) {
			continue
		}
		sends = append(sends, send{source: name, found: s.pending, skipped: s.skipped})
		s.pending, s.skipped, s.nextSend = nil, 0, now.Add(every)
	}
	d.mu.Unlock()
	sort.Slice(sends, func(i, j int) bool { return sends[i].source < sends[j].source })
	for _, sd := range sends {
		n := len(sd.found)
		items := make([]string, 0, min(len(sd.found), 10))
		for _, f := range sd.found {
			if d.Log != nil {
				d.Log.Warn("source schema drift", "source", f.Source, "kind", f.Kind, "field", f.Field, "detail", f.Detail)
			}
			if len(items) < 10 {
				items = append(items, f.Detail)
			}
		}
		if d.Alerter == nil {
			continue
		}
		text := fmt.Sprintf("%d %s departed from the payload shape learned for source %s.", n, plural(int64(n), "field", "fields"), sd.source)
		if n > len(items) {
			text += fmt.Sprintf(" The first %d are listed; GET /v1/drift shows the rest.", len(items))
		}
		if sd.skipped > 0 {
			text += fmt.Sprintf(" More departures were seen than the %d findings kept per source.", maxFindings)
		}
		_ = d.Alerter.Notify(ctx, alert.Alert{Key: "drift:" + sd.source, Kind: "source_drift", Severity: alert.SeverityWarning,
			Title: fmt.Sprintf("Source %s: payloads changed shape", sd.source), Text: text, Items: items, Time: now, Count: n})
	}
}

// judged is how many of the recent payloads a check judges: a tenth of the
// window, at least 3.
func judged(window int) int { return max(3, window/10) }

// check compares recent payloads with the baseline; it returns findings not
// open already (the caller records them). A finding needs a tenth of the window (at least 3
// payloads in a row) as evidence, so one odd payload is not drift.
func (d *SourceDrift) check(source string, s *sourceShape, learn, window int) []DriftFinding {
	n := len(s.recent)
	need := judged(window)
	s.quiet = false
	if n < need {
		return nil
	}
	now := d.now()
	// Judge the last `need` payloads: a field must be new, gone or retyped
	// in all of them, so a rename shows as one field stopping while the
	// other starts.
	last := s.recent[n-need:]
	n = need
	seen := map[string]map[string]int{}
	for _, shape := range last {
		for p, t := range shape {
			if seen[p] == nil {
				seen[p] = map[string]int{}
			}
			seen[p][t]++
		}
	}
	var found []DriftFinding
	var added, gone []string
	for p, types := range seen {
		total := 0
		for _, c := range types {
			total += c
		}
		base, known := s.baseline[p]
		if !known {
			if total == n {
				added = append(added, p)
			}
			continue
		}
		for t, c := range types {
			if base[t] == 0 && c == n {
				found = append(found, DriftFinding{Source: source, Kind: "retyped_field", Field: p,
					Detail: fmt.Sprintf("%s arrived as %s in %d of the last %d payloads; the baseline had %s", p, t, c, n, typeList(base)), Since: now})
			}
		}
	}
	for p, types := range s.baseline {
		total := 0
		for _, c := range types {
			total += c
		}
		if total*100 < learn*95 || strings.Contains(p, "[*]") {
			// Only fields that (nearly) always came; an array's element
			// paths come and go with its length.
			continue
		}
		if sumTypes(seen[p]) == 0 {
			gone = append(gone, p)
		}
	}
	sort.Strings(added)
	sort.Strings(gone)
	renamedFrom := map[string]bool{}
	for _, a := range added {
		kind, detail := "new_field", fmt.Sprintf("%s appeared in %d of the last %d payloads; it is not in the baseline", a, sumTypes(seen[a]), n)
		for _, g := range gone {
			if !renamedFrom[g] && sameType(s.baseline[g], seen[a]) && similar(g, a) {
				kind, detail = "renamed_field", fmt.Sprintf("%s stopped coming and %s started, with the same type: probably renamed %s -> %s", g, a, g, a)
				renamedFrom[g] = true
				break
			}
		}
		found = append(found, DriftFinding{Source: source, Kind: kind, Field: a, Detail: detail, Since: now})
	}
	for _, g := range gone {
		if renamedFrom[g] {
			continue
		}
		found = append(found, DriftFinding{Source: source, Kind: "missing_field", Field: g,
			Detail: fmt.Sprintf("%s is missing from %d of the last %d payloads; it came in nearly every baseline payload", g, n-sumTypes(seen[g]), n), Since: now})
	}
	s.quiet = len(found) == 0
	var fresh []DriftFinding
	for _, f := range found {
		if _, ok := s.open[f.Kind+":"+f.Field]; !ok {
			fresh = append(fresh, f)
		}
	}
	return fresh
}

// Findings lists what has been detected, by source and field.
func (d *SourceDrift) Findings() []DriftFinding {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []DriftFinding
	for _, s := range d.sources {
		for _, f := range s.open {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Field < out[j].Field
	})
	return out
}

// similar says two field names plausibly name the same thing (phone and
// phone_number, emailAddress and email_address): one contains the other, or
// they share a prefix of four characters, ignoring case and separators.
func similar(a, b string) bool {
	norm := func(s string) string {
		var out []rune
		for _, r := range strings.ToLower(s) {
			if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
				out = append(out, r)
			}
		}
		return string(out)
	}
	x, y := norm(a), norm(b)
	if x == "" || y == "" {
		return false
	}
	if strings.Contains(x, y) || strings.Contains(y, x) {
		return true
	}
	n := 0
	for n < len(x) && n < len(y) && x[n] == y[n] {
		n++
	}
	return n >= 4
}

func sumTypes(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func sameType(a, b map[string]int) bool {
	for t := range b {
		if a[t] > 0 {
			return true
		}
	}
	return false
}

func typeList(m map[string]int) string {
	ts := make([]string, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return strings.Join(ts, "/")
}

// walk records the JSON type of every path of v (arrays as [*]).
func walk(prefix string, v any, out map[string]string, depth int) {
	if depth > 8 || len(out) >= maxPaths {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if prefix != "" {
			out[prefix] = "object"
		}
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, e, out, depth+1)
		}
	case []any:
		out[prefix] = "array"
		for _, e := range x {
			walk(prefix+"[*]", e, out, depth+1)
		}
	case string:
		out[prefix] = "string"
	case bool:
		out[prefix] = "boolean"
	case nil:
		// null says nothing about the field's type
	default:
		out[prefix] = "number"
	}
}
