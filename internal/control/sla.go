package control

// The SLA watcher: the part of the control layer that turns queue ages,
// paused destinations, new escalations and failure rates into open items
// and alerts.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/delivery"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/store"
)

// Breach kinds: what an open item in GET /v1/sla is about.
const (
	BreachDeliverWithin     = "deliver_within"
	BreachHoldWithin        = "hold_within"
	BreachQueueAge          = "queue_age"
	BreachQueueDepth        = "queue_depth"
	BreachDestinationPaused = "destination_paused"
)

// escalationCursor names the store cursor of the last escalation alerted.
const escalationCursor = "escalations"

// DefaultSettle is SLAWatcher.Settle's default.
const DefaultSettle = 15 * time.Second

// escalationPage bounds one read of new escalations.
const escalationPage = 200

// SLAWatcher checks, each time Check runs:
//   - every flow's sla.deliver_within (oldest event still delivering) and
//     sla.hold_within (oldest event held), measured from capture;
//   - every destination's sla.queue_age (oldest pending delivery) and
//     sla.queue_depth (pending deliveries), and whether it is paused;
//   - escalations opened since the last run;
//   - each destination's failure rate since the last run, when Failures is
//     set.
//
// A breach (or a pause) becomes one open item in the store and fires one
// alert; while it lasts nothing more is sent; when it clears the item is
// resolved and a "resolved" alert goes out. The store decides who alerts
// (store.SLAStore), so a restart does not alert again and several instances
// running the watcher send each alert once. Failure-rate counts are per
// instance and only alert; they open no item.
type SLAWatcher struct {
	// Gate gives the plan's config, the clock and redaction.
	Gate Pipeline
	// Store is where queue ages are read and breaches and alert cursors
	// are kept (the control layer's own bookkeeping, not event state).
	Store SLAStore
	// Alerter sends the alerts; nil tracks items without alerting.
	Alerter *alert.Alerter
	// Failures counts attempts per destination (wrap the engine's
	// observer with it); nil disables failure-rate alerts.
	Failures *FailureCounter
	// Settle: escalations younger than this wait for the next run, so one
	// whose transaction commits late is not skipped. 0 means DefaultSettle.
	Settle time.Duration
	// CountLimit bounds the counts in breach details and alert texts
	// (past it they read "at least N"); 0 means DefaultCountLimit. A
	// destination's queue_depth is always counted exactly past its limit.
	CountLimit int64
	Log        *slog.Logger

	lastRate  time.Time    // when Failures was last read
	lastCheck atomic.Int64 // unix nanoseconds of the last finished Check, on the gate's clock
}

// LastCheck is when this watcher last finished a check (zero before the
// first): what `sluice sla` shows as the time its view was computed.
func (w *SLAWatcher) LastCheck() time.Time {
	n := w.lastCheck.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Run calls Check now and then every interval until ctx ends, logging
// failures (Run is the top of its goroutine; there is no caller to return
// them to).
func (w *SLAWatcher) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := w.Check(ctx); err != nil && ctx.Err() == nil && w.Log != nil {
			w.Log.Error("sla watch", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check runs every check once. Each part runs even if another failed; the
// error joins all failures, including alerts that could not be sent.
func (w *SLAWatcher) Check(ctx context.Context) error {
	sla := w.Store
	now := w.Gate.Now()
	var errs []error
	if err := w.checkBreaches(ctx, sla, now); err != nil {
		errs = append(errs, fmt.Errorf("sla breaches: %w", err))
	}
	if err := w.checkEscalations(ctx, sla, now); err != nil {
		errs = append(errs, fmt.Errorf("escalation alerts: %w", err))
	}
	if err := w.checkFailureRate(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("failure-rate alerts: %w", err))
	}
	if w.Alerter != nil {
		if err := w.Alerter.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("alert summaries: %w", err))
		}
	}
	w.lastCheck.Store(now.UnixNano())
	return errors.Join(errs...)
}

// notify sends an alert with the gate's redaction applied to its text.
func (w *SLAWatcher) notify(ctx context.Context, a alert.Alert) error {
	if w.Alerter == nil {
		return nil
	}
	a.Title, a.Text = w.Gate.Clean(a.Title), w.Gate.Clean(a.Text)
	for i := range a.Items {
		a.Items[i] = w.Gate.Clean(a.Items[i])
	}
	return w.Alerter.Notify(ctx, a)
}

// finding is one breach seen now.
type finding struct {
	key, kind, subject string
	details            BreachDetails
	title, text        string
	severity           string
}

// DefaultCountLimit is SLAWatcher.CountLimit's default: past it counts
// read "at least 10000", so a check costs the same with a backlog of ten
// thousand or of a million (ADR 0039).
const DefaultCountLimit = 10000

// countText is a queue's count for an alert: "at least N" when counting
// stopped at the limit (countTextStart: "At least N", to open a sentence).
func countText(q *store.QueueAge) string {
	if q.Capped {
		return fmt.Sprintf("at least %d", q.Count)
	}
	return fmt.Sprint(q.Count)
}

func countTextStart(q *store.QueueAge) string {
	if q.Capped {
		return fmt.Sprintf("At least %d", q.Count)
	}
	return fmt.Sprint(q.Count)
}

// BreachDetails is the JSON stored with a breach (fields by kind).
type BreachDetails struct {
	// Count of events (deliver_within, hold_within) or pending deliveries.
	Count int64 `json:"count,omitempty"`
	// CountAtLeast: counting stopped at Count (SLAWatcher.CountLimit);
	// there are at least that many.
	CountAtLeast bool `json:"count_at_least,omitempty"`
	// Oldest capture (events) or creation (deliveries) time.
	Oldest time.Time `json:"oldest,omitzero"`
	// Threshold is the configured limit: a duration ("5m0s") or a depth.
	Threshold string `json:"threshold,omitempty"`
	// Reason and Since describe a paused destination.
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

func (w *SLAWatcher) findBreaches(ctx context.Context, sla store.SLAStore, now time.Time) (map[string]finding, error) {
	cfg := w.Gate.Plan().Config
	flows, dests := sortedKeys(cfg.Flows), sortedKeys(cfg.Destinations)
	// Counts stop at the limit, or past the largest queue_depth so that
	// a depth breach is decided on an exact count.
	limit := w.CountLimit
	if limit <= 0 {
		limit = DefaultCountLimit
	}
	for _, d := range cfg.Destinations {
		if d != nil && int64(d.SLA.QueueDepth) >= limit {
			limit = int64(d.SLA.QueueDepth) + 1
		}
	}
	delivering, err := sla.EventAgeByFlow(ctx, &store.QueueAgeParams{State: store.EventDelivering, Names: flows, CountLimit: limit})
	if err != nil {
		return nil, err
	}
	held, err := sla.EventAgeByFlow(ctx, &store.QueueAgeParams{State: store.EventHeld, Names: flows, CountLimit: limit})
	if err != nil {
		return nil, err
	}
	queues, err := sla.DeliveryAgeByDestination(ctx, &store.QueueAgeParams{Names: dests, CountLimit: limit})
	if err != nil {
		return nil, err
	}
	byName := func(list []*store.QueueAge, name string) *store.QueueAge {
		for _, q := range list {
			if q.Name == name {
				return q
			}
		}
		return nil
	}
	age := func(t time.Time) time.Duration { return now.Sub(t).Round(time.Second) }
	out := map[string]finding{}
	add := func(f finding) { out[f.key] = f }

	for _, name := range flows {
		f := cfg.Flows[name]
		if f == nil {
			continue
		}
		if lim := f.SLA.DeliverWithin.D(); lim > 0 {
			if q := byName(delivering, name); q != nil && now.Sub(q.Oldest) > lim {
				add(finding{key: "sla:" + name + ":delivery", kind: BreachDeliverWithin, subject: name, severity: alert.SeverityWarning,
					details: BreachDetails{Count: q.Count, CountAtLeast: q.Capped, Oldest: q.Oldest, Threshold: lim.String()},
					title:   fmt.Sprintf("SLA breach: flow %s not delivered within %s", name, lim),
					text: fmt.Sprintf("%s %s of flow %s %s still being delivered; the oldest was captured %s ago (SLA: delivered within %s). See `sluice sla` and `sluice events list --state delivering`.",
						countTextStart(q), plural(q.Count, "event", "events"), name, plural(q.Count, "is", "are"), age(q.Oldest), lim)})
			}
		}
		if lim := f.SLA.HoldWithin.D(); lim > 0 {
			if q := byName(held, name); q != nil && now.Sub(q.Oldest) > lim {
				add(finding{key: "sla:" + name + ":hold", kind: BreachHoldWithin, subject: name, severity: alert.SeverityWarning,
					details: BreachDetails{Count: q.Count, CountAtLeast: q.Capped, Oldest: q.Oldest, Threshold: lim.String()},
					title:   fmt.Sprintf("SLA breach: flow %s has records held longer than %s", name, lim),
					text: fmt.Sprintf("%s %s of flow %s %s on hold; the oldest was captured %s ago (SLA: held no longer than %s). Fix and release them: `sluice holds list`.",
						countTextStart(q), plural(q.Count, "event", "events"), name, plural(q.Count, "is", "are"), age(q.Oldest), lim)})
			}
		}
	}
	ex := w.Store
	for _, name := range dests {
		d := cfg.Destinations[name]
		if d == nil {
			continue
		}
		q := byName(queues, name)
		if lim := d.SLA.QueueAge.D(); lim > 0 && q != nil && now.Sub(q.Oldest) > lim {
			add(finding{key: "sla:" + name + ":queue_age", kind: BreachQueueAge, subject: name, severity: alert.SeverityWarning,
				details: BreachDetails{Count: q.Count, CountAtLeast: q.Capped, Oldest: q.Oldest, Threshold: lim.String()},
				title:   fmt.Sprintf("SLA breach: destination %s has deliveries waiting longer than %s", name, lim),
				text: fmt.Sprintf("The oldest of %s pending %s to %s has waited %s (SLA: queue age %s).",
					countText(q), plural(q.Count, "delivery", "deliveries"), name, age(q.Oldest), lim)})
		}
		if lim := d.SLA.QueueDepth; lim > 0 && q != nil && q.Count > int64(lim) {
			add(finding{key: "sla:" + name + ":queue_depth", kind: BreachQueueDepth, subject: name, severity: alert.SeverityWarning,
				details: BreachDetails{Count: q.Count, CountAtLeast: q.Capped, Threshold: fmt.Sprint(lim)},
				title:   fmt.Sprintf("SLA breach: destination %s has %s pending deliveries", name, countText(q)),
				text:    fmt.Sprintf("%s deliveries to %s are pending, more than the SLA's queue depth of %d.", countTextStart(q), name, lim)})
		}
		st, err := ex.DestinationStateGet(ctx, name)
		if err != nil {
			return nil, err
		}
		if st.Paused {
			add(finding{key: "destination_paused:" + name, kind: BreachDestinationPaused, subject: name, severity: alert.SeverityCritical,
				details: BreachDetails{Reason: st.Reason, Since: st.UpdatedAt},
				title:   fmt.Sprintf("Destination %s paused", name),
				text: fmt.Sprintf("%s. Its deliveries wait and are not lost; once the cause is fixed, resume it: `sluice destinations resume %s`.",
					strings.TrimSuffix(orDash(st.Reason), "."), name)})
		}
	}
	return out, nil
}

// checkBreaches opens an item (and alerts) for each new breach, refreshes
// the details of those still open, and resolves (and alerts) those that
// cleared. When the measurements cannot be read nothing is opened or
// resolved.
func (w *SLAWatcher) checkBreaches(ctx context.Context, sla store.SLAStore, now time.Time) error {
	found, err := w.findBreaches(ctx, sla, now)
	if err != nil {
		return err
	}
	open, err := sla.SLABreachList(ctx, &store.SLABreachListParams{Status: "open", Limit: 1000})
	if err != nil {
		return err
	}
	openByKey := map[string]*store.SLABreach{}
	for _, b := range open {
		openByKey[b.Key] = b
	}
	var errs []error
	for _, key := range sortedKeys(found) {
		f := found[key]
		details, err := json.Marshal(f.details)
		if err != nil {
			return err
		}
		if b, ok := openByKey[key]; ok {
			if string(b.Details) != string(details) {
				if err := sla.SLABreachUpdate(ctx, &store.SLABreachUpdateParams{Key: key, Details: details, Now: now}); err != nil && !errors.Is(err, store.ErrNotFound) {
					errs = append(errs, err)
				}
			}
			continue
		}
		opened, err := sla.SLABreachOpen(ctx, &store.SLABreach{ID: id.New("sla", now), Key: key, Kind: f.kind, Subject: f.subject,
			Details: details, OpenedAt: now})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !opened {
			continue // another instance opened it, and alerted
		}
		kind := alert.KindSLABreach
		if f.kind == BreachDestinationPaused {
			kind = alert.KindDestinationPaused
		}
		errs = append(errs, w.notify(ctx, alert.Alert{Key: key, Kind: kind, Severity: f.severity, Title: f.title, Text: f.text, Time: now}))
	}
	for _, key := range sortedKeys(openByKey) {
		if _, still := found[key]; still {
			continue
		}
		b := openByKey[key]
		resolved, err := sla.SLABreachResolve(ctx, &store.SLABreachResolveParams{Key: key, Now: now})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !resolved {
			continue
		}
		errs = append(errs, w.notify(ctx, resolvedAlert(b, now)))
	}
	return errors.Join(errs...)
}

// resolvedAlert says a breach cleared. Its key is the breach's plus
// ":resolved", so a recovery is not held back by the breach's own window.
func resolvedAlert(b *store.SLABreach, now time.Time) alert.Alert {
	var what string
	switch b.Kind {
	case BreachDeliverWithin:
		what = "flow " + b.Subject + " delivering within its SLA again"
	case BreachHoldWithin:
		what = "flow " + b.Subject + " has no record held beyond its SLA"
	case BreachQueueAge:
		what = "destination " + b.Subject + " queue age within its SLA again"
	case BreachQueueDepth:
		what = "destination " + b.Subject + " queue depth within its SLA again"
	case BreachDestinationPaused:
		what = "destination " + b.Subject + " resumed"
	default:
		what = b.Key + " cleared"
	}
	kind := alert.KindSLAResolved
	if b.Kind == BreachDestinationPaused {
		kind = alert.KindDestinationResume
	}
	return alert.Alert{Key: b.Key + ":resolved", Kind: kind, Severity: alert.SeverityInfo,
		Title: "Resolved: " + what,
		Text:  fmt.Sprintf("Open for %s, since %s.", now.Sub(b.OpenedAt).Round(time.Second), b.OpenedAt.UTC().Format(time.RFC3339)),
		Time:  now}
}

// checkEscalations alerts on escalations created since the last run. The
// store cursor moves by compare-and-set before alerting, so of several
// instances only the one that moved it alerts; a first run ever starts the
// cursor at now (the backlog is in the inbox already).
func (w *SLAWatcher) checkEscalations(ctx context.Context, sla store.SLAStore, now time.Time) error {
	settle := w.Settle
	if settle <= 0 {
		settle = DefaultSettle
	}
	before := idAt("esc", now.Add(-settle))
	cur, err := sla.AlertCursorGet(ctx, escalationCursor)
	if errors.Is(err, store.ErrNotFound) {
		_, err = sla.AlertCursorAdvance(ctx, &store.AlertCursorAdvanceParams{Name: escalationCursor, To: before, Now: now})
		return err
	}
	if err != nil {
		return err
	}
	var batch []*store.Escalation
	for range 50 { // at most 10,000 per run; the rest next run
		escs, err := sla.EscalationListCreated(ctx, &store.EscalationListCreatedParams{AfterID: cur, BeforeID: before, Limit: escalationPage})
		if err != nil {
			return errors.Join(err, w.alertEscalations(ctx, batch, now))
		}
		if len(escs) == 0 {
			break
		}
		last := escs[len(escs)-1].ID
		won, err := sla.AlertCursorAdvance(ctx, &store.AlertCursorAdvanceParams{Name: escalationCursor, From: cur, To: last, Now: now})
		if err != nil {
			return errors.Join(err, w.alertEscalations(ctx, batch, now))
		}
		if !won {
			break // another instance took these
		}
		batch = append(batch, escs...)
		if len(escs) < escalationPage {
			break
		}
		cur = last
	}
	return w.alertEscalations(ctx, batch, now)
}

func (w *SLAWatcher) alertEscalations(ctx context.Context, escs []*store.Escalation, now time.Time) error {
	if len(escs) == 0 {
		return nil
	}
	return w.notify(ctx, escalationAlert(escs, now))
}

// escalationAlert is one alert for a batch of new escalations.
func escalationAlert(escs []*store.Escalation, now time.Time) alert.Alert {
	line := func(e *store.Escalation) string {
		s := fmt.Sprintf("%s %s (event %s): %s", e.ID, e.Kind, e.EventID, e.Reason)
		if e.LastError != "" {
			s += ": " + e.LastError
		}
		if e.Status != store.EscalationOpen {
			s += " [" + e.Status + "]"
		}
		return s
	}
	a := alert.Alert{Key: "escalations", Kind: alert.KindEscalation, Severity: alert.SeverityWarning, Time: now, Count: len(escs)}
	if len(escs) == 1 {
		a.Title = fmt.Sprintf("New escalation: %s", escs[0].Kind)
		a.Text = line(escs[0]) + ". Work it off in the inbox: `sluice escalations list`."
		return a
	}
	kinds := map[string]int{}
	for _, e := range escs {
		kinds[e.Kind]++
	}
	var parts []string
	for _, k := range sortedKeys(kinds) {
		parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
	}
	a.Title = fmt.Sprintf("%d new escalations", len(escs))
	a.Text = strings.Join(parts, ", ") + ". Work them off in the inbox: `sluice escalations list`."
	const maxItems = 20
	for i, e := range escs {
		if i == maxItems {
			a.Items = append(a.Items, fmt.Sprintf("... and %d more", len(escs)-maxItems))
			break
		}
		a.Items = append(a.Items, line(e))
	}
	return a
}

// idAt is the smallest ID with this prefix made at t: IDs are
// prefix_ULID, and ULIDs sort by time.
func idAt(prefix string, t time.Time) string {
	var u ulid.ULID
	if err := u.SetTime(ulid.Timestamp(t)); err != nil {
		return prefix + "_"
	}
	return prefix + "_" + u.String()
}

// checkFailureRate alerts for each destination whose failed share of
// attempts since the last run is above alerts.failure_rate.above.
func (w *SLAWatcher) checkFailureRate(ctx context.Context, now time.Time) error {
	if w.Failures == nil {
		return nil
	}
	conf := w.Gate.Plan().Config.Alerts.FailureRate
	since := w.lastRate
	w.lastRate = now
	counts := w.Failures.Take()
	var errs []error
	for _, dest := range sortedKeys(counts) {
		c := counts[dest]
		if c.Total < conf.MinAttempts || c.Total == 0 {
			continue
		}
		rate := float64(c.Failed) / float64(c.Total)
		if rate <= conf.Above {
			continue
		}
		var outcomes []string
		for _, o := range sortedKeys(c.Outcomes) {
			outcomes = append(outcomes, fmt.Sprintf("%s %d", o, c.Outcomes[o]))
		}
		period := "since the last check"
		if !since.IsZero() {
			period = fmt.Sprintf("in the last %s", now.Sub(since).Round(time.Second))
		}
		errs = append(errs, w.notify(ctx, alert.Alert{Key: "failure_rate:" + dest, Kind: alert.KindFailureRate, Severity: alert.SeverityWarning,
			Title: fmt.Sprintf("Destination %s: %.0f%% of delivery attempts failed", dest, 100*rate),
			Text: fmt.Sprintf("%d of %d attempts to %s failed %s (alert above %.0f%%). Outcomes: %s.",
				c.Failed, c.Total, dest, period, 100*conf.Above, strings.Join(outcomes, ", ")),
			Time: now}))
	}
	return errors.Join(errs...)
}

// FailureCounter counts delivery attempts per destination between two
// watcher runs. It is a delivery.Observer that forwards to Next (the
// metrics), so wiring it wraps the observer the engine already has.
type FailureCounter struct {
	// Next receives every call too; nil is allowed.
	Next delivery.Observer

	mu     sync.Mutex
	counts map[string]*AttemptCounts
}

var _ delivery.Observer = (*FailureCounter)(nil)

// AttemptCounts are one destination's attempts since the last Take.
type AttemptCounts struct {
	Total, Failed int
	Outcomes      map[string]int // failed attempts by outcome class
}

// Attempt implements delivery.Observer: any outcome but "succeeded" is a
// failure.
func (f *FailureCounter) Attempt(destination, outcome string, status int, latency time.Duration) {
	f.mu.Lock()
	if f.counts == nil {
		f.counts = map[string]*AttemptCounts{}
	}
	c := f.counts[destination]
	if c == nil {
		c = &AttemptCounts{Outcomes: map[string]int{}}
		f.counts[destination] = c
	}
	c.Total++
	if outcome != "succeeded" {
		c.Failed++
		c.Outcomes[outcome]++
	}
	f.mu.Unlock()
	if f.Next != nil {
		f.Next.Attempt(destination, outcome, status, latency)
	}
}

// Breaker implements delivery.Observer.
func (f *FailureCounter) Breaker(destination, state string) {
	if f.Next != nil {
		f.Next.Breaker(destination, state)
	}
}

// Take returns the counts since the last Take and starts over.
func (f *FailureCounter) Take() map[string]*AttemptCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.counts
	f.counts = nil
	if out == nil {
		out = map[string]*AttemptCounts{}
	}
	return out
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
