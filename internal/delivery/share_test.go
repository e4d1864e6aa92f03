package delivery_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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

// sharer is a connector with its own limiter that records its share.
type sharer struct {
	n atomic.Int64
}

func (s *sharer) Deliver(context.Context, connector.Delivery) (connector.Result, error) {
	return connector.Result{}, nil
}
func (s *sharer) Constraints() connector.Constraints {
	return connector.Constraints{RatePerSecond: 30, Burst: 6}
}
func (s *sharer) Close(context.Context) error { return nil }
func (s *sharer) ShareRate(n int)             { s.n.Store(int64(n)) }

type unlimited struct{ sharer }

func (*unlimited) Constraints() connector.Constraints { return connector.Constraints{} }

func TestShareRate(t *testing.T) {
	t.Parallel()
	g := pipeline.New(pipeline.Config{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, u := &sharer{}, &unlimited{}
	eng := delivery.New(g, storeOf(g), "test", time.Minute, time.Second, log, []delivery.Destination{{Name: "s", Conn: s}, {Name: "u", Conn: u}})
	if got := eng.Rate("s"); got != 30 {
		t.Fatalf("rate %v, want 30", got)
	}
	eng.ShareRate(3)
	if got, n := eng.Rate("s"), s.n.Load(); got != 10 || n != 3 {
		t.Fatalf("shared by 3: engine rate %v, connector told %d; want 10 and 3", got, n)
	}
	if got, n := eng.Rate("u"), u.n.Load(); got != 0 || n != 3 {
		t.Fatalf("unlimited destination: rate %v, connector told %d; want unlimited and 3", got, n)
	}
	eng.ShareRate(1)
	if got, n := eng.Rate("s"), s.n.Load(); got != 30 || n != 1 {
		t.Fatalf("alone again: rate %v, told %d", got, n)
	}
}

// TestShareRatePacesDeliveries checks the divided bucket on the wire: a
// destination allowed 40 requests per second, shared by 4 instances,
// takes about a second for 10 deliveries from this one.
func TestShareRatePacesDeliveries(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer sink.Close()
	g, eng, run := leadRig(t, sink.URL, `rate_per_second: 40, burst: 4`)
	eng.ShareRate(4)
	stop := run()
	defer stop()
	start := time.Now()
	var ids []string
	for i := 0; i < 11; i++ {
		ids = append(ids, capture(t, g, fmt.Sprintf("p%d@x", i)))
	}
	eng.Kick()
	for _, id := range ids {
		waitState(t, g, id, store.EventDelivered)
	}
	// 10/s with a burst of 1: the 11th request leaves a second after the
	// first at the earliest.
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("11 deliveries at 40/s shared by 4 took %v, want about 1s", el)
	}
}

// TestMaintenanceOnlyWhileLeading: with Engine.Lead set, expired leases are
// recovered only once the leadership runs the maintenance loop.
func TestMaintenanceOnlyWhileLeading(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer sink.Close()
	g, eng, run := leadRig(t, sink.URL, `concurrency: 2`)
	id := capture(t, g)
	// A worker of a dead instance claimed it; its lease has run out.
	ds, err := g.ClaimDeliveries(context.Background(), "d", "dead:1", -time.Second, 10)
	if err == nil && len(ds) != 1 {
		err = fmt.Errorf("claimed %d", len(ds))
	}
	if err != nil {
		t.Fatal(err)
	}
	leading := make(chan struct{})
	var calls atomic.Int64
	eng.Lead = func(ctx context.Context, fn func(context.Context)) {
		calls.Add(1)
		select {
		case <-leading:
			fn(ctx)
		case <-ctx.Done():
		}
	}
	stop := run()
	defer stop()
	time.Sleep(2500 * time.Millisecond) // two and a half maintenance periods
	if ev, _ := storeOf(g).EventGetByID(context.Background(), id); ev.State != store.EventDelivering || hits.Load() != 0 {
		t.Fatalf("a follower recovered the lease: event %s, %d requests", ev.State, hits.Load())
	}
	close(leading)
	waitState(t, g, id, store.EventDelivered)
	if calls.Load() != 1 || hits.Load() != 1 {
		t.Fatalf("lead called %d times, %d requests; want 1 and 1", calls.Load(), hits.Load())
	}
}

const leadCfg = `
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
    routes:
      out: {destination: d}
destinations:
  d:
    type: http
    allow_private_network: true
    options: {url: "%s/in", %s}
    retry_base: 5ms
    retry_max: 20ms
`

// leadRig builds a gate and an engine; run starts the engine and returns
// its stop.
func leadRig(t *testing.T, sinkURL, opts string) (*pipeline.Gate, *delivery.Engine, func() func()) {
	t.Helper()
	c, err := config.Parse(fmt.Appendf(nil, leadCfg, sinkURL, opts), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	drv, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	com := store.NewCommitter(drv, 64)
	t.Cleanup(func() { com.Close(); drv.Close() })
	g := newGate(plan, drv, com)
	dc := c.Destinations["d"]
	conn, err := connector.New(dc.Type, connector.Params{Name: "d", Options: dc.Options, AllowPrivateNetwork: dc.AllowPrivateNetwork})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := delivery.New(g, storeOf(g), "test", 5*time.Second, 10*time.Millisecond, log, []delivery.Destination{{Name: "d", Conn: conn, Conf: dc}})
	return g, eng, func() func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { eng.Run(ctx); close(done) }()
		return func() { cancel(); <-done }
	}
}

func capture(t *testing.T, g *pipeline.Gate, email ...string) string {
	t.Helper()
	e := "lead@x"
	if len(email) > 0 {
		e = email[0]
	}
	res, err := g.Capture(context.Background(), pipeline.CaptureInput{Source: "forms", Body: []byte("{}"), Payload: map[string]any{"email": e}})
	if err != nil {
		t.Fatal(err)
	}
	return res.EventID
}

func waitState(t *testing.T, g *pipeline.Gate, id string, state store.EventState) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ev, err := storeOf(g).EventGetByID(context.Background(), id)
		if err == nil && ev.State == state {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ev, _ := storeOf(g).EventGetByID(context.Background(), id)
	t.Fatalf("event %s is %s, want %s", id, ev.State, state)
}
