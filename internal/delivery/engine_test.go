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

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	_ "github.com/sluicehq/sluice/internal/connector/httpdest"
	"github.com/sluicehq/sluice/internal/delivery"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

const cfgTmpl = `
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
      out: {destination: d}
destinations:
  d:
    type: http
    allow_private_network: true
    options: {url: "%s/in", concurrency: 8}
    max_attempts: 5
    retry_base: 5ms
    retry_max: 20ms
`

type rig struct {
	gate *pipeline.Gate
	eng  *delivery.Engine
	stop func()
}

func newRig(t *testing.T, sinkURL string) *rig {
	t.Helper()
	return newRigWith(t, fmt.Sprintf(cfgTmpl, sinkURL), 5*time.Second)
}

// newRigWith runs the engine on cfg (one destination, d) with the given
// lease.
func newRigWith(t *testing.T, cfg string, lease time.Duration) *rig {
	t.Helper()
	return newRigPoll(t, cfg, lease, 10*time.Millisecond)
}

// newRigPoll is newRigWith with the engine's idle poll interval.
func newRigPoll(t *testing.T, cfg string, lease, poll time.Duration) *rig {
	t.Helper()
	c, err := config.Parse([]byte(cfg), func(string) (string, bool) { return "", false })
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
	g := newGate(plan, drv, com)
	dc := c.Destinations["d"]
	conn, err := connector.New(dc.Type, connector.Params{Name: "d", Options: dc.Options, AllowPrivateNetwork: dc.AllowPrivateNetwork})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := delivery.New(g, storeOf(g), "test", lease, poll, log, []delivery.Destination{{Name: "d", Conn: conn, Conf: dc}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	r := &rig{gate: g, eng: eng, stop: func() { cancel(); <-done; com.Close(); drv.Close() }}
	t.Cleanup(r.stop)
	return r
}

func (r *rig) send(t *testing.T, email string, v int) string {
	t.Helper()
	res, err := r.gate.Capture(context.Background(), pipeline.CaptureInput{Source: "forms", Body: []byte("{}"), Payload: map[string]any{"email": email, "v": float64(v)}})
	if err != nil {
		t.Fatal(err)
	}
	r.eng.Kick()
	return res.EventID
}

func (r *rig) wait(t *testing.T, id string, state store.EventState) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ev, err := storeOf(r.gate).EventGetByID(context.Background(), id)
		if err == nil && ev.State == state {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ev, _ := storeOf(r.gate).EventGetByID(context.Background(), id)
	t.Fatalf("event %s is %s, want %s", id, ev.State, state)
}

// TestPerKeyOrder sends many updates of a few keys to a slow, concurrent
// sink: each key's writes must arrive one at a time, in order.
func TestPerKeyOrder(t *testing.T) {
	var mu sync.Mutex
	inflight := map[string]bool{}
	seen := map[string][]int{}
	var violations []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Email string `json:"email"`
			V     int    `json:"v"`
		}
		json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		if inflight[p.Email] {
			violations = append(violations, "two in flight for "+p.Email)
		}
		inflight[p.Email] = true
		mu.Unlock()
		time.Sleep(3 * time.Millisecond)
		mu.Lock()
		inflight[p.Email] = false
		seen[p.Email] = append(seen[p.Email], p.V)
		mu.Unlock()
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer sink.Close()
	r := newRig(t, sink.URL)
	var last string
	for v := 0; v < 20; v++ {
		for k := 0; k < 4; k++ {
			last = r.send(t, fmt.Sprintf("k%d@x.co", k), v)
		}
	}
	r.wait(t, last, store.EventDelivered)
	mu.Lock()
	defer mu.Unlock()
	if len(violations) > 0 {
		t.Fatal(violations)
	}
	for k, vs := range seen {
		for i, v := range vs {
			if v != i {
				t.Fatalf("key %s got writes in order %v", k, vs)
			}
		}
	}
}

// TestAuthErrorPausesAndResumeDrains: a 401 pauses the destination without
// spending the delivery's attempts; after resume it is delivered.
func TestAuthErrorPausesAndResumeDrains(t *testing.T) {
	var mu sync.Mutex
	authOK := false
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := authOK
		mu.Unlock()
		if !ok {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"token revoked"}`)
			return
		}
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer sink.Close()
	r := newRig(t, sink.URL)
	id := r.send(t, "a@x.co", 1)
	ex := storeOf(r.gate)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := ex.DestinationStateGet(context.Background(), "d")
		if st.Paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("destination not paused after 401")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	ds, _ := ex.DeliveryListByEvent(context.Background(), id)
	if ds[0].State != store.DeliveryPending || ds[0].Attempts != 0 {
		t.Fatalf("paused delivery: %+v (want pending, attempts not spent)", ds[0])
	}
	mu.Lock()
	authOK = true
	mu.Unlock()
	if _, err := r.gate.DestinationSetPaused(context.Background(), "d", false, "admin:test", "fixed"); err != nil {
		t.Fatal(err)
	}
	r.eng.Kick()
	r.wait(t, id, store.EventDelivered)
}

// TestRetryAfterIsHonoured: after a 429 with Retry-After: 1, no request
// reaches the destination for a second.
func TestRetryAfterIsHonoured(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer sink.Close()
	r := newRig(t, sink.URL)
	id := r.send(t, "a@x.co", 1)
	r.wait(t, id, store.EventDelivered)
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 {
		t.Fatalf("%d requests, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < 950*time.Millisecond {
		t.Fatalf("retried after %v, before Retry-After", gap)
	}
}

func TestBackoff(t *testing.T) {
	for attempt := 1; attempt < 40; attempt++ {
		d := delivery.Backoff(attempt, time.Second, time.Minute, 0)
		if d < 0 || d > time.Minute {
			t.Fatalf("attempt %d: %v outside [0, max]", attempt, d)
		}
	}
	if d := delivery.Backoff(1, time.Second, time.Minute, 30*time.Second); d < 30*time.Second {
		t.Fatalf("retry-after not honoured: %v", d)
	}
}

// TestA429DelaysOnlyItsRequest: a 429 with a long Retry-After for one
// record holds back that record's delivery (its next attempt honours the
// wait) but not the rest of the destination, which keeps delivering: one
// 429 is not a limit.
func TestA429DelaysOnlyItsRequest(t *testing.T) {
	var mu sync.Mutex
	refused := 0
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Email string `json:"email"`
		}
		json.NewDecoder(r.Body).Decode(&p)
		if p.Email == "slow@x.co" {
			mu.Lock()
			refused++
			mu.Unlock()
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(429)
			return
		}
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer sink.Close()
	r := newRig(t, sink.URL)
	slow := r.send(t, "slow@x.co", 1)
	ex := storeOf(r.gate)
	for {
		mu.Lock()
		n := refused
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var last string
	for i := range 20 {
		last = r.send(t, fmt.Sprintf("k%d@x.co", i), i)
	}
	r.wait(t, last, store.EventDelivered)
	ds, _ := ex.DeliveryListByEvent(context.Background(), slow)
	if ds[0].State != store.DeliveryPending || ds[0].NextAt.Before(time.Now().Add(30*time.Second)) {
		t.Fatalf("refused delivery %+v: want pending until Retry-After (60s) is over", ds[0])
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 1 {
		t.Fatalf("refused record sent %d times, want once", refused)
	}
}

// TestNoSendAfterTheLease: a delivery that waits for its turn (here the
// destination's rate) longer than its lease allows is not sent late. Sent
// after lease recovery had handed it to another attempt, it could land
// after a newer write of the record (a stale overwrite); here it would be
// sent twice. It goes back to the queue unsent and is sent once, in time.
func TestNoSendAfterTheLease(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Email string `json:"email"`
		}
		json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		got[p.Email]++
		mu.Unlock()
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer sink.Close()
	// One request per 6 s; a lease of 4 s, of which the request's timeout
	// takes 1 s: the second record cannot go within its first lease.
	cfg := strings.Replace(fmt.Sprintf(cfgTmpl, sink.URL), "concurrency: 8}", "concurrency: 8, rate_per_second: 0.1666, timeout: 1s}", 1)
	r := newRigWith(t, cfg, 4*time.Second)
	a := r.send(t, "a@x.co", 1)
	b := r.send(t, "b@x.co", 1)
	r.wait(t, a, store.EventDelivered)
	r.wait(t, b, store.EventDelivered)
	time.Sleep(2 * time.Second) // a late duplicate may arrive by now (the audit shows it anyway)
	mu.Lock()
	defer mu.Unlock()
	if got["a@x.co"] != 1 || got["b@x.co"] != 1 {
		t.Fatalf("requests per record: %v, want one each", got)
	}
	for _, id := range []string{a, b} {
		as, err := storeOf(r.gate).AuditListByEvent(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		parked := 0
		for _, e := range as {
			if e.Action == audit.ActionLeaseExpired {
				t.Fatalf("event %s: lease expired while waiting for its turn: %s", id, e.Message)
			}
			if e.Action == audit.ActionParked {
				parked++
			}
		}
		// Put back until its turn, the second record is claimed again
		// about when it can go: not put back after every poll (it was
		// 100+ times).
		if parked > 3 {
			t.Errorf("event %s put back %d times while waiting for one turn", id, parked)
		}
	}
}

// TestSinkGetsTheStoredPayload: an HTTP destination (a connector.RawSender)
// sends the delivery's stored JSON byte for byte, and that is what
// decoding it and encoding it again (the path before RawSender) sends.
func TestSinkGetsTheStoredPayload(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer sink.Close()
	r := newRig(t, sink.URL)
	res, err := r.gate.Capture(context.Background(), pipeline.CaptureInput{Source: "forms", Body: []byte("{}"),
		Payload: map[string]any{"email": "<a&b>@x.co\u2028é", "v": 4503599627370497.0}})
	if err != nil {
		t.Fatal(err)
	}
	r.eng.Kick()
	r.wait(t, res.EventID, store.EventDelivered)
	ds, err := storeOf(r.gate).DeliveryListByEvent(context.Background(), res.EventID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v, %v", ds, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || string(bodies[0]) != string(ds[0].Payload) {
		t.Fatalf("sink got %q, stored payload %s", bodies, ds[0].Payload)
	}
	var decoded map[string]any
	if err := json.Unmarshal(ds[0].Payload, &decoded); err != nil {
		t.Fatal(err)
	}
	if again, _ := json.Marshal(decoded); string(again) != string(bodies[0]) {
		t.Errorf("sink got %s; decoding and encoding the payload gives %s", bodies[0], again)
	}
}

// TestKickForWakesTheNamedWorker: with an idle poll of an hour, only a
// wake-up makes the worker look for the new delivery; KickFor with the
// destination's name is one (a name no worker has is ignored).
func TestKickForWakesTheNamedWorker(t *testing.T) {
	t.Parallel()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"id":"x"}`) }))
	defer sink.Close()
	r := newRigPoll(t, fmt.Sprintf(cfgTmpl, sink.URL), 5*time.Second, time.Hour)
	time.Sleep(50 * time.Millisecond) // the worker's first claim, at start, finds nothing
	res, err := r.gate.Capture(context.Background(), pipeline.CaptureInput{Source: "forms", Body: []byte("{}"), Payload: map[string]any{"email": "k@x.co", "v": 1.0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Destinations) != 1 || res.Destinations[0] != "d" {
		t.Fatalf("CaptureResult.Destinations = %v, want [d]", res.Destinations)
	}
	r.eng.KickFor([]string{"nowhere"})
	r.eng.KickFor(res.Destinations)
	r.wait(t, res.EventID, store.EventDelivered)
}
