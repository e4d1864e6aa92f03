// Package bench measures Sluice on the machine it runs on: it starts an
// in-process server on a temporary store (a SQLite file, or a fresh schema
// in a PostgreSQL database) with one HTTP destination, a local sink that
// can answer with injected faults, and a load client that sends signed
// events over loopback HTTP like any webhook sender would. It reports
// ingest and end-to-end throughput and acknowledgement and delivery
// latencies. `sluice bench` and the Go benchmarks share it, so the figures
// users see are the ones the project tracks.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/signature"
)

// Options says what to run.
type Options struct {
	// Store is "" for a SQLite file in a temporary directory, or a
	// postgres:// URL: the run then uses a new schema in that database and
	// drops it afterwards.
	Store string
	// Events is how many events to send (default 10,000).
	Events int
	// Concurrency is the number of senders in a closed loop (default 32);
	// ignored when Rate is set.
	Concurrency int
	// Rate, when positive, sends open loop at this many events per second.
	Rate float64
	// From, when set, is a SQLite store (e.g. made by PrefillSQLite) the
	// run starts from, on a copy; Store must then be empty.
	From string
	// Drain captures every event with the destination paused, then resumes
	// it and times the backlog draining: delivery alone.
	Drain bool
	// DestConcurrency is the destination's concurrency option; 0 leaves it
	// untuned (the engine adapts it).
	DestConcurrency int
	// Faults maps an HTTP status to the share of sink answers that get it,
	// e.g. {429: 0.05, 500: 0.05}. 429s carry Retry-After: 1.
	Faults map[int]float64
	// Progress, when set, receives a progress line about five times a
	// second (with a carriage return, for a terminal).
	Progress io.Writer
	// Log receives the server's logs (default: discarded).
	Log *slog.Logger
	// Timeout bounds the whole run (default 10 minutes).
	Timeout time.Duration
	// Instances, above 1, runs that many Sluice instances on the one
	// PostgreSQL schema: this process and Instances-1 `sluice serve`
	// processes of Executable (the sluice binary), with the senders spread
	// over them round-robin. Store must be a postgres:// URL.
	Instances  int
	Executable string
}

// Result is what a run measured.
type Result struct {
	Events, Failed int
	Store          string
	Ingest         time.Duration // first send to last acknowledgement
	EndToEnd       time.Duration // first send (or resume, when draining) to last delivery
	// EndToEnd99 is the same to the 99th percentile delivery: the rate
	// without the tail of the last few retries.
	EndToEnd99     time.Duration
	AckP50, AckP99 time.Duration
	// Delivery latency: from the send of an event to its first successful
	// write in the sink (from resume when draining).
	DeliveryP50, DeliveryP99 time.Duration
	SinkRequests             int
	SinkStatuses             map[int]int
	DestConcurrency          int   // the destination's limit at the end
	PeakRSS                  int64 // of this whole process (server, client and sink), bytes
	// IngestCPU and DeliverCPU are the user+system CPU time of this whole
	// process (server, load client and sink) while sending, and from the
	// end of sending (or the resume) to the last delivery. Per event they
	// move much less than rates when other work shares the machine.
	IngestCPU, DeliverCPU time.Duration
	// RoundTrips and Statements are what the store driver sent to its
	// database from the first send to the last delivery, when it counts
	// them (PostgreSQL): round trips waited for, and statements in them.
	RoundTrips, Statements int64
	// Reruns is how many of the store's transactions failed a check of an
	// answer given ahead (PostgreSQL: a queued capture, a settle answered
	// from its claim) and were run again (docs/adr/0049-postgres-queued-captures.md).
	Reruns int64
	// StoreCPU is the CPU time of the database's server processes serving
	// the run, when the driver can tell (PostgreSQL on this machine).
	StoreCPU  time.Duration
	Instances int // Sluice instances that served the run
}

// roundTripper is a store driver that counts its round trips (storepg).
type roundTripper interface {
	RoundTrips() (roundTrips, statements int64)
	BackendCPU() (time.Duration, bool)
	Reruns() int64
}

// CPUPer1k is CPU seconds per 1,000 events for a phase's CPU time.
func (r *Result) CPUPer1k(d time.Duration) float64 {
	n := r.Events - r.Failed
	if n <= 0 {
		return 0
	}
	return d.Seconds() * 1000 / float64(n)
}

// EndToEnd99Rate is 99% of the delivered events per EndToEnd99.
func (r *Result) EndToEnd99Rate() float64 { return 0.99 * rate(r.Events-r.Failed, r.EndToEnd99) }

// IngestRate is acknowledged events per second.
func (r *Result) IngestRate() float64 { return rate(r.Events-r.Failed, r.Ingest) }

// EndToEndRate is delivered events per second.
func (r *Result) EndToEndRate() float64 { return rate(r.Events-r.Failed, r.EndToEnd) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Print writes the report.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "store:          %s\n", r.Store)
	if r.Instances > 1 {
		fmt.Fprintf(w, "instances:      %d (this process and %d `sluice serve`; CPU and round-trip figures are this process's)\n", r.Instances, r.Instances-1)
	}
	fmt.Fprintf(w, "events:         %d sent, %d refused or failed\n", r.Events, r.Failed)
	fmt.Fprintf(w, "ingest:         %.0f events/s (acknowledged after a durable commit)\n", r.IngestRate())
	fmt.Fprintf(w, "end-to-end:     %.0f events/s (delivered to the sink); %.0f events/s to the 99th percentile\n", r.EndToEndRate(), r.EndToEnd99Rate())
	fmt.Fprintf(w, "ack latency:    p50 %s  p99 %s\n", ms(r.AckP50), ms(r.AckP99))
	fmt.Fprintf(w, "cpu per 1,000:  %.3f s sending, %.3f s delivering (user+system, whole process)\n", r.CPUPer1k(r.IngestCPU), r.CPUPer1k(r.DeliverCPU))
	fmt.Fprintf(w, "delivery:       p50 %s  p99 %s\n", ms(r.DeliveryP50), ms(r.DeliveryP99))
	codes := make([]int, 0, len(r.SinkStatuses))
	for c := range r.SinkStatuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", r.SinkStatuses[c], c))
	}
	fmt.Fprintf(w, "sink requests:  %d (%s); destination concurrency at the end: %d\n", r.SinkRequests, strings.Join(parts, ", "), r.DestConcurrency)
	if r.RoundTrips > 0 {
		n := float64(max(1, r.Events-r.Failed))
		fmt.Fprintf(w, "store:          %.1f round trips and %.1f statements per event (captured and delivered); %d transactions run again\n",
			float64(r.RoundTrips)/n, float64(r.Statements)/n, r.Reruns)
		if r.StoreCPU > 0 {
			fmt.Fprintf(w, "store cpu:      %.3f s per 1,000 events (PostgreSQL's server processes for this run)\n", r.StoreCPU.Seconds()*1000/n)
		}
	}
	if r.PeakRSS > 0 {
		fmt.Fprintf(w, "peak RSS:       %d MiB (this process: server, load client and sink)\n", r.PeakRSS>>20)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// ParseFaults reads "429=0.05,500=0.05".
func ParseFaults(s string) (map[int]float64, error) {
	out := map[int]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	total := 0.0
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		code, err1 := strconv.Atoi(k)
		p, err2 := strconv.ParseFloat(v, 64)
		if !ok || err1 != nil || err2 != nil || code < 400 || code > 599 || p < 0 || p > 1 {
			return nil, fmt.Errorf("sink faults: %q is not STATUS=SHARE (e.g. 429=0.05, a 4xx/5xx status and a share in [0,1])", part)
		}
		out[code] = p
		total += p
	}
	if total >= 1 {
		return nil, errors.New("sink faults: the shares add up to 1 or more; nothing would be delivered")
	}
	return out, nil
}

const secret = "whsec_YmVuY2htYXJrLXNlY3JldC0wMTIzNDU2Nzg5"

const configYAML = `
store: %q
admin_tokens:
  - {name: bench, token: %s, role: admin}
sources:
  forms:
    signature: {scheme: standard-webhooks, secrets: ["%s"]}
    quota: {requests_per_second: 1000000, bytes_per_second: 1073741824} # measure Sluice, not the quota
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
    normalize:
      fields:
        email: {from: contact.email, type: email}
        name: {from: contact.name, trim: true}
        company: {from: company, trim: true}
        amount: {from: amount, type: number}
    routes:
      out:
        destination: sink
destinations:
  sink:
    type: http
    allow_private_network: true # the sink listens on loopback
    options: {url: "%s/in", timeout: 5s%s}
    max_attempts: 30
    retry_base: 100ms
    retry_max: 2s
    breaker: {failures: 50, open_for: 1s}
delivery:
  lease: 30s
  poll_interval: 20ms
`

// Run runs one benchmark.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Events <= 0 {
		o.Events = 10000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Instances <= 0 {
		o.Instances = 1
	}
	if o.Instances > 1 && (o.Store == "" || o.Executable == "") {
		return nil, errors.New("bench: --instances above 1 needs --store postgres://... (the instances share one schema) and the sluice binary")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// The server runs with the collector's target `sluice serve` sets, so
	// the figures are the ones a deployment gets.
	defer server.TuneGC()()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	storeRef, label, cleanup, err := tempStore(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if o.From != "" {
		if o.Store != "" {
			return nil, errors.New("bench: From needs the default (SQLite) store")
		}
		if err := copyFile(storeRef, o.From); err != nil {
			return nil, fmt.Errorf("bench: copy %s: %w", o.From, err)
		}
		label += " from a copy of " + o.From
	}

	sk := newSink(o.Faults, o.Events)
	sinkSrv := httptest.NewUnstartedServer(sk)
	sinkSrv.Config.ReadHeaderTimeout = 10 * time.Second
	sinkSrv.Start()
	defer sinkSrv.Close()

	token := "bench-" + randHex(12)
	destOpts := ""
	if o.DestConcurrency > 0 {
		destOpts = fmt.Sprintf(", concurrency: %d", o.DestConcurrency)
	}
	c, err := config.Parse(fmt.Appendf(nil, configYAML, storeRef, token, secret, sinkSrv.URL, destOpts), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	srv, err := server.New(ctx, c, o.Log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, ln) }()
	defer func() { stop(); <-done; srv.Close() }()

	base := "http://" + ln.Addr().String()
	cl := &client{base: base, bases: []string{base}, token: token, http: &http.Client{
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024},
		Timeout:   60 * time.Second,
	}}
	if o.Instances > 1 {
		// This process migrated the schema; the others join it.
		stopKids, err := startInstances(ctx, o, fmt.Sprintf(configYAML, storeRef, token, secret, sinkSrv.URL, destOpts), cl)
		if err != nil {
			return nil, err
		}
		defer stopKids()
	}
	if o.Drain {
		if err := cl.admin(ctx, "POST", "/v1/destinations/sink/pause", `{"reason":"bench: capturing the backlog"}`); err != nil {
			return nil, err
		}
	}

	res := &Result{Events: o.Events, Store: label, Instances: o.Instances}
	acks := make([]time.Duration, o.Events)
	sentAt := make([]time.Time, o.Events)
	var acked, failed atomic.Int64
	stopProgress := progress(o.Progress, o.Events, &acked, sk)
	defer stopProgress()

	rt, _ := srv.Driver.(roundTripper)
	var rt0, st0, rr0 int64
	var scpu0 time.Duration
	if rt != nil {
		rt0, st0 = rt.RoundTrips()
		rr0 = rt.Reruns()
		scpu0, _ = rt.BackendCPU()
	}
	cpu0 := processCPU()
	begin := time.Now()
	send := func(i int) {
		t0 := time.Now()
		sentAt[i] = t0
		code, err := cl.send(ctx, i)
		acks[i] = time.Since(t0)
		if err != nil || code != http.StatusAccepted {
			failed.Add(1)
			sk.forget(i)
		}
		acked.Add(1)
	}
	var wg sync.WaitGroup
	if o.Rate > 0 {
		interval := time.Duration(float64(time.Second) / o.Rate)
		for i := range o.Events {
			if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			if ctx.Err() != nil {
				break
			}
			wg.Add(1)
			go func() { defer wg.Done(); send(i) }()
		}
	} else {
		var next atomic.Int64
		for range o.Concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					i := int(next.Add(1)) - 1
					if i >= o.Events {
						return
					}
					send(i)
				}
			}()
		}
	}
	wg.Wait()
	res.Ingest = time.Since(begin)
	cpu1 := processCPU()
	res.IngestCPU = cpu1 - cpu0
	res.Failed = int(failed.Load())
	if ctx.Err() != nil {
		return nil, fmt.Errorf("bench: sending: %w", ctx.Err())
	}

	from := begin
	if o.Drain {
		from = time.Now()
		for i := range sentAt {
			sentAt[i] = from // delivery latency counts from the resume
		}
		if err := cl.admin(ctx, "POST", "/v1/destinations/sink/resume", `{}`); err != nil {
			return nil, err
		}
	}
	want := o.Events - res.Failed
	select {
	case <-sk.all(want):
	case <-ctx.Done():
		return nil, fmt.Errorf("bench: %d of %d events delivered before the timeout (%v)", sk.delivered(), want, o.Timeout)
	}
	res.EndToEnd = sk.last().Sub(from)
	res.DeliverCPU = processCPU() - cpu1
	if rt != nil {
		rt1, st1 := rt.RoundTrips()
		res.RoundTrips, res.Statements = rt1-rt0, st1-st0
		res.Reruns = rt.Reruns() - rr0
		if scpu1, ok := rt.BackendCPU(); ok {
			res.StoreCPU = scpu1 - scpu0
		}
	}
	stopProgress()

	slices.Sort(acks)
	res.AckP50, res.AckP99 = pct(acks, 0.50), pct(acks, 0.99)
	dl := sk.latencies(sentAt)
	slices.Sort(dl)
	res.DeliveryP50, res.DeliveryP99 = pct(dl, 0.50), pct(dl, 0.99)
	res.EndToEnd99 = sk.nth(int(math.Ceil(0.99 * float64(want)))).Sub(from)
	res.SinkRequests, res.SinkStatuses = sk.stats()
	res.DestConcurrency = srv.Engine.Concurrency("sink")
	res.PeakRSS = peakRSS()
	return res, nil
}

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)]
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tempStore returns the store reference for the config, a label, and a
// cleanup that removes it.
func tempStore(ctx context.Context, ref string) (string, string, func(), error) {
	if ref == "" {
		dir, err := os.MkdirTemp("", "sluice-bench-")
		if err != nil {
			return "", "", nil, err
		}
		path := filepath.Join(dir, "bench.db")
		return path, "sqlite " + path + " (temporary)", func() { os.RemoveAll(dir) }, nil
	}
	if !strings.HasPrefix(ref, "postgres://") && !strings.HasPrefix(ref, "postgresql://") {
		return "", "", nil, fmt.Errorf("--store: %q is not a postgres:// URL (leave it out for a temporary SQLite file)", ref)
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", "", nil, fmt.Errorf("--store: %w", err)
	}
	schema := "sluice_bench_" + randHex(6)
	if err := pgExec(ctx, ref, `CREATE SCHEMA `+schema); err != nil {
		return "", "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	cleanup := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pgExec(cctx, ref, `DROP SCHEMA `+schema+` CASCADE`)
	}
	return u.String(), "postgres " + u.Host + " schema " + schema + " (dropped afterwards)", cleanup, nil
}

func pgExec(ctx context.Context, dsn, sql string) error {
	// pool_* and write_lanes parameters are the store driver's, not
	// PostgreSQL's.
	if u, err := url.Parse(dsn); err == nil {
		q := u.Query()
		for k := range q {
			if strings.HasPrefix(k, "pool_") || k == "write_lanes" {
				q.Del(k)
			}
		}
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("bench store: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("bench store: %w", err)
	}
	return nil
}

type client struct {
	base, token string
	bases       []string // every instance's; event i goes to bases[i % len]
	http        *http.Client
}

// send posts event i, signed the way a Standard Webhooks sender signs.
func (c *client) send(ctx context.Context, i int) (int, error) {
	body := fmt.Appendf(nil, `{"contact":{"email":"b%d@bench.example","name":"Bench %d"},"company":"Acme","amount":%d}`, i, i, i%500)
	id := "bench-" + strconv.Itoa(i)
	now := time.Now()
	sig, err := signature.SignStandardWebhooks(secret, id, now, body)
	if err != nil {
		return 0, err
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", c.bases[i%len(c.bases)]+"/v1/sources/forms/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (c *client) admin(ctx context.Context, method, path, body string) error {
	req, _ := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("bench: %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return nil
}

// sink is the local destination: it answers with the injected faults and
// records when each event was first written.
type sink struct {
	faults []fault
	mu     sync.Mutex
	rng    *mrand.Rand
	first  []time.Time // by event index; zero until written
	gone   []bool      // sends that failed: not expected
	n      int         // written
	want   int
	lastAt time.Time
	waitCh chan struct{}
	reqs   int
	codes  map[int]int
}

type fault struct {
	status int
	upto   float64 // cumulative share
}

func newSink(faults map[int]float64, n int) *sink {
	s := &sink{rng: mrand.New(mrand.NewPCG(7, 11)), first: make([]time.Time, n), gone: make([]bool, n), codes: map[int]int{}, want: -1}
	codes := make([]int, 0, len(faults))
	for c := range faults {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	acc := 0.0
	for _, c := range codes {
		acc += faults[c]
		s.faults = append(s.faults, fault{status: c, upto: acc})
	}
	return s
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Email string `json:"email"`
	}
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &p)
	s.mu.Lock()
	s.reqs++
	x := s.rng.Float64()
	status := http.StatusOK
	for _, f := range s.faults {
		if x < f.upto {
			status = f.status
			break
		}
	}
	s.codes[status]++
	if status == http.StatusOK {
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p.Email, "b"), "@bench.example"))
		if err == nil && i >= 0 && i < len(s.first) && s.first[i].IsZero() {
			now := time.Now()
			s.first[i], s.lastAt = now, now
			s.n++
			s.check()
		}
	}
	s.mu.Unlock()
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":"injected %d"}`, status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"ext-%s"}`, p.Email)
}

func (s *sink) check() {
	if s.waitCh != nil && s.want >= 0 && s.n >= s.want {
		close(s.waitCh)
		s.waitCh = nil
	}
}

func (s *sink) forget(i int) {
	s.mu.Lock()
	s.gone[i] = true
	s.mu.Unlock()
}

// all returns a channel closed once want events were written.
func (s *sink) all(want int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want = want
	s.waitCh = make(chan struct{})
	ch := s.waitCh
	s.check()
	return ch
}

func (s *sink) delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *sink) last() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAt
}

func (s *sink) latencies(sent []time.Time) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Duration, 0, s.n)
	for i, t := range s.first {
		if !t.IsZero() && !s.gone[i] {
			out = append(out, t.Sub(sent[i]))
		}
	}
	return out
}

// nth is when the n-th event (1-based, in order of delivery) was written.
func (s *sink) nth(n int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := make([]time.Time, 0, s.n)
	for i, t := range s.first {
		if !t.IsZero() && !s.gone[i] {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return time.Time{}
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts[min(max(n, 1), len(ts))-1]
}

func (s *sink) stats() (int, map[int]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs, maps(s.codes)
}

func maps(m map[int]int) map[int]int {
	out := make(map[int]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// progress prints "acked a/n, delivered d/n" with a bar until stopped.
func progress(w io.Writer, n int, acked *atomic.Int64, sk *sink) func() {
	if w == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	draw := func() {
		a, d := int(acked.Load()), sk.delivered()
		const width = 30
		bar := strings.Repeat("#", d*width/max(n, 1)) + strings.Repeat("=", max(0, (a-d)*width/max(n, 1)))
		bar += strings.Repeat(".", max(0, width-len(bar)))
		fmt.Fprintf(w, "\r[%s] acknowledged %d/%d  delivered %d/%d ", bar, a, n, d, n)
	}
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				draw()
				fmt.Fprintln(w)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop); <-done }) }
}

// startInstances starts o.Instances-1 `sluice serve` processes with the
// bench's config on their own loopback ports, waits until each answers
// /readyz, and adds them to the client's targets. stop ends them.
func startInstances(ctx context.Context, o Options, conf string, cl *client) (stop func(), err error) {
	dir, err := os.MkdirTemp("", "sluice-bench-instances-")
	if err != nil {
		return nil, err
	}
	var kids []*exec.Cmd
	stop = func() {
		for _, k := range kids {
			k.Process.Signal(syscall.SIGTERM)
		}
		for _, k := range kids {
			done := make(chan struct{})
			go func() { k.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				k.Process.Kill()
				<-done
			}
		}
		os.RemoveAll(dir)
	}
	for i := 1; i < o.Instances; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		f := filepath.Join(dir, fmt.Sprintf("sluice%d.yaml", i))
		if err := os.WriteFile(f, []byte(fmt.Sprintf("listen: %q\n", addr)+conf), 0o600); err != nil {
			stop()
			return nil, err
		}
		k := exec.Command(o.Executable, "serve", "--config", f)
		k.Stdout, k.Stderr = io.Discard, io.Discard
		if err := k.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("bench: start instance %d: %w", i+1, err)
		}
		kids = append(kids, k)
		base := "http://" + addr
		if err := waitReady(ctx, cl.http, base); err != nil {
			stop()
			return nil, fmt.Errorf("bench: instance %d: %w", i+1, err)
		}
		cl.bases = append(cl.bases, base)
	}
	return stop, nil
}

func waitReady(ctx context.Context, hc *http.Client, base string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errors.New("not ready after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
