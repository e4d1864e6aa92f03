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

// TestSendDeadlineUsesTheGateClock: the lease's end is written with the
// gate's clock, so the send deadline derived from it must be compared
// with that clock, not the wall clock. Under a gate clock a day behind
// the wall clock every lease looked expired to the engine: each chunk went
// back unsent and no event was ever delivered.
func TestSendDeadlineUsesTheGateClock(t *testing.T) {
	for _, skew := range []time.Duration{-24 * time.Hour, 24 * time.Hour} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			var hits atomic.Int64
			sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
			defer sink.Close()
			c, err := config.Parse(fmt.Appendf(nil, cfgTmpl, sink.URL), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			plan, err := pipeline.Compile(c)
			if err != nil {
				t.Fatal(err)
			}
			drv, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer drv.Close()
			com := store.NewCommitter(drv, 64)
			defer com.Close()
			g := pipeline.New(pipeline.Config{Plan: plan, Driver: drv, Committer: com,
				Clock: func() time.Time { return time.Now().UTC().Add(skew) }})
			dc := c.Destinations["d"]
			conn, err := connector.New(dc.Type, connector.Params{Name: "d", Options: dc.Options, AllowPrivateNetwork: dc.AllowPrivateNetwork})
			if err != nil {
				t.Fatal(err)
			}
			eng := delivery.New(g, drv.Executor(), "test", 5*time.Second, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)),
				[]delivery.Destination{{Name: "d", Conn: conn, Conf: dc}})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { eng.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			res, err := g.Capture(context.Background(), pipeline.CaptureInput{Source: "forms", Body: []byte("{}"), Payload: map[string]any{"email": "a@b.co", "v": float64(1)}})
			if err != nil {
				t.Fatal(err)
			}
			eng.Kick()
			var ev *store.Event
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if ev, err = drv.Executor().EventGetByID(context.Background(), res.EventID); err == nil && ev.State == store.EventDelivered {
					break
				}
			}
			if err != nil || ev.State != store.EventDelivered || hits.Load() != 1 {
				t.Fatalf("event %s after 15s (%v), %d requests: want delivered with one request", ev.State, err, hits.Load())
			}
		})
	}
}
