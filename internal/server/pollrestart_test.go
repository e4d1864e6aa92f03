package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/audit"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
)

// queriesSince are the database queries the simulator got after the
// first n.
func (c *countingSim) queriesSince(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.queries[n:]...)
}

func (c *countingSim) queryCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queries)
}

// TestRestartPollSourceOtherDatabaseResetsCursor: a poll source pointed at
// another database while Sluice was stopped (no reload saw the change)
// forgets its stored cursor at the next start, audited, and reads the new
// database from its start; restarted with the same database, it resumes
// from the cursor.
func TestRestartPollSourceOtherDatabaseResetsCursor(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testRestartPollSource(t, filepath.Join(t.TempDir(), "sluice.db")) })
	t.Run("postgres", func(t *testing.T) { testRestartPollSource(t, pgSchemaDSN(t)) })
}

func testRestartPollSource(t *testing.T, storeAt string) {
	ns := startCountingSim(t, pollTokenA)
	src := pollSrc{name: "a", url: ns.url, token: pollTokenA, db: notionsim.DefaultDatabaseID, interval: "1h"}
	h := startPollReloadOn(t, storeAt, src)
	ns.createPage(t, notionsim.DefaultDatabaseID, "first@x.co")
	if _, err := h.srv.PollNow(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first@x.co delivered", func() bool { return h.sink.count("first@x.co") == 1 })

	// The same database after a restart: the cursor is kept.
	h.stop()
	n := ns.queryCount()
	h.start(src)
	if _, err := h.srv.PollNow(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if q := ns.queriesSince(n); len(q) == 0 || !strings.Contains(q[0], "on_or_after") {
		t.Fatalf("first query after a restart with the same database reads from the start: %v", q)
	}
	if hasAudit(t, h.srv.Driver, audit.ActionPollCursorReset) {
		t.Fatal("cursor reset though the source's identity did not change")
	}

	// Another database, changed while stopped.
	h.stop()
	ns.createPage(t, otherDatabaseID, "other@x.co")
	n = ns.queryCount()
	src.db = otherDatabaseID
	h.start(src)
	if _, err := h.srv.PollNow(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "other@x.co delivered", func() bool { return h.sink.count("other@x.co") == 1 })
	if q := ns.queriesSince(n); len(q) == 0 || strings.Contains(q[0], "on_or_after") {
		t.Fatalf("first query after the restart with another database does not read from the start: %v", q)
	}
	if !hasAudit(t, h.srv.Driver, audit.ActionPollCursorReset) {
		t.Fatal("no poll_cursor_reset audit entry")
	}
}
