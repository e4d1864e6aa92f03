// Package metrics owns what Sluice exports to Prometheus on /metrics:
// counters and latency histograms fed by the intake and the delivery engine
// as things happen, and queue depths read from the store at scrape time (so
// several instances report the same truth). Labels carry names from the
// config (sources, destinations, outcomes), never payload values or secrets.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/internal/store"
)

// Metrics is one registry with Sluice's instruments.
type Metrics struct {
	Registry   *prometheus.Registry
	events     *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	rateLimits *prometheus.CounterVec
	breaker    *prometheus.GaugeVec
	consistent *prometheus.GaugeVec
	unverified *prometheus.GaugeVec
	settled    *prometheus.CounterVec
	recovered  *prometheus.CounterVec
	confirmed  *prometheus.HistogramVec
	complete   *prometheus.GaugeVec
	swept      *prometheus.CounterVec
	stores     *storeCollector
}

// New registers the instruments and a collector that reads queue depths
// from ex at scrape time (cached for cacheFor, since counting is a scan).
func New(ex store.Executor, cacheFor time.Duration, log *slog.Logger) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_intake_requests_total",
		Help: "Webhook requests by source and outcome (delivering, held, rejected, duplicate, bad_signature, malformed, too_large, overloaded, ...).",
	}, []string{"source", "outcome"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_delivery_attempts_total",
		Help: "Delivery attempts by destination and outcome (succeeded, retryable, permanent, auth, drift, conflict). Failure rate = non-succeeded / all.",
	}, []string{"destination", "outcome"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluice_delivery_attempt_seconds",
		Help:    "Latency of delivery attempts by destination.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"destination"})
	m.rateLimits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_rate_limited_total",
		Help: "429 answers received by destination.",
	}, []string{"destination"})
	m.breaker = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sluice_circuit_open",
		Help: "1 while a destination's circuit is open (0.5 half-open, 0 closed).",
	}, []string{"destination"})
	m.consistent = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sluice_consistency_ratio",
		Help: "Share of records read back from a destination that match what Sluice wrote, at the last check.",
	}, []string{"destination"})
	m.unverified = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sluice_consistency_unverifiable",
		Help: "1 for a destination whose records cannot be read back (its connector has no lookup), so it has no consistency ratio; 0 once one is measured.",
	}, []string{"destination"})
	m.confirmed = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluice_processing_seconds",
		Help:    "End-to-end processing latency of confirmed deliveries by flow and destination: from the record's routing (its capture, or its release for a held record) to the destination's confirmation, retries and waits included.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
	}, []string{"flow", "destination"})
	m.complete = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sluice_audit_completeness",
		Help: "The last periodic audit completeness check: events checked, events whose audit trail does not explain their state (incomplete; should be 0), and when it ran (checked_at, unix seconds).",
	}, []string{"measure"})
	m.settled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_deliveries_settled_total",
		Help: "Deliveries that settled, each counted once when it first did, by destination, result (succeeded, escalated) and whether it failed at least one attempt (retried; every escalated delivery did). Retry success rate = (succeeded{retried=\"true\"} + sluice_deliveries_recovered_total) / sum{retried=\"true\"}.",
	}, []string{"destination", "result", "retried"})
	m.recovered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_deliveries_recovered_total",
		Help: "Deliveries counted as escalated in sluice_deliveries_settled_total that landed after a person's retry or a re-render (counted once; not counted again as settled).",
	}, []string{"destination"})
	m.swept = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_settle_sweep_repaired_total",
		Help: "Events the leader's settle sweep found left delivering with every delivery finished, and settled, by the state they got (delivered, escalated). Should stay 0: each one is a settle that did not move its event.",
	}, []string{"state"})
	m.stores = &storeCollector{ex: ex, cacheFor: cacheFor, log: log, now: time.Now}
	m.Registry.MustRegister(m.events, m.attempts, m.latency, m.rateLimits, m.breaker, m.consistent, m.unverified, m.settled, m.recovered, m.confirmed, m.complete, m.swept,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.stores)
	return m
}

// Intake counts one webhook request.
func (m *Metrics) Intake(source, outcome string) { m.events.WithLabelValues(source, outcome).Inc() }

// Attempt implements delivery.Observer.
func (m *Metrics) Attempt(destination, outcome string, status int, latency time.Duration) {
	m.attempts.WithLabelValues(destination, outcome).Inc()
	m.latency.WithLabelValues(destination).Observe(latency.Seconds())
	if status == http.StatusTooManyRequests {
		m.rateLimits.WithLabelValues(destination).Inc()
	}
}

// Breaker implements delivery.Observer.
func (m *Metrics) Breaker(destination, state string) {
	v := 0.0
	switch state {
	case "open":
		v = 1
	case "half-open":
		v = 0.5
	}
	m.breaker.WithLabelValues(destination).Set(v)
}

// Settled counts a delivery's settlement (pipeline.Config.Settled): once
// per delivery in sluice_deliveries_settled_total, and a delivery counted
// as escalated that lands after a person's retry once more in
// sluice_deliveries_recovered_total.
func (m *Metrics) Settled(destination, result string, retried bool) {
	if result == "recovered" {
		m.recovered.WithLabelValues(destination).Inc()
		return
	}
	m.settled.WithLabelValues(destination, result, strconv.FormatBool(retried)).Inc()
}

// Consistency records a destination's consistency ratio.
func (m *Metrics) Consistency(destination string, ratio float64) {
	m.consistent.WithLabelValues(destination).Set(ratio)
	m.unverified.WithLabelValues(destination).Set(0)
}

// Unverifiable records that a destination's records cannot be read back:
// it gets no ratio (a ratio of 1 over 0 records would read as healthy).
func (m *Metrics) Unverifiable(destination string) {
	m.consistent.DeleteLabelValues(destination)
	m.unverified.WithLabelValues(destination).Set(1)
}

// Completeness publishes one audit completeness check.
func (m *Metrics) Completeness(events, incomplete int, at time.Time) {
	m.complete.WithLabelValues("events").Set(float64(events))
	m.complete.WithLabelValues("incomplete").Set(float64(incomplete))
	m.complete.WithLabelValues("checked_at").Set(float64(at.Unix()))
}

// SweepRepaired counts one event the settle sweep settled.
func (m *Metrics) SweepRepaired(state string) { m.swept.WithLabelValues(state).Inc() }

// Confirmed observes one confirmed delivery's end-to-end latency.
func (m *Metrics) Confirmed(flow, destination string, since time.Duration) {
	m.confirmed.WithLabelValues(flow, destination).Observe(since.Seconds())
}

// SetDestinations names the configured destinations, whose paused state,
// backlog and oldest pending delivery are read at scrape time (a
// destination with nothing pending reports 0, not nothing).
func (m *Metrics) SetDestinations(names []string) {
	m.stores.mu.Lock()
	m.stores.dests = append([]string(nil), names...)
	m.stores.cached = nil
	m.stores.mu.Unlock()
}

// StoreCommits publishes the group committer's counts (store.CommitStats),
// read at scrape time: sluice_store_commits_total,
// sluice_store_commit_units_total and sluice_store_log_syncs_total (SQLite:
// the WAL syncs behind the writer, ADR 0046; 0 where commits sync
// themselves). Units per commit falling towards 1 under load, or syncs per
// second near the disk's fsync rate, say where group commit stops paying.
func (m *Metrics) StoreCommits(stats func() store.CommitStats) {
	counter := func(name, help string, v func(store.CommitStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(stats())) })
	}
	m.Registry.MustRegister(
		counter("sluice_store_commits_total", "Group-commit transactions committed.", func(s store.CommitStats) uint64 { return s.Commits }),
		counter("sluice_store_commit_units_total", "Units of work those transactions carried (captures, claims, settles, operator actions).", func(s store.CommitStats) uint64 { return s.Units }),
		counter("sluice_store_log_syncs_total", "Syncs of the store's log made behind the writer, each covering the commits before it (SQLite WAL; 0 where each commit syncs itself).", func(s store.CommitStats) uint64 { return s.Syncs }),
	)
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

var (
	eventsDesc = prometheus.NewDesc("sluice_events", "Events by current state (rejected, held, delivering, delivered, escalated, discarded). Held, delivering and escalated are counted at each scrape (cached 5 s); the others are recounted every 5 minutes.", []string{"state"}, nil)
	delivDesc  = prometheus.NewDesc("sluice_deliveries", "Deliveries by current state; pending and waiting are the retry and dependency queues. Recounted every 5 minutes (a count of all history); a destination's current queue is sluice_destination_backlog.", []string{"state"}, nil)
	escDesc    = prometheus.NewDesc("sluice_escalations_open", "Open escalations: items waiting for a person.", nil, nil)
	recDesc    = prometheus.NewDesc("sluice_reconciliations_open", "Open reconciliation tasks (partial successes).", nil, nil)
	upDesc     = prometheus.NewDesc("sluice_store_up", "1 if the store answered the last scrape's queries.", nil, nil)
	noticeDesc = prometheus.NewDesc("sluice_notices_pending", "Platform notices (Notion page events, Airtable notifications) waiting to be fetched, by whether they escalated (failed too often; still retried).", []string{"escalated"}, nil)
	noticeAge  = prometheus.NewDesc("sluice_notices_oldest_pending_seconds", "Age of the oldest platform notice waiting to be fetched at the scrape; 0 when none.", nil, nil)
	pausedDesc = prometheus.NewDesc("sluice_destination_paused", "1 while a destination is paused (by an operator, or by Sluice on an auth or drift error).", []string{"destination"}, nil)
	backDesc   = prometheus.NewDesc("sluice_destination_backlog", "Deliveries waiting for a destination (pending, including those parked while it is paused).", []string{"destination"}, nil)
	oldestDesc = prometheus.NewDesc("sluice_destination_oldest_pending_seconds", "Age of a destination's oldest pending delivery at the scrape; 0 when none.", []string{"destination"}, nil)
)

// HistoryEvery is how often the collector recounts every event and
// delivery by state (sluice_events, sluice_deliveries). Those counts walk
// all of history (435 ms for the deliveries and 94 ms for the events on
// SQLite at a million; ADR 0035), so they are not taken on every scrape
// period. The open event states (held, delivering, escalated) are
// counted through the state index on every period; a destination's
// queue is sluice_destination_backlog, also current on every period.
const HistoryEvery = 5 * time.Minute

// openEventStates are the event states counted on every scrape period:
// few next to the history, and what an operator watches.
var openEventStates = []store.EventState{store.EventHeld, store.EventDelivering, store.EventEscalated}

// storeCollector reads queue depths from the store.
type storeCollector struct {
	ex       store.Executor
	cacheFor time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu     sync.Mutex
	dests  []string
	at     time.Time
	cached []prometheus.Metric
	// hist is the last full count by state, taken at histAt.
	hist   struct{ ev, ds map[string]int64 }
	histAt time.Time
}

// stateCounts returns the events and deliveries by state: the full count
// of at most HistoryEvery ago with the open event states counted now.
func (c *storeCollector) stateCounts(ctx context.Context) (map[string]int64, map[string]int64, error) {
	now := c.now()
	if c.hist.ev == nil || now.Sub(c.histAt) >= HistoryEvery {
		ev, err := c.ex.EventCountByState(ctx)
		if err != nil {
			return nil, nil, err
		}
		ds, err := c.ex.DeliveryCountByState(ctx)
		if err != nil {
			return nil, nil, err
		}
		c.hist.ev, c.hist.ds, c.histAt = ev, ds, now
		return ev, ds, nil
	}
	ev := maps.Clone(c.hist.ev)
	if cs, ok := c.ex.(store.ConsoleStore); ok {
		open, err := cs.EventCountInStates(ctx, openEventStates)
		if err != nil {
			return nil, nil, err
		}
		for st, n := range open {
			ev[string(st)] = n
		}
	}
	return ev, c.hist.ds, nil
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsDesc
	ch <- delivDesc
	ch <- escDesc
	ch <- recDesc
	ch <- upDesc
	ch <- pausedDesc
	ch <- backDesc
	ch <- noticeDesc
	ch <- noticeAge
	ch <- oldestDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now().Sub(c.at) > c.cacheFor || c.cached == nil {
		c.cached = c.read()
		c.at = c.now()
	}
	for _, m := range c.cached {
		ch <- m
	}
}

func (c *storeCollector) read() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []prometheus.Metric
	up := 1.0
	evs, ds, err := c.stateCounts(ctx)
	if err == nil {
		for _, st := range store.EventStates {
			out = append(out, prometheus.MustNewConstMetric(eventsDesc, prometheus.GaugeValue, float64(evs[string(st)]), string(st)))
		}
		for _, st := range store.DeliveryStates {
			out = append(out, prometheus.MustNewConstMetric(delivDesc, prometheus.GaugeValue, float64(ds[string(st)]), string(st)))
		}
	}
	escs, err3 := c.ex.EscalationList(ctx, &store.EscalationListParams{Status: store.EscalationOpen, Limit: 100000})
	if err3 == nil {
		out = append(out, prometheus.MustNewConstMetric(escDesc, prometheus.GaugeValue, float64(len(escs))))
	}
	recs, err4 := c.ex.ReconciliationList(ctx, &store.ReconciliationListParams{Status: store.ReconciliationOpen, Limit: 100000})
	if err4 == nil {
		out = append(out, prometheus.MustNewConstMetric(recDesc, prometheus.GaugeValue, float64(len(recs))))
	}
	nb, err7 := c.ex.HookNoticeBacklog(ctx)
	if err7 == nil {
		age := 0.0
		if !nb.Oldest.IsZero() && nb.Pending > 0 {
			age = max(0, time.Since(nb.Oldest).Seconds())
		}
		out = append(out, prometheus.MustNewConstMetric(noticeDesc, prometheus.GaugeValue, float64(nb.Pending-nb.Escalated), "false"),
			prometheus.MustNewConstMetric(noticeDesc, prometheus.GaugeValue, float64(nb.Escalated), "true"),
			prometheus.MustNewConstMetric(noticeAge, prometheus.GaugeValue, age))
	}
	// Exact counts (no CountLimit): the gauge is the backlog. They walk
	// the partial index of pending deliveries without reading rows.
	queues, err5 := c.ex.DeliveryAgeByDestination(ctx, &store.QueueAgeParams{Names: c.dests})
	if err5 == nil {
		now := time.Now()
		byName := map[string]*store.QueueAge{}
		for _, q := range queues {
			byName[q.Name] = q
		}
		for _, d := range c.dests {
			var count, age float64
			if q := byName[d]; q != nil {
				count = float64(q.Count)
				if !q.Oldest.IsZero() && q.Count > 0 {
					age = max(0, now.Sub(q.Oldest).Seconds())
				}
			}
			out = append(out, prometheus.MustNewConstMetric(backDesc, prometheus.GaugeValue, count, d),
				prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, d))
		}
	}
	var err6 error
	for _, d := range c.dests {
		st, err := c.ex.DestinationStateGet(ctx, d)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			err6 = err
			break
		}
		paused := 0.0
		if err == nil && st != nil && st.Paused {
			paused = 1
		}
		out = append(out, prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, paused, d))
	}
	for _, e := range []error{err, err3, err4, err5, err6, err7} {
		if e != nil {
			up = 0
			c.log.Error("metrics: read store", "err", e)
			break
		}
	}
	return append(out, prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up))
}
