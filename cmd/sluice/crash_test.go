package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
)

// effectSink applies each write once per Idempotency-Key, the way a
// receiver that dedupes would, and counts applied effects per record key.
// A record key with two effects means Sluice sent one record as two
// different deliveries: a duplicate no receiver could have caught.
type effectSink struct {
	mu      sync.Mutex
	seen    map[string]bool
	effects map[string]int
	repeats int // requests recognised as a repeat of an applied delivery
}

func (s *effectSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rec map[string]any
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &rec)
	key := fmt.Sprint(rec["email"])
	idem := r.Header.Get("Idempotency-Key")
	// Some answers are slow so that kills land while requests are in flight.
	if rand.IntN(10) == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	if s.seen[idem] {
		s.repeats++
	} else {
		s.seen[idem] = true
		s.effects[key]++
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"x-%s"}`, key)
}

const crashSecret = "crash-test-secret-0123456789"

const crashConfig = `
listen: %q
store: %q
admin_tokens: [{name: test, token: crash-admin-token-0123456789, role: admin}]
sources:
  load:
    signature: {scheme: hmac-sha256, secrets: [%q]}
    quota: {requests_per_second: 1000000, bytes_per_second: 1073741824}
entities:
  lead: {key: email}
flows:
  leads:
    source: load
    entity: lead
    normalize:
      fields:
        email: {from: email, type: email}
        n: {from: n, type: integer}
    routes:
      out: {destination: sink}
destinations:
  sink:
    type: http
    allow_private_network: true
    options: {url: "%s/in", timeout: 2s}
    max_attempts: 50
    retry_base: 50ms
    retry_max: 500ms
delivery:
  lease: 2s
  poll_interval: 20ms
`

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startBinary(t *testing.T, bin, cfg, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg)
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("server did not become ready:\n%s", logBuf.String())
	return nil
}

// TestCrashRecovery kills the server with SIGKILL under concurrent load
// several times. Every event that was acknowledged with a 2xx must still be
// there after restart and reach the sink exactly once by effect.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary; skipped with -short")
	}
	bin := buildBinary(t)
	sink := &effectSink{seen: map[string]bool{}, effects: map[string]int{}}
	sinkSrv := httptest.NewServer(sink)
	defer sinkSrv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	// Each start listens on a port free at that moment (as in
	// TestPollCrashRecovery): a port kept across kills can be taken
	// meanwhile by another process's ephemeral connection. The load of a
	// round has stopped before the next start changes addr.
	var addr string
	listenAt := func() string {
		addr = freePort(t)
		if err := os.WriteFile(cfg, fmt.Appendf(nil, crashConfig, addr, filepath.Join(dir, "sluice.db"), crashSecret, sinkSrv.URL), 0o600); err != nil {
			t.Fatal(err)
		}
		return addr
	}

	var (
		ackMu sync.Mutex
		acked = map[string]string{} // email -> event id
		seq   atomic.Int64
	)
	client := &http.Client{Timeout: 5 * time.Second}
	send := func() {
		n := seq.Add(1)
		email := fmt.Sprintf("u%d@load.example", n)
		body := fmt.Appendf(nil, `{"email":%q,"n":%d}`, email, n)
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/sources/load/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", signature.SignHMACSHA256(crashSecret, body))
		resp, err := client.Do(req)
		if err != nil {
			return // not acknowledged: the sender would retry; no promise was made
		}
		var res struct {
			EventID string `json:"event_id"`
		}
		json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			ackMu.Lock()
			acked[email] = res.EventID
			ackMu.Unlock()
		}
	}

	const rounds = 5
	for round := 0; round < rounds; round++ {
		cmd := startBinary(t, bin, cfg, listenAt())
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					send()
				}
			}()
		}
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		stop()
		wg.Wait()
	}
	// Final life: no load, let it drain.
	cmd := startBinary(t, bin, cfg, listenAt())
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	ackMu.Lock()
	total := len(acked)
	ackMu.Unlock()
	if total < 100 {
		t.Fatalf("only %d events acknowledged; the load did not run", total)
	}
	deadline := time.Now().Add(90 * time.Second)
	var missing []string
	for {
		missing = missing[:0]
		sink.mu.Lock()
		for email := range acked {
			if sink.effects[email] == 0 {
				missing = append(missing, email)
			}
		}
		sink.mu.Unlock()
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged events never reached the sink, e.g. %v", len(missing), total, missing[:min(5, len(missing))])
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for email, n := range sink.effects {
		if n > 1 {
			t.Errorf("record %s applied %d times", email, n)
		}
	}
	// Every acknowledged event is stored and settled.
	for email, id := range acked {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/events/"+id, nil)
		req.Header.Set("Authorization", "Bearer crash-admin-token-0123456789")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("acknowledged event %s (%s) not found after crashes: %d", id, email, resp.StatusCode)
		}
	}
	t.Logf("%d events acknowledged across %d SIGKILLs; all delivered once by effect; %d repeat requests recognised by Idempotency-Key", total, rounds, sink.repeats)
}
