package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/delivery"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// holdFirstSettle is the gate with its first DeliverySucceeded held until
// release is closed: a commit that takes its time.
type holdFirstSettle struct {
	*pipeline.Gate
	once    sync.Once
	release chan struct{}
}

func (h *holdFirstSettle) DeliverySucceeded(ctx context.Context, d *store.Delivery, externalID string, at pipeline.Attempt) error {
	first := false
	h.once.Do(func() { first = true })
	if first {
		<-h.release
	}
	return h.Gate.DeliverySucceeded(ctx, d, externalID, at)
}

// TestSlotFreeWhenTheDestinationAnswers: a request's concurrency slot is
// released when the destination answers, not once its outcome is
// committed. With concurrency 1 and the first settle held up, the second
// event's request still goes out; before, the destination sat idle for
// every settle's commit (docs/adr/0033-sqlite-capture-and-settle-statements.md).
func TestSlotFreeWhenTheDestinationAnswers(t *testing.T) {
	got := make(chan string, 10)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- fmt.Sprint(body["email"])
	}))
	defer sink.Close()
	c, err := config.Parse(fmt.Appendf(nil, strings.Replace(cfgTmpl, "concurrency: 8", "concurrency: 1", 1), sink.URL), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	drv, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	com := store.NewCommitter(drv, 64)
	g := newGate(plan, drv, com)
	h := &holdFirstSettle{Gate: g, release: make(chan struct{})}
	dc := c.Destinations["d"]
	conn, err := connector.New(dc.Type, connector.Params{Name: "d", Options: dc.Options, AllowPrivateNetwork: dc.AllowPrivateNetwork})
	if err != nil {
		t.Fatal(err)
	}
	eng := delivery.New(h, storeOf(g), "test", 5*time.Second, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), []delivery.Destination{{Name: "d", Conn: conn, Conf: dc}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(h.release) }) }
	defer func() { release(); cancel(); <-done; com.Close(); drv.Close() }()

	r := &rig{gate: g, eng: eng}
	first := r.send(t, "a@example.com", 1)
	if e := <-got; e != "a@example.com" {
		t.Fatalf("first request for %s", e)
	}
	r.send(t, "b@example.com", 2)
	select {
	case e := <-got:
		if e != "b@example.com" {
			t.Fatalf("second request for %s", e)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the second request waited for the first settle's commit: the slot was held through it")
	}
	release()
	r.wait(t, first, store.EventDelivered)
}

// countClaims is the gate counting the claims that found work.
type countClaims struct {
	*pipeline.Gate
	mu     sync.Mutex
	claims int
}

func (c *countClaims) ClaimDeliveries(ctx context.Context, destination, owner string, lease time.Duration, limit int) ([]*store.Delivery, error) {
	ds, err := c.Gate.ClaimDeliveries(ctx, destination, owner, lease, limit)
	if len(ds) > 0 {
		c.mu.Lock()
		c.claims++
		c.mu.Unlock()
	}
	return ds, err
}

// TestClaimsBatchedWhileABacklogDrains: with requests in flight and a
// backlog, a worker claims once a quarter of its limit is free, so 320
// queued deliveries at concurrency 32 take at most 38 claims (each a unit
// of the single commit loop), where claiming on every answer took more.
func TestClaimsBatchedWhileABacklogDrains(t *testing.T) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answers spread out (20-30 ms each), so they come back one by
		// one rather than in waves that batch claims by themselves.
		time.Sleep(20*time.Millisecond + time.Duration(rand.IntN(10_000))*time.Microsecond)
	}))
	defer sink.Close()
	c, err := config.Parse(fmt.Appendf(nil, strings.Replace(cfgTmpl, "concurrency: 8", "concurrency: 32", 1), sink.URL), func(string) (string, bool) { return "", false })
	if err != nil {
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
	const n = 320
	ids := make([]string, n)
	r := &rig{gate: g}
	for i := range n {
		res, err := g.Capture(context.Background(), pipeline.CaptureInput{Source: "forms", Body: []byte("{}"), Payload: map[string]any{"email": fmt.Sprintf("k%d@example.com", i), "v": float64(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.EventID
	}
	cc := &countClaims{Gate: g}
	dc := c.Destinations["d"]
	conn, err := connector.New(dc.Type, connector.Params{Name: "d", Options: dc.Options, AllowPrivateNetwork: dc.AllowPrivateNetwork})
	if err != nil {
		t.Fatal(err)
	}
	eng := delivery.New(cc, storeOf(g), "test", 5*time.Second, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), []delivery.Destination{{Name: "d", Conn: conn, Conf: dc}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; com.Close(); drv.Close() }()
	for _, id := range ids {
		r.wait(t, id, store.EventDelivered)
	}
	cc.mu.Lock()
	claims := cc.claims
	cc.mu.Unlock()
	// 32 at first, then at least 8 per claim while the backlog lasts, and
	// one short claim at the tail: at most 1 + 288/8 + 1 = 38. Claiming
	// on every answer took 53-69 here (quiet machine, 34-36 batched).
	if claims > 40 {
		t.Errorf("%d claims for %d deliveries at concurrency 32: not batched", claims, n)
	}
	t.Logf("%d claims for %d deliveries", claims, n)
}
