package pipeline_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
	"github.com/sluicehq/sluice/internal/ticket"
)

// twoInstances opens two gates over one store, each with its own group
// commit, like two `sluice serve` processes (on SQLite: one file, one
// process's driver; on PostgreSQL: two drivers on one schema).
func twoInstances(t *testing.T, driver string) ([2]*pipeline.Gate, *clock) {
	t.Helper()
	return twoInstancesWith(t, driver, cfg)
}

// twoInstancesWith is twoInstances with another configuration.
func twoInstancesWith(t *testing.T, driver, yaml string) ([2]*pipeline.Gate, *clock) {
	t.Helper()
	plan := pipelinetest.Plan(t, yaml)
	var drvs [2]store.Driver
	switch driver {
	case "sqlite":
		d, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		drvs = [2]store.Driver{d, d}
	case "postgres":
		dsn := pgSchema(t)
		for i := range drvs {
			d, err := storepg.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			drvs[i] = d
		}
	}
	clk := pipelinetest.NewClock(pipelinetest.Start)
	var out [2]*pipeline.Gate
	for i, d := range drvs {
		com := store.NewCommitter(d, 16)
		t.Cleanup(func() { com.Close() })
		out[i] = pipeline.New(pipeline.Config{Plan: plan, Driver: d, Committer: com, Clock: clk.Now})
	}
	return out, clk
}

// pgSchema is a fresh schema in SLUICE_TEST_POSTGRES, dropped at the end.
// Without the variable the test is skipped, except under CI, where it fails.
func pgSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SLUICE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SLUICE_TEST_POSTGRES is not set; CI must provide PostgreSQL")
		}
		t.Skip("SLUICE_TEST_POSTGRES is not set")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "sluice_test_" + hex.EncodeToString(b)
	exec := func(sql string) {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE SCHEMA ` + schema)
	t.Cleanup(func() { exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestTwoEditorsOneSave: two operators on two instances save the same held
// record, or the same escalation, from the version they both loaded, at
// the same moment (the clock does not move between them). Every round
// exactly one save lands and the other is told, with a *StaleError, that
// someone else changed it; never two silent writes. On both drivers.
func TestTwoEditorsOneSave(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			gs, clk := twoInstances(t, driver)
			ctx := context.Background()
			other, err := gs[0].Capture(ctx, pipeline.CaptureInput{Source: "forms", Payload: map[string]any{"email": "tk@b.co"}, Body: []byte(`{}`)})
			if err != nil {
				t.Fatal(err)
			}
			// Its hold runs out: an escalation to work on.
			clk.Add(2 * time.Hour)
			if n, err := gs[0].ExpireHolds(ctx); err != nil || n != 1 {
				t.Fatalf("expire holds: %d %v", n, err)
			}
			ex := pipeline.ExecutorOf(gs[0])
			escs, err := ex.EscalationList(ctx, &store.EscalationListParams{EventID: other.EventID})
			if err != nil || len(escs) != 1 {
				t.Fatalf("escalations: %+v %v", escs, err)
			}
			held, err := gs[0].Capture(ctx, pipeline.CaptureInput{Source: "forms", Payload: map[string]any{"email": "held@b.co"}, Body: []byte(`{}`)})
			if err != nil || held.State != store.EventHeld {
				t.Fatalf("capture: %+v %v", held, err)
			}
			esc := escs[0].ID
			const rounds = 8
			for round := range rounds {
				ev, err := ex.EventGetByID(ctx, held.EventID)
				if err != nil {
					t.Fatal(err)
				}
				tk, err := ex.TicketGetByID(ctx, esc)
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				var holdErrs, tkErrs [2]error
				for i, g := range gs {
					wg.Add(2)
					go func() {
						defer wg.Done()
						_, holdErrs[i] = g.HoldPatchIf(ctx, held.EventID, map[string]any{"company": fmt.Sprintf("Co %d-%d", round, i)}, fmt.Sprintf("console:op%d", i), ev.UpdatedAt)
					}()
					go func() {
						defer wg.Done()
						_, tkErrs[i] = ticket.New(ticket.Config{Gate: g, Read: pipeline.ExecutorOf(g), Clock: clk.Now}).AssignIf(ctx, esc, fmt.Sprintf("op%d", i), fmt.Sprintf("console:op%d", i), tk.UpdatedAt)
					}()
				}
				wg.Wait()
				for what, errs := range map[string][2]error{"hold": holdErrs, "ticket": tkErrs} {
					var ok, stale int
					for _, err := range errs {
						var se *pipeline.StaleError
						switch {
						case err == nil:
							ok++
						case errors.As(err, &se):
							stale++
						default:
							t.Fatalf("round %d %s: %v", round, what, err)
						}
					}
					if ok != 1 || stale != 1 {
						t.Fatalf("round %d %s: %d saves landed and %d were told of a conflict (%v); want 1 and 1", round, what, ok, stale, errs)
					}
				}
			}
		})
	}
}
