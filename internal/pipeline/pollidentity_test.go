package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
)

// TestPollCursorIdentify: the identity stored with a poll cursor decides
// at a loop's first read whether the cursor still applies. A cursor from
// before identities is kept and adopts the identity; the same identity
// keeps it; another one resets it with a poll_cursor_reset entry naming
// both, as does a reload's reason; a source without a cursor gets its
// identity stored.
func TestPollCursorIdentify(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			gs, _ := twoInstancesWith(t, driver, cfg)
			g, ex := gs[0], pipeline.ExecutorOf(gs[0])
			ctx := context.Background()
			tx, err := pipeline.DriverOf(g).Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.PollCursorPut(ctx, "s", `{"at":"2026-12-01T00:00:00Z"}`, pipelinetest.Start); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			resets := func() []*store.AuditEntry {
				var out []*store.AuditEntry
				if err := ex.AuditScan(ctx, 0, func(e *store.AuditEntry) error {
					if e.Action == audit.ActionPollCursorReset {
						out = append(out, e)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				return out
			}
			step := func(source, identity, reason string, wantReset bool, wantCursor string, wantResets int) {
				t.Helper()
				reset, err := g.PollCursorIdentify(ctx, source, identity, reason)
				if err != nil || reset != wantReset {
					t.Fatalf("identify %s as %q (%q): reset %v %v, want %v", source, identity, reason, reset, err, wantReset)
				}
				if c, err := g.PollCursor(ctx, source); err != nil || c != wantCursor {
					t.Fatalf("cursor of %s: %q %v, want %q", source, c, err, wantCursor)
				}
				if id, err := ex.PollCursorIdentityGet(ctx, source); err != nil || id != identity {
					t.Fatalf("identity of %s: %q %v, want %q", source, id, err, identity)
				}
				if n := len(resets()); n != wantResets {
					t.Fatalf("%d poll_cursor_reset entries, want %d", n, wantResets)
				}
			}
			old := `{"at":"2026-12-01T00:00:00Z"}`
			step("s", "poll of notion A", "", false, old, 0) // from before identities: adopted
			step("s", "poll of notion A", "", false, old, 0)
			step("s", "poll of notion B", "", true, "", 1)
			if m := resets()[0].Message; !strings.Contains(m, "poll of notion A") || !strings.Contains(m, "poll of notion B") || !strings.Contains(m, "source s") {
				t.Errorf("reset entry: %q", m)
			}
			step("s", "poll of notion C", "a config reload changed the source", true, "", 2)
			if m := resets()[1].Message; !strings.Contains(m, "a config reload changed the source") {
				t.Errorf("reload's reset entry: %q", m)
			}
			step("n", "webhook w of airtable b", "", false, "", 2)
			if rep, err := audit.Verify(ctx, ex); err != nil {
				t.Errorf("audit verify: %+v %v", rep, err)
			}
		})
	}
}
