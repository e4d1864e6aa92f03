package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/delivery"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

const breakerCfg = `
sources: {forms: {allow_unsigned: true}}
entities:
  lead: {key: email}
flows:
  leads:
    source: forms
    entity: lead
    normalize:
      fields:
        email: {from: email}
        v: {from: v, type: integer}
    routes:
      crm: {destination: primary, fallback: spool}
destinations:
  primary:
    type: http
    allow_private_network: true
    options: {url: "%s/in", concurrency: 4}
    max_attempts: 20
    retry_base: 5ms
    retry_max: 20ms
    breaker: {failures: 3, open_for: 300ms}
  spool:
    type: http
    allow_private_network: true
    options: {url: "%s/in"}
`

// recorder is a destination that records writes per key (deduped by
// Idempotency-Key) and can be taken down.
type recorder struct {
	mu   sync.Mutex
	down atomic.Bool
	seen map[string]bool
	keys map[string][]int
	hits atomic.Int64
}

func newRecorder() *recorder { return &recorder{seen: map[string]bool{}, keys: map[string][]int{}} }

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.hits.Add(1)
	if r.down.Load() {
		w.WriteHeader(503)
		return
	}
	var p struct {
		Email string `json:"email"`
		V     int    `json:"v"`
	}
	json.NewDecoder(req.Body).Decode(&p)
	r.mu.Lock()
	if idem := req.Header.Get("Idempotency-Key"); !r.seen[idem] {
		r.seen[idem] = true
		r.keys[p.Email] = append(r.keys[p.Email], p.V)
	}
	r.mu.Unlock()
	fmt.Fprint(w, `{"id":"x"}`)
}

func (r *recorder) snapshot() map[string][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]int{}
	for k, v := range r.keys {
		out[k] = append([]int(nil), v...)
	}
	return out
}

// TestDestinationOutageBreakerFallbackRecovery: the primary goes down; the
// breaker opens after three failures, the spool receives a copy of every
// record, nothing spends its retry budget while the circuit is open, and
// when the primary recovers it receives every record exactly once, in key
// order.
func TestDestinationOutageBreakerFallbackRecovery(t *testing.T) {
	primary, spool := newRecorder(), newRecorder()
	ps, ss := httptest.NewServer(primary), httptest.NewServer(spool)
	defer ps.Close()
	defer ss.Close()
	primary.down.Store(true)

	c, err := config.Parse(fmt.Appendf(nil, breakerCfg, ps.URL, ss.URL), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	drv, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	com := store.NewCommitter(drv, 64)
	g := newGate(plan, drv, com)
	var dests []delivery.Destination
	for _, n := range []string{"primary", "spool"} {
		dc := c.Destinations[n]
		conn, err := connector.New(dc.Type, connector.Params{Name: n, Options: dc.Options, AllowPrivateNetwork: dc.AllowPrivateNetwork})
		if err != nil {
			t.Fatal(err)
		}
		dests = append(dests, delivery.Destination{Name: n, Conn: conn, Conf: dc})
	}
	eng := delivery.New(g, storeOf(g), "t", 5*time.Second, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), dests)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; com.Close(); drv.Close() }()

	var ids []string
	for v := 0; v < 6; v++ {
		for k := 0; k < 5; k++ {
			res, err := g.Capture(context.Background(), pipeline.CaptureInput{Source: "forms", Body: []byte("{}"), Payload: map[string]any{"email": fmt.Sprintf("k%d@x.co", k), "v": float64(v)}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.EventID)
		}
	}
	eng.Kick()
	// The spool receives all 30 records while the primary is down.
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := 0
		for _, vs := range spool.snapshot() {
			n += len(vs)
		}
		if n == 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool has %d of 30 records", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	hitsWhileDown := primary.hits.Load()
	time.Sleep(400 * time.Millisecond)
	// With the circuit open, the primary sees at most a probe per open period.
	if extra := primary.hits.Load() - hitsWhileDown; extra > 3 {
		t.Fatalf("primary got %d requests while its circuit was open", extra)
	}
	ex := drv.Executor()
	for _, id := range ids {
		ds, _ := ex.DeliveryListByEvent(context.Background(), id)
		for _, d := range ds {
			if d.FallbackFor == "" && d.Attempts > 3 {
				t.Fatalf("delivery %s spent %d attempts while the circuit was open", d.ID, d.Attempts)
			}
		}
	}
	primary.down.Store(false)
	for _, id := range ids {
		deadline := time.Now().Add(20 * time.Second)
		for {
			ev, _ := ex.EventGetByID(context.Background(), id)
			if ev.State == store.EventDelivered {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %s is %s after recovery", id, ev.State)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	got := primary.snapshot()
	for k := 0; k < 5; k++ {
		vs := got[fmt.Sprintf("k%d@x.co", k)]
		if len(vs) != 6 || !sort.IntsAreSorted(vs) {
			t.Fatalf("primary got %v for key k%d, want 0..5 once each in order", vs, k)
		}
	}
	for k, vs := range spool.snapshot() {
		if len(vs) != 6 {
			t.Fatalf("spool got %v for %s, want each record once", vs, k)
		}
	}
}
