// Package metrics owns what Sluice exports to Prometheus on /metrics:
// counters and latency histograms fed by the intake and the delivery engine
// as things happen, and queue depths read from the store at scrape time (so
// several instances report the same truth). Labels carry names from the
// config (sources, destinations, outcomes), never payload values or secrets.
package metrics

import (
	"context"
	"log/slog"
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
	settled    *prometheus.CounterVec
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
	m.settled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_deliveries_settled_total",
		Help: "Deliveries that reached their end, by destination, result (succeeded, escalated) and whether they needed a retry. Retry success rate = succeeded{retried=\"true\"} / sum{retried=\"true\"}.",
	}, []string{"destination", "result", "retried"})
	m.Registry.MustRegister(m.events, m.attempts, m.latency, m.rateLimits, m.breaker, m.consistent, m.settled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{ex: ex, cacheFor: cacheFor, log: log})
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

// Settled implements delivery.Observer.
func (m *Metrics) Settled(destination string, attempts int, ok bool) {
	result := "escalated"
	if ok {
		result = "succeeded"
	}
	m.settled.WithLabelValues(destination, result, strconv.FormatBool(attempts > 1)).Inc()
}

// Consistency records a destination's consistency ratio.
func (m *Metrics) Consistency(destination string, ratio float64) {
	m.consistent.WithLabelValues(destination).Set(ratio)
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

var (
	eventsDesc = prometheus.NewDesc("sluice_events", "Events by current state (rejected, held, delivering, delivered, escalated, discarded).", []string{"state"}, nil)
	delivDesc  = prometheus.NewDesc("sluice_deliveries", "Deliveries by current state; pending and waiting are the retry and dependency queues.", []string{"state"}, nil)
	escDesc    = prometheus.NewDesc("sluice_escalations_open", "Open escalations: items waiting for a person.", nil, nil)
	recDesc    = prometheus.NewDesc("sluice_reconciliations_open", "Open reconciliation tasks (partial successes).", nil, nil)
	upDesc     = prometheus.NewDesc("sluice_store_up", "1 if the store answered the last scrape's queries.", nil, nil)
)

// storeCollector reads queue depths from the store.
type storeCollector struct {
	ex       store.Executor
	cacheFor time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	at     time.Time
	cached []prometheus.Metric
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsDesc
	ch <- delivDesc
	ch <- escDesc
	ch <- recDesc
	ch <- upDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > c.cacheFor || c.cached == nil {
		c.cached = c.read()
		c.at = time.Now()
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
	evs, err := c.ex.EventCountByState(ctx)
	if err == nil {
		for _, st := range []string{store.EventRejected, store.EventHeld, store.EventDelivering, store.EventDelivered, store.EventEscalated, store.EventDiscarded} {
			out = append(out, prometheus.MustNewConstMetric(eventsDesc, prometheus.GaugeValue, float64(evs[st]), st))
		}
	}
	ds, err2 := c.ex.DeliveryCountByState(ctx)
	if err2 == nil {
		for _, st := range []string{store.DeliveryWaiting, store.DeliveryPending, store.DeliveryInflight, store.DeliverySucceeded, store.DeliveryEscalated, store.DeliveryCancelled} {
			out = append(out, prometheus.MustNewConstMetric(delivDesc, prometheus.GaugeValue, float64(ds[st]), st))
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
	for _, e := range []error{err, err2, err3, err4} {
		if e != nil {
			up = 0
			c.log.Error("metrics: read store", "err", e)
			break
		}
	}
	return append(out, prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up))
}
