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
