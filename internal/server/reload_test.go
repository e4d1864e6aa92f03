package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/store"
)

// pathSink counts applied writes per path and record key, deduping by
// Idempotency-Key as a careful receiver would, and keeps the bodies.
type pathSink struct {
	mu      sync.Mutex
	seen    map[string]bool
	effects map[string]int    // "path key" -> applied writes
	bodies  map[string]string // "path key" -> last body
	// hold, when set, makes every request announce itself on arrived and
	// wait for hold to close: a delivery in flight, on demand.
	hold    chan struct{}
	arrived chan struct{}
}

func (s *pathSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p map[string]any
	_ = json.Unmarshal(body, &p)
	if s.hold != nil {
		s.arrived <- struct{}{}
		<-s.hold
	}
	k := r.URL.Path + " " + fmt.Sprint(p["email"])
	s.mu.Lock()
	if idem := r.Header.Get("Idempotency-Key"); !s.seen[idem] {
		s.seen[idem] = true
		s.effects[k]++
		s.bodies[k] = string(body)
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"ext-%v"}`, p["email"])
}

func (s *pathSink) get(path, key string) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.effects[path+" "+key], s.bodies[path+" "+key]
}

// reloadConfig: %[1]s store, %[2]s sink URL, %[3]s crm map extra fields,
// %[4]s extra routes, %[5]s extra destinations.
const reloadConfig = `
listen: 127.0.0.1:0
store: %[1]s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
  - {name: watcher, token: view-token-0123456789, role: viewer}
sources:
  forms:
    signature: {scheme: standard-webhooks, secrets: ["` + secret + `"]}
entities:
  lead: {key: email}
flows:
  leads:
    source: forms
    entity: lead
    normalize:
      fields:
        email: {from: contact.email, type: email}
        company: {from: company, trim: true}
    routes:
      crm:
        destination: sink
        map:
          fields:
            email: {from: email}
            company: {from: company}%[3]s%[4]s
destinations:
  sink:
    type: http
    allow_private_network: true
    options: {url: "%[2]s/crm", timeout: 2s}
    max_attempts: 20
    retry_base: 10ms
    retry_max: 50ms%[5]s
delivery:
  lease: 5s
  poll_interval: 20ms
`

type reloadHarness struct {
	*harness
	path, db, sinkURL string
	psink             *pathSink
	extra             string // appended to the config
}

func (h *reloadHarness) write(crmExtra, routes, dests string) {
	h.t.Helper()
	raw := fmt.Sprintf(reloadConfig, h.db, h.sinkURL, crmExtra, routes, dests) + h.extra
	if err := os.WriteFile(h.path, []byte(raw), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func startReload(t *testing.T) *reloadHarness {
	return startReloadWith(t, "", nil)
}

// startReloadWith starts a server whose config has extra appended and
// whose sink holds requests until hold closes, when hold is not nil.
func startReloadWith(t *testing.T, extra string, hold chan struct{}) *reloadHarness {
	t.Helper()
	ps := &pathSink{seen: map[string]bool{}, effects: map[string]int{}, bodies: map[string]string{}, hold: hold, arrived: make(chan struct{}, 100)}
	ts := httptest.NewServer(ps)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		if hold != nil {
			select {
			case <-hold:
			default:
				close(hold)
			}
		}
	})
	dir := t.TempDir()
	h := &reloadHarness{path: filepath.Join(dir, "sluice.yaml"), db: filepath.Join(dir, "sluice.db"), sinkURL: ts.URL, psink: ps, extra: extra}
	h.harness = &harness{t: t}
	h.write("", "", "")
	c, err := config.Load(h.path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Load = func() (*config.Config, error) { return config.Load(h.path) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.url, h.srv, h.cancel, h.done = "http://"+ln.Addr().String(), srv, cancel, make(chan error, 1)
	go func() { h.done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
		srv.Close()
	})
	// Reloads are refused ("unavailable") until Run has marked the server
	// ready; tests that reload at once failed now and then without this.
	for deadline := time.Now().Add(20 * time.Second); readyz(t, h.url) != http.StatusOK; {
		if time.Now().After(deadline) {
			t.Fatal("the server did not become ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return h
}

const (
	routeAudit = `
      audit:
        destination: sink2`
	destSink2 = `
  sink2:
    type: http
    allow_private_network: true
    options: {url: "%s/audit", timeout: 2s}
    max_attempts: 20
    retry_base: 10ms
    retry_max: 50ms`
	mapV2 = `
            cfg: {expr: '"v2"'}`
)

// acked is one event the server acknowledged, and when relative to the
// reload.
type acked struct {
	id, email string
	phase     int // 0: acknowledged before the reload began; 1: during; 2: after it returned
}

// TestReloadUnderLoad changes a mapping and adds a route and destination
// while a sender keeps sending signed events, then tries a broken config.
// Every acknowledged event is delivered exactly once by effect; events
// captured after the swap carry the new version and take the new route;
// the broken config is refused with field paths and the new config keeps
// serving.
func TestReloadUnderLoad(t *testing.T) {
	h := startReload(t)
	v1 := h.srv.Version()

	var mu sync.Mutex
	var phase int
	var got []acked
	progress := make(chan int, 1024)
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			email := fmt.Sprintf("load%d@example.com", i)
			mu.Lock()
			p := phase
			mu.Unlock()
			code, res := h.sendID(fmt.Sprintf("reload-%d", i), fmt.Sprintf(`{"contact":{"email":%q},"company":"Acme %d"}`, email, i), nil)
			if code != http.StatusAccepted {
				t.Errorf("event %d: %d %v", i, code, res)
				return
			}
			mu.Lock()
			if phase != p {
				p = 1 // the reload began or ended while this request ran
			}
			got = append(got, acked{id: res["event_id"].(string), email: email, phase: p})
			n := len(got)
			mu.Unlock()
			progress <- n
		}
	}()
	waitAcks := func(n int) {
		t.Helper()
		for {
			select {
			case k := <-progress:
				if k >= n {
					return
				}
			case <-sent:
				t.Fatal("sender stopped")
			}
		}
	}

	waitAcks(40)
	h.write(mapV2, routeAudit, fmt.Sprintf(destSink2, h.sinkURL))
	mu.Lock()
	phase = 1
	mu.Unlock()
	res, err := h.srv.Reload(context.Background(), server.ReloadOptions{Actor: "test"})
	mu.Lock()
	phase = 2
	before := len(got)
	mu.Unlock()
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	v2 := h.srv.Version()
	if !res.Changed || res.OldVersion != v1 || res.NewVersion != v2 || v1 == v2 ||
		strings.Join(res.Added, ",") != "sink2" || len(res.Removed) != 0 || len(res.Rebuilt) != 0 ||
		strings.Join(res.Sections, ",") != "destinations,flows" {
		t.Fatalf("reload result %+v (v1 %s, v2 %s)", res, v1, v2)
	}
	waitAcks(before + 40)

	// A broken config: an unknown destination and a condition that does
	// not compile. Refused with both field paths; the v2 config serves on.
	h.write(mapV2, routeAudit+`
      bad:
        destination: nowhere
        when: 'amount >'`, fmt.Sprintf(destSink2, h.sinkURL))
	_, err = h.srv.Reload(context.Background(), server.ReloadOptions{Actor: "test"})
	var re *server.ReloadError
	if !errors.As(err, &re) || re.Kind != "invalid_config" ||
		!strings.Contains(err.Error(), "flows.leads.routes.bad.destination") {
		t.Fatalf("broken config: %v", err)
	}
	code, body := h.admin("POST", "/v1/config/reload", "")
	e, _ := body["error"].(map[string]any)
	if code != http.StatusUnprocessableEntity || e["kind"] != "invalid_config" || !strings.Contains(fmt.Sprint(e["errors"]), "flows.leads.routes.bad.destination") {
		t.Fatalf("POST /v1/config/reload with a broken file: %d %v", code, body)
	}
	if h.srv.Version() != v2 {
		t.Fatalf("version after a refused reload = %s, want %s", h.srv.Version(), v2)
	}
	mu.Lock()
	afterBroken := len(got)
	mu.Unlock()
	waitAcks(afterBroken + 20)
	close(stop)
	<-sent
	if t.Failed() {
		return
	}

	// Every acknowledged event lands once on /crm; each carries the version
	// of the config that captured it and took that config's routes.
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range got {
		for {
			_, det := h.admin("GET", "/v1/events/"+a.id, "")
			ev := det["event"].(map[string]any)
			if ev["state"] == "delivered" {
				ver := ev["config_version"]
				switch {
				case a.phase == 0 && ver != v1, a.phase == 2 && ver != v2, ver != v1 && ver != v2:
					t.Fatalf("event %s (phase %d) has config_version %v; v1 %s, v2 %s", a.id, a.phase, ver, v1, v2)
				}
				n, crmBody := h.psink.get("/crm", a.email)
				na, _ := h.psink.get("/audit", a.email)
				if n != 1 {
					t.Fatalf("%s: %d effects on /crm, want 1", a.email, n)
				}
				if ver == v2 {
					if na != 1 || !strings.Contains(crmBody, `"cfg":"v2"`) {
						t.Fatalf("%s captured by v2: %d effects on /audit, crm body %s", a.email, na, crmBody)
					}
				} else if na != 0 || strings.Contains(crmBody, "cfg") {
					t.Fatalf("%s captured by v1: %d effects on /audit, crm body %s", a.email, na, crmBody)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %s not delivered: %v", a.id, det)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("%d events acknowledged, %d before the swap returned", len(got), before)

	// The audit log has the one reload that happened, with its actor and
	// both versions.
	var reloads []string
	err = h.srv.Driver.Executor().AuditScan(context.Background(), 0, func(e *store.AuditEntry) error {
		if e.Action == audit.ActionConfigReloaded {
			reloads = append(reloads, e.Actor+" "+e.Message)
		}
		return nil
	})
	if err != nil || len(reloads) != 1 || !strings.HasPrefix(reloads[0], "test config "+v1+" -> "+v2+": changed destinations, flows") {
		t.Fatalf("audited reloads %q, %v", reloads, err)
	}
	// Viewers may not reload.
	req, _ := http.NewRequest("POST", h.url+"/v1/config/reload", nil)
	req.Header.Set("Authorization", "Bearer view-token-0123456789")
	if code, _ := h.do(req); code != http.StatusForbidden {
		t.Fatalf("viewer reload: %d, want 403", code)
	}
}

// TestReloadRemoveDestination: removing a destination that still has
// unfinished deliveries is refused; forced, those deliveries are escalated
// with the reason, never dropped. A changed listen address is refused as
// not applicable live.
func TestReloadRemoveDestination(t *testing.T) {
	h := startReload(t)
	h.write("", routeAudit, fmt.Sprintf(destSink2, h.sinkURL))
	if _, err := h.srv.Reload(context.Background(), server.ReloadOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if code, body := h.admin("POST", "/v1/destinations/sink2/pause", `{"reason":"maintenance"}`); code != http.StatusOK {
		t.Fatalf("pause: %d %v", code, body)
	}
	var ids []string
	for i := range 3 {
		code, res := h.sendID(fmt.Sprintf("rm-%d", i), fmt.Sprintf(`{"contact":{"email":"rm%d@example.com"},"company":"Acme"}`, i), nil)
		if code != http.StatusAccepted {
			t.Fatalf("send: %d %v", code, res)
		}
		ids = append(ids, res["event_id"].(string))
	}
	for i := range 3 { // crm delivered; audit waits behind the pause
		for n, _ := h.psink.get("/crm", fmt.Sprintf("rm%d@example.com", i)); n == 0; n, _ = h.psink.get("/crm", fmt.Sprintf("rm%d@example.com", i)) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	h.write("", "", "")
	_, err := h.srv.Reload(context.Background(), server.ReloadOptions{Actor: "test"})
	var re *server.ReloadError
	if !errors.As(err, &re) || re.Kind != "pending_deliveries" || re.Pending["sink2"] != 3 {
		t.Fatalf("removal with pending deliveries: %v", err)
	}
	code, body := h.admin("POST", "/v1/config/reload", "")
	if e, _ := body["error"].(map[string]any); code != http.StatusConflict || e["kind"] != "pending_deliveries" || !strings.Contains(fmt.Sprint(e["message"]), "destinations.sink2: removed, but 3 deliveries") {
		t.Fatalf("POST reload: %d %v", code, body)
	}
	code, body = h.admin("POST", "/v1/config/reload?force=true", "")
	if code != http.StatusOK || fmt.Sprint(body["destinations_removed"]) != "[sink2]" || fmt.Sprint(body["escalated"]) != "map[sink2:3]" {
		t.Fatalf("forced reload: %d %v", code, body)
	}
	for _, id := range ids {
		det := h.waitState(id, "escalated")
		escs, _ := det["escalations"].([]any)
		if len(escs) != 1 || !strings.Contains(fmt.Sprint(escs[0]), "destination_removed") || !strings.Contains(fmt.Sprint(escs[0]), "sink2 was removed from the config by admin:ops") {
			t.Fatalf("event %s escalations: %v", id, escs)
		}
	}

	raw, _ := os.ReadFile(h.path)
	if err := os.WriteFile(h.path, []byte(strings.Replace(string(raw), "listen: 127.0.0.1:0", "listen: 127.0.0.1:9", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = h.srv.Reload(context.Background(), server.ReloadOptions{Actor: "test"})
	if !errors.As(err, &re) || re.Kind != "not_live" || !strings.Contains(err.Error(), "listen: cannot change while sluice serve runs; restart it to apply") {
		t.Fatalf("listen change: %v", err)
	}
}
