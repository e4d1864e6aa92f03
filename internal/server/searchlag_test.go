package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/server"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

// searchLagConfig polls HubSpot contacts with the default overlap window
// (1 minute) and writes each change to a webhook sink.
const searchLagConfig = `
listen: 127.0.0.1:0
store: %[1]s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
sources:
  contacts:
    poll: {destination: crm, options: {properties: [firstname]}, interval: 1h}
entities:
  contact:
    key: email
flows:
  contacts_to_hook:
    source: contacts
    entity: contact
    normalize:
      fields:
        email: {from: fields.email, type: email}
        name: {from: fields.firstname}
    routes:
      hook: {destination: hook}
destinations:
  crm:
    type: hubspot
    options: {base_url: "%[2]s", token: %[3]s, object: contacts}
    allow_private_network: true
  hook:
    type: http
    options: {url: "%[4]s"}
    allow_private_network: true
delivery:
  poll_interval: 20ms
`

// TestPollHubSpotSearchLagLosesNothing: HubSpot's search shows a write a
// while after it is applied, and not in modification order (the simulator's
// SearchLag plus a per-write jitter). Polls running all along, while the
// index lags, capture every contact exactly once, because the default
// overlap window (1 minute) re-reads far more than the lag.
func TestPollHubSpotSearchLagLosesNothing(t *testing.T) {
	hs, err := hubspotsim.New(hubspotsim.Options{Tokens: []string{twoWayHubSpotToken}, Seed: 5, SearchRate: -1,
		SearchLag: 150 * time.Millisecond, SearchLagJitter: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hsURL := simtest.Start(t, hs).URL
	sk := newSink()
	hook := httptest.NewServer(sk)
	t.Cleanup(hook.Close)
	raw := fmt.Sprintf(searchLagConfig, filepath.Join(t.TempDir(), "sluice.db"), hsURL, twoWayHubSpotToken, hook.URL)
	c := parseConfig(t, raw)
	if got := c.Sources["contacts"].Poll.PollDefaults().Overlap.D(); got < time.Minute {
		t.Fatalf("default overlap %s, want at least a minute (HubSpot's search lag)", got)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	tw := &twoWay{t: t, adminTo: "http://" + ln.Addr().String()}
	poll := func() {
		t.Helper()
		if _, err := srv.PollNow(context.Background(), "contacts"); err != nil {
			t.Fatal(err)
		}
	}
	const n = 40
	for i := range n {
		tw.call("POST", hsURL+"/crm/v3/objects/contacts", twoWayHubSpotToken, map[string]any{"properties": map[string]any{
			"email": fmt.Sprintf("lag%d@x.co", i), "firstname": fmt.Sprintf("Lag%d", i)}})
		if i%4 == 3 {
			poll() // while earlier writes are still invisible to search
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let the index catch up, then poll once more.
	time.Sleep(900 * time.Millisecond)
	poll()
	tw.waitIdle()
	for i := range n {
		if got := sk.count(fmt.Sprintf("lag%d@x.co", i)); got != 1 {
			t.Fatalf("lag%d@x.co delivered %d times, want exactly 1", i, got)
		}
	}
	if got := tw.events(); got != n {
		t.Fatalf("events = %d, want %d", got, n)
	}
}
