package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuf is a process's output, readable while it runs.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until cond holds; the deadline only bounds a hang.
func waitFor(t *testing.T, what string, out *syncBuf, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; output:\n%s", what, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func healthVersion(addr string) string {
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var h struct {
		Version string `json:"config_version"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&h)
	return h.Version
}

// TestServeLifecycle runs the real binary: a second `serve` on the same
// SQLite file is refused with a clear message; SIGHUP reloads a changed
// config and refuses a broken one (naming the field, old config serving
// on); SIGTERM stops it cleanly and it prints what it did.
func TestServeLifecycle(t *testing.T) {
	bin := buildBinary(t)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer sink.Close()
	dir := t.TempDir()
	cfg, db, addr := filepath.Join(dir, "sluice.yaml"), filepath.Join(dir, "sluice.db"), freePort(t)
	base := fmt.Sprintf(crashConfig, addr, db, crashSecret, sink.URL)
	if err := os.WriteFile(cfg, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuf{}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	waitFor(t, "readiness", out, func() bool { return healthVersion(addr) != "" })
	v1 := healthVersion(addr)

	second := exec.Command(bin, "serve", "--config", cfg, "--listen", freePort(t))
	msg, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "is served by another process (pid "+fmt.Sprint(cmd.Process.Pid)+")") ||
		!strings.Contains(string(msg), "SQLite allows one sluice serve per file") {
		t.Fatalf("second serve on the same file: %v\n%s", err, msg)
	}

	changed := strings.Replace(base, "n: {from: n, type: integer}", "n: {from: n, type: integer}\n        tag: {from: tag, trim: true}", 1)
	if err := os.WriteFile(cfg, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", out, func() bool { return healthVersion(addr) != v1 })
	v2 := healthVersion(addr)
	if !strings.Contains(out.String(), "config reloaded") || !strings.Contains(out.String(), "actor=signal:SIGHUP") {
		t.Fatalf("reload log:\n%s", out)
	}

	broken := strings.Replace(changed, "destination: sink", "destination: nowhere", 1)
	if err := os.WriteFile(cfg, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal", out, func() bool { return strings.Contains(out.String(), "config reload refused") })
	if !strings.Contains(out.String(), "flows.leads.routes.out.destination") || healthVersion(addr) != v2 {
		t.Fatalf("refusal must name the field and keep %s serving (now %s):\n%s", v2, healthVersion(addr), out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "stopped: intake closed; 0 deliveries in flight, 0 finished, none left") {
		t.Fatalf("shutdown report missing:\n%s", out)
	}
}
