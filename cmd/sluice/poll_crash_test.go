package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

const pollCrashConfig = `
listen: %q
store: %q
admin_tokens: [{name: test, token: crash-admin-token-0123456789, role: admin}]
sources:
  rows:
    poll:
      destination: crm
      options: {updated_column: updated_at}
      interval: 100ms
      overlap: 1s
      batch: 40
entities:
  lead: {key: email}
flows:
  leads:
    source: rows
    entity: lead
    normalize:
      fields:
        email: {from: fields.email, type: email}
    routes:
      out: {destination: sink}
destinations:
  crm:
    type: sql
    options: {driver: sqlite, dsn: %q, table: contacts, key_column: email}
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

// TestPollCrashRecovery kills the server with SIGKILL while it polls a
// table that keeps growing. Each row is one change, so each must reach the
// sink exactly once by effect: a cursor that ran ahead of its captures
// would lose rows, one that fell behind them would capture rows twice
// (as new events, with new idempotency keys the sink cannot dedupe).
func TestPollCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary; skipped with -short")
	}
	bin := buildBinary(t)
	sink := &effectSink{seen: map[string]bool{}, effects: map[string]int{}}
	sinkSrv := httptest.NewServer(sink)
	defer sinkSrv.Close()
	dir := t.TempDir()
	crmPath := filepath.Join(dir, "crm.db")
	crm, err := sql.Open("sqlite", crmPath+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer crm.Close()
	crm.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE contacts (email TEXT PRIMARY KEY, updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))`,
	} {
		if _, err := crm.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "sluice.yaml")
	// Each start listens on a port free at that moment: a port kept across
	// kills can be taken meanwhile (an ephemeral port of another test's
	// connection), which failed a start with "address already in use".
	listenAt := func() string {
		addr := freePort(t)
		if err := os.WriteFile(cfg, fmt.Appendf(nil, pollCrashConfig, addr, filepath.Join(dir, "sluice.db"), crmPath, sinkSrv.URL), 0o600); err != nil {
			t.Fatal(err)
		}
		return addr
	}
	var (
		mu   sync.Mutex
		rows int
	)
	insert := func(n int) {
		tx, err := crm.Begin()
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		for range n {
			rows++
			if _, err := tx.Exec(`INSERT INTO contacts (email) VALUES (?)`, fmt.Sprintf("row%d@poll.example", rows)); err != nil {
				t.Error(err)
			}
		}
		mu.Unlock()
		if err := tx.Commit(); err != nil {
			t.Error(err)
		}
	}
	insert(300) // a backlog to page through
	const rounds = 5
	for round := 0; round < rounds; round++ {
		cmd := startBinary(t, bin, cfg, listenAt())
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				insert(1 + rand.IntN(20))
				time.Sleep(10 * time.Millisecond)
			}
		}()
		time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		stop()
		<-done
	}
	cmd := startBinary(t, bin, cfg, listenAt())
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	mu.Lock()
	total := rows
	mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	var missing []string
	for {
		missing = missing[:0]
		sink.mu.Lock()
		for i := 1; i <= total; i++ {
			if email := fmt.Sprintf("row%d@poll.example", i); sink.effects[email] == 0 {
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
		t.Fatalf("%d of %d rows never reached the sink, e.g. %v", len(missing), total, missing[:min(5, len(missing))])
	}
	time.Sleep(500 * time.Millisecond) // a late duplicate would show now
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for email, n := range sink.effects {
		if n > 1 {
			t.Errorf("row %s captured and applied %d times", email, n)
		}
	}
	t.Logf("%d rows polled across %d SIGKILLs; each delivered once by effect", total, rounds)
}
