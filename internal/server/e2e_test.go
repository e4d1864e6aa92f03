package server_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/signature"
)

const secret = "whsec_c2x1aWNlLXRlc3Qtc2VjcmV0LWtleS0wMTIzNDU2Nzg5"

// sink is a receiver that counts effects by record key, dedupes by
// Idempotency-Key like a careful receiver would, and fails on request.
type sink struct {
	mu       sync.Mutex
	effects  map[string]int      // record key -> applied writes
	seenIdem map[string]bool     // Idempotency-Key values applied
	failures map[string][]int    // record key -> statuses to answer first
	bodies   map[string][]string // record key -> bodies applied
	requests int
}

func newSink() *sink {
	return &sink{effects: map[string]int{}, seenIdem: map[string]bool{}, failures: map[string][]int{}, bodies: map[string][]string{}}
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p map[string]any
	_ = json.Unmarshal(body, &p)
	key, _ := p["email"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	fkey := key
	if fs := s.failures[r.URL.Path+" "+key]; len(fs) > 0 {
		fkey = r.URL.Path + " " + key
	}
	if fs := s.failures[fkey]; len(fs) > 0 {
		s.failures[fkey] = fs[1:]
		if fs[0] == 429 {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(fs[0])
		fmt.Fprintf(w, `{"message":"injected %d"}`, fs[0])
		return
	}
	idem := r.Header.Get("Idempotency-Key")
	if !s.seenIdem[idem] {
		s.seenIdem[idem] = true
		s.effects[key]++
		s.bodies[key] = append(s.bodies[key], string(body))
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"ext-%s"}`, key)
}

func (s *sink) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.effects[key]
}

type harness struct {
	t      *testing.T
	url    string
	sink   *sink
	srv    *server.Server
	cancel context.CancelFunc
	done   chan error
}

const configTmpl = `
listen: 127.0.0.1:0
store: %s
admin_tokens:
  - {name: ops, token: ops-token-0123456789, role: admin}
  - {name: watcher, token: view-token-0123456789, role: viewer}
sources:
  forms:
    signature: {scheme: standard-webhooks, secrets: ["%s"]}
    idempotency_field: submission_id
    quota: {requests_per_second: 1000000, bytes_per_second: 1073741824} # benchmarks share this config
entities:
  lead:
    key: email
    schema:
      type: object
      required: [email, company]
      properties:
        email: {type: string, format: email}
        company: {type: string, minLength: 1}
        amount: {type: number, minimum: 0}
flows:
  leads:
    source: forms
    entity: lead
    hold_ttl: 1h
    normalize:
      fields:
        email: {from: contact.email, type: email}
        name: {from: contact.name, trim: true}
        company: {from: company, trim: true}
        amount: {from: amount, type: number}
    routes:
      crm:
        destination: sink
      big:
        destination: sink2
        when: 'amount != nil && amount > 1000'
        after: [crm]
destinations:
  sink:
    type: http
    allow_private_network: true
    options: {url: "%s/crm", timeout: 2s, concurrency: 32}
    max_attempts: 4
    retry_base: 10ms
    retry_max: 50ms
  sink2:
    type: http
    allow_private_network: true
    options: {url: "%s/big", timeout: 2s}
    max_attempts: 2
    retry_base: 10ms
    retry_max: 50ms
delivery:
  lease: 5s
  poll_interval: 20ms
`

// parseConfig parses and validates a test's config, ${VAR}s from the
// process's environment.
func parseConfig(t *testing.T, raw string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(raw), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// serve runs srv on a loopback port until stop, which the test's end
// calls too (once); the harness reads sk as its sink.
func serve(t *testing.T, srv *server.Server, sk *sink) (h *harness, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h = &harness{t: t, url: "http://" + ln.Addr().String(), sink: sk, srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Run(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-h.done
			srv.Close()
		})
	}
	t.Cleanup(stop)
	return h, stop
}

func start(t *testing.T) *harness {
	t.Helper()
	return startLogged(t, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startLogged is start with the server logging to log.
func startLogged(t *testing.T, log *slog.Logger) *harness {
	t.Helper()
	sk := newSink()
	ts := httptest.NewServer(sk)
	t.Cleanup(ts.Close)
	dbPath := filepath.Join(t.TempDir(), "sluice.db")
	raw := fmt.Sprintf(configTmpl, dbPath, secret, ts.URL, ts.URL)
	c := parseConfig(t, raw)
	srv, err := server.New(context.Background(), c, log)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := serve(t, srv, sk)
	return h
}

// msgSeq numbers message ids; parallel tests send at once.
var msgSeq atomic.Int64

func (h *harness) send(body string, hdr map[string]string) (int, map[string]any) {
	h.t.Helper()
	return h.sendID(fmt.Sprintf("msg_%d_%d", time.Now().UnixNano(), msgSeq.Add(1)), body, hdr)
}

func (h *harness) sendID(id, body string, hdr map[string]string) (int, map[string]any) {
	h.t.Helper()
	// One reading of the clock for the signature and the header: two
	// could straddle a second and sign a timestamp the header does not
	// carry (an occasional 401 under load).
	now := time.Now()
	sig, err := signature.SignStandardWebhooks(secret, id, now, []byte(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", h.url+"/v1/sources/forms/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("webhook-signature", sig)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (int, map[string]any) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		h.t.Fatalf("response %d not JSON: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func (h *harness) admin(method, path, body string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer ops-token-0123456789")
	req.Header.Set("Content-Type", "application/json")
	return h.do(req)
}

// waitState polls the admin API until the event reaches state.
func (h *harness) waitState(id, state string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		_, det := h.admin("GET", "/v1/events/"+id, "")
		last = det
		if ev, ok := det["event"].(map[string]any); ok && ev["state"] == state {
			return det
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("event %s did not reach %s; last: %v", id, state, last)
	return nil
}

func TestGateEndToEnd(t *testing.T) {
	h := start(t)

	t.Run("delivered", func(t *testing.T) {
		code, res := h.send(`{"contact":{"email":" Ada@Example.COM ","name":" Ada "},"company":"Acme","amount":"12"}`, nil)
		if code != 202 || res["state"] != "delivering" {
			t.Fatalf("got %d %v", code, res)
		}
		det := h.waitState(res["event_id"].(string), "delivered")
		if n := h.sink.count("ada@example.com"); n != 1 {
			t.Fatalf("sink effects = %d, want 1", n)
		}
		ds := det["deliveries"].([]any)
		if len(ds) != 1 || ds[0].(map[string]any)["external_id"] != "ext-ada@example.com" {
			t.Fatalf("deliveries = %v", ds)
		}
		if len(det["timeline"].([]any)) < 3 {
			t.Fatalf("timeline too short: %v", det["timeline"])
		}
	})

	t.Run("rejected with reasons", func(t *testing.T) {
		code, res := h.send(`{"contact":{"email":"not-an-email"},"company":"Acme","amount":"lots"}`, nil)
		if code != 422 || res["state"] != "rejected" {
			t.Fatalf("got %d %v", code, res)
		}
		errs := fmt.Sprint(res["errors"])
		if !strings.Contains(errs, "email") || !strings.Contains(errs, "amount") {
			t.Fatalf("errors do not name the fields: %v", errs)
		}
		_, det := h.admin("GET", "/v1/events/"+res["event_id"].(string), "")
		if det["event"].(map[string]any)["state"] != "rejected" {
			t.Fatalf("stored state: %v", det["event"])
		}
	})

	t.Run("held, patched, released", func(t *testing.T) {
		code, res := h.send(`{"contact":{"email":"hold@example.com"}}`, nil)
		if code != 202 || res["state"] != "held" || fmt.Sprint(res["missing"]) != "[company]" {
			t.Fatalf("got %d %v", code, res)
		}
		id := res["event_id"].(string)
		time.Sleep(100 * time.Millisecond)
		if h.sink.count("hold@example.com") != 0 {
			t.Fatal("held record reached the destination")
		}
		if code, out := h.admin("POST", "/v1/holds/"+id+"/release", ""); code != 409 {
			t.Fatalf("release of incomplete hold: %d %v", code, out)
		}
		if code, out := h.admin("PATCH", "/v1/holds/"+id, `{"fields":{"company":"Initech"}}`); code != 200 {
			t.Fatalf("patch: %d %v", code, out)
		}
		if code, out := h.admin("POST", "/v1/holds/"+id+"/release", ""); code != 200 {
			t.Fatalf("release: %d %v", code, out)
		}
		h.waitState(id, "delivered")
		if h.sink.count("hold@example.com") != 1 {
			t.Fatal("released record not delivered once")
		}
	})

	t.Run("auto-completed by a later event", func(t *testing.T) {
		_, res := h.send(`{"contact":{"email":"later@example.com","name":"L"}}`, nil)
		if res["state"] != "held" {
			t.Fatalf("first: %v", res)
		}
		held := res["event_id"].(string)
		_, res2 := h.send(`{"contact":{"email":"later@example.com"},"company":"Globex"}`, nil)
		if fmt.Sprint(res2["released"]) != "["+held+"]" {
			t.Fatalf("second did not release the first: %v", res2)
		}
		det := h.waitState(held, "delivered")
		if !strings.Contains(fmt.Sprint(det["timeline"]), "auto-completed") {
			t.Fatal("timeline does not say auto-completed")
		}
		h.waitState(res2["event_id"].(string), "delivered")
		if n := h.sink.count("later@example.com"); n != 2 {
			t.Fatalf("effects = %d, want 2 (held then later)", n)
		}
	})

	t.Run("delivered after retries", func(t *testing.T) {
		h.sink.mu.Lock()
		h.sink.failures["retry@example.com"] = []int{500, 429, 503}
		h.sink.mu.Unlock()
		_, res := h.send(`{"contact":{"email":"retry@example.com"},"company":"Acme"}`, nil)
		det := h.waitState(res["event_id"].(string), "delivered")
		d := det["deliveries"].([]any)[0].(map[string]any)
		if d["attempts"].(float64) != 4 {
			t.Fatalf("attempts = %v, want 4", d["attempts"])
		}
		if h.sink.count("retry@example.com") != 1 {
			t.Fatal("not exactly one effect")
		}
	})

	t.Run("escalated after permanent error, dependents cancelled, retried", func(t *testing.T) {
		h.sink.mu.Lock()
		h.sink.failures["perm@example.com"] = []int{400}
		h.sink.mu.Unlock()
		_, res := h.send(`{"contact":{"email":"perm@example.com"},"company":"Acme","amount":5000}`, nil)
		id := res["event_id"].(string)
		det := h.waitState(id, "escalated")
		escs := det["escalations"].([]any)
		if len(escs) != 1 || !strings.Contains(fmt.Sprint(escs[0]), "injected 400") {
			t.Fatalf("escalation does not carry the platform message: %v", escs)
		}
		states := map[string]string{}
		for _, d := range det["deliveries"].([]any) {
			dm := d.(map[string]any)
			states[dm["route"].(string)] = dm["state"].(string)
		}
		if states["crm"] != "escalated" || states["big"] != "cancelled" {
			t.Fatalf("delivery states = %v", states)
		}
		escID := escs[0].(map[string]any)["id"].(string)
		if code, out := h.admin("POST", "/v1/escalations/"+escID+"/retry", ""); code != 200 {
			t.Fatalf("retry: %d %v", code, out)
		}
		det = h.waitState(id, "delivered")
		for _, d := range det["deliveries"].([]any) {
			if d.(map[string]any)["state"] != "succeeded" {
				t.Fatalf("after retry: %v", det["deliveries"])
			}
		}
	})

	t.Run("retries exhausted escalate", func(t *testing.T) {
		h.sink.mu.Lock()
		h.sink.failures["down@example.com"] = []int{500, 500, 500, 500, 500}
		h.sink.mu.Unlock()
		_, res := h.send(`{"contact":{"email":"down@example.com"},"company":"Acme"}`, nil)
		det := h.waitState(res["event_id"].(string), "escalated")
		if e := det["escalations"].([]any)[0].(map[string]any); e["kind"] != "retries_exhausted" {
			t.Fatalf("kind = %v", e["kind"])
		}
	})

	t.Run("partial success opens a reconciliation; retry settles it", func(t *testing.T) {
		h.sink.mu.Lock()
		h.sink.failures["/big part@example.com"] = []int{422}
		h.sink.mu.Unlock()
		_, res := h.send(`{"contact":{"email":"part@example.com"},"company":"Acme","amount":9000}`, nil)
		id := res["event_id"].(string)
		det := h.waitState(id, "escalated")
		recs := det["reconciliations"].([]any)
		if len(recs) != 1 {
			t.Fatalf("reconciliations = %v", recs)
		}
		rec := recs[0].(map[string]any)
		sum := fmt.Sprint(rec["summary"])
		if !strings.Contains(sum, "landed:[map[destination:sink") || !strings.Contains(sum, "missing:[map[destination:sink2") {
			t.Fatalf("summary does not say what is where: %s", sum)
		}
		if code, out := h.admin("GET", "/v1/reconciliations?status=open", ""); code != 200 || len(out["reconciliations"].([]any)) == 0 {
			t.Fatalf("list: %d %v", code, out)
		}
		if code, out := h.admin("POST", "/v1/reconciliations/"+rec["id"].(string)+"/retry", ""); code != 200 {
			t.Fatalf("retry: %d %v", code, out)
		}
		h.waitState(id, "delivered")
		if code, _ := h.admin("POST", "/v1/reconciliations/"+rec["id"].(string)+"/resolve", `{"note":"x"}`); code != 409 {
			t.Fatalf("resolve of a closed task: %d, want 409", code)
		}
	})

	t.Run("duplicates answered once", func(t *testing.T) {
		body := `{"submission_id":"sub-77","contact":{"email":"dup@example.com"},"company":"Acme"}`
		code1, r1 := h.sendID("msg-dup-1", body, nil)
		code2, r2 := h.sendID("msg-dup-1", body, nil)
		if code1 != 202 || code2 != 200 || r2["duplicate"] != true || r1["event_id"] != r2["event_id"] {
			t.Fatalf("first %d %v, second %d %v", code1, r1, code2, r2)
		}
		h.waitState(r1["event_id"].(string), "delivered")
		if h.sink.count("dup@example.com") != 1 {
			t.Fatal("duplicate delivered twice")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get(h.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`sluice_intake_requests_total{outcome="delivering",source="forms"}`,
			`sluice_intake_requests_total{outcome="duplicate",source="forms"} 1`,
			`sluice_delivery_attempts_total{destination="sink",outcome="retryable"}`,
			`sluice_delivery_attempt_seconds_bucket{destination="sink"`,
			`sluice_rate_limited_total{destination="sink"} 1`,
			`sluice_deliveries_settled_total{destination="sink",result="succeeded",retried="true"}`,
			`sluice_deliveries_settled_total{destination="sink",result="escalated",retried="true"}`,
			`sluice_events{state="held"}`,
			`sluice_escalations_open`,
			`sluice_store_up 1`,
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(string(b), "example.com") {
			t.Error("/metrics carries payload values")
		}
	})

	t.Run("audit chain verifies", func(t *testing.T) {
		code, out := h.admin("GET", "/v1/audit/verify", "")
		if code != 200 || out["ok"] != true {
			t.Fatalf("verify: %d %v", code, out)
		}
	})
}
