package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// periods are the overview's windows and their chart bucket sizes.
var periods = map[string]struct {
	span, bucket time.Duration
	label        string
}{
	"hour": {time.Hour, time.Minute, "last hour"},
	"day":  {24 * time.Hour, 30 * time.Minute, "last day"},
	"week": {7 * 24 * time.Hour, 6 * time.Hour, "last week"},
}

// measures are the five numbers Sluice exists to keep healthy, over a set
// of rollups.
type measures struct {
	Name         string
	Settled      int64
	Failed       int64
	Retried      int64
	RetriedOK    int64
	Checked      int64
	Inconsistent int64
	Complete     int64
	P50, P95     string
}

func pct(n, d int64) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(d))
}

func (m measures) FailureRate() string  { return pct(m.Failed, m.Settled) }
func (m measures) RetrySuccess() string { return pct(m.RetriedOK, m.Retried) }
func (m measures) Consistency() string {
	if m.Checked == 0 {
		return "unverified"
	}
	return pct(m.Checked-m.Inconsistent, m.Checked)
}
func (m measures) Completeness() string { return pct(m.Complete, m.Settled) }

func measure(name string, r *store.Rollup) measures {
	return measures{Name: name, Settled: r.Settled, Failed: r.Failed, Retried: r.Retried, RetriedOK: r.RetriedOK,
		Checked: r.Checked, Inconsistent: r.Inconsistent, Complete: r.Complete,
		P50: quantile(r.Latency, 0.50), P95: quantile(r.Latency, 0.95)}
}

// quantile reads a quantile off the latency histogram: the upper bound of
// the bucket it falls in.
func quantile(h []int64, q float64) string {
	var total int64
	for _, v := range h {
		total += v
	}
	if total == 0 {
		return "–"
	}
	want := int64(q*float64(total) + 0.5)
	if want < 1 {
		want = 1
	}
	var run int64
	for i, v := range h {
		run += v
		if run >= want {
			if i < len(store.LatencyBounds) {
				return "≤ " + (time.Duration(store.LatencyBounds[i]) * time.Millisecond).String()
			}
			return "> " + (time.Duration(store.LatencyBounds[len(store.LatencyBounds)-1]) * time.Millisecond).String()
		}
	}
	return "–"
}

// openStates are the states an event waits in for something to happen; the
// overview counts them.
var openStates = []store.EventState{store.EventHeld, store.EventDelivering, store.EventEscalated}

// queueCountLimit is where the pages stop counting a destination's
// waiting and pending deliveries and show "≥ 10000": past it the number
// tells an operator nothing more, and counting further on every live
// refresh would cost in proportion to the backlog (ADR 0034). A variable
// so that a test can reach it with a few deliveries.
var queueCountLimit int64 = 10000

// queueStatsParams reads the configured destinations: a delivery to a
// destination no longer in the config is not worked on and not shown.
func (k *Console) queueStatsParams() *store.QueueStatsParams {
	return &store.QueueStatsParams{Destinations: k.destNames(), CountLimit: queueCountLimit}
}

type queueRow struct {
	Destination string
	Pending     int64
	AtLeast     bool // Pending stopped at queueCountLimit
	Inflight    int64
	OldestAge   string
	Paused      bool
}

type overviewData struct {
	Period  string
	Label   string
	Periods []string
	Total   measures
	Rows    []measures
	Chart   template.HTML
	Queues  []queueRow
	States  map[store.EventState]int64
}

func (k *Console) overviewData(ctx context.Context, period string) (*overviewData, error) {
	p, ok := periods[period]
	if !ok {
		period, p = "hour", periods["hour"]
	}
	now := k.c.Now()
	from := now.Add(-p.span).Truncate(p.bucket)
	// Summed per chart bucket in the database: a week is 28 rows per flow
	// and destination, not 10,080.
	rs, err := k.c.Read.RollupList(ctx, &store.RollupListParams{From: from, To: now.Add(time.Minute), Bucket: p.bucket})
	if err != nil {
		return nil, err
	}
	total := &store.Rollup{}
	by := map[string]*store.Rollup{}
	n := int(now.Sub(from)/p.bucket) + 1
	ok1, bad := make([]int64, n), make([]int64, n)
	for _, r := range rs {
		total.Add(r)
		key := r.Flow + " → " + r.Destination
		if r.Flow == "" {
			key = "(consistency) → " + r.Destination
		}
		if by[key] == nil {
			by[key] = &store.Rollup{}
		}
		by[key].Add(r)
		i := int(r.Minute.Sub(from) / p.bucket)
		if i >= 0 && i < n {
			ok1[i] += r.Settled - r.Failed
			bad[i] += r.Failed
		}
	}
	d := &overviewData{Period: period, Label: p.label, Periods: []string{"hour", "day", "week"}, Total: measure("All flows and destinations", total)}
	keys := make([]string, 0, len(by))
	for key := range by {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		d.Rows = append(d.Rows, measure(key, by[key]))
	}
	d.Chart = barChart(ok1, bad, from, p.bucket, p.label)
	qs, err := k.c.Read.QueueStats(ctx, k.queueStatsParams())
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		row := queueRow{Destination: q.Destination, Pending: q.Pending, AtLeast: q.Capped, Inflight: q.Inflight}
		if !q.Oldest.IsZero() {
			row.OldestAge = ago(now, q.Oldest)
		}
		if st, err := k.c.Read.DestinationStateGet(ctx, q.Destination); err == nil {
			row.Paused = st.Paused
		}
		d.Queues = append(d.Queues, row)
	}
	// The open states only: counting a million delivered events on every
	// render is what made this page slow; the settled ones are in the
	// measures above.
	d.States, err = k.c.Read.EventCountInStates(ctx, openStates)
	return d, err
}

// barChart draws settled deliveries per bucket as stacked bars (succeeded,
// failed) in SVG, with a title and description for screen readers.
func barChart(ok, bad []int64, from time.Time, bucket time.Duration, label string) template.HTML {
	const w, h, pad = 720, 160, 24
	var max int64 = 1
	var sumOK, sumBad int64
	for i := range ok {
		if ok[i]+bad[i] > max {
			max = ok[i] + bad[i]
		}
		sumOK += ok[i]
		sumBad += bad[i]
	}
	bw := float64(w-2*pad) / float64(len(ok))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="chart-title">Deliveries settled per %s, %s</title>`, bucket, template.HTMLEscapeString(label))
	fmt.Fprintf(&b, `<desc id="chart-desc">%d succeeded and %d failed in total; tallest bar %d.</desc>`, sumOK, sumBad, max)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, pad, h-pad, w-pad, h-pad)
	for i := range ok {
		x := float64(pad) + float64(i)*bw
		hOK := float64(h-2*pad) * float64(ok[i]) / float64(max)
		hBad := float64(h-2*pad) * float64(bad[i]) / float64(max)
		y := float64(h-pad) - hOK
		if ok[i] > 0 {
			fmt.Fprintf(&b, `<rect class="ok" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d succeeded</title></rect>`, x, y, bw*0.8, hOK, from.Add(time.Duration(i)*bucket).Format("Jan 2 15:04"), ok[i])
		}
		if bad[i] > 0 {
			fmt.Fprintf(&b, `<rect class="bad" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d failed</title></rect>`, x, y-hBad, bw*0.8, hBad, from.Add(time.Duration(i)*bucket).Format("Jan 2 15:04"), bad[i])
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="lbl">%s</text><text x="%d" y="%d" class="lbl" text-anchor="end">now</text>`, pad, h-6, from.Format("Jan 2 15:04"), w-pad, h-6)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="lbl">%d</text>`, 2, pad, max)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (k *Console) overview(w http.ResponseWriter, r *http.Request, u *user) error {
	d, err := k.overviewData(r.Context(), r.URL.Query().Get("period"))
	if err != nil {
		return err
	}
	k.render(w, r, http.StatusOK, "overview", u, d)
	return nil
}

// overviewLive is the overview's live part (measures and queues) as an
// HTML fragment, polled by console.js.
func (k *Console) overviewLive(w http.ResponseWriter, r *http.Request, u *user) error {
	d, err := k.overviewData(r.Context(), r.URL.Query().Get("period"))
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := k.pages["overview"].ExecuteTemplate(&b, "live", view{User: u, Data: d, Now: k.c.Now()}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
	return nil
}
