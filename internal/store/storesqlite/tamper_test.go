package storesqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// TestAuditTamperIsDetected edits and deletes rows behind Sluice's back and
// checks that verification fails and names the row.
func TestAuditTamperIsDetected(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		sql     string
		wantSeq int64
	}{
		{"modified message", `UPDATE audit_log SET message = 'nothing to see' WHERE seq = 3`, 3},
		{"modified actor", `UPDATE audit_log SET actor = 'admin:mallory' WHERE seq = 5`, 5},
		{"deleted row", `DELETE FROM audit_log WHERE seq = 4`, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.db")
			d, err := storesqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			tx, _ := d.Begin(ctx)
			for i := 0; i < 6; i++ {
				if err := tx.AuditAppend(ctx, &store.AuditEntry{At: time.Now(), EventID: "evt_x", Actor: "system", Action: audit.ActionState, Message: "m"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if _, err := audit.Verify(ctx, d.Executor()); err != nil {
				t.Fatalf("untouched chain: %v", err)
			}
			raw, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			_, err = audit.Verify(ctx, d.Executor())
			var be *audit.BrokenError
			if !errors.As(err, &be) || be.Seq != tc.wantSeq {
				t.Fatalf("verify = %v, want broken at seq %d", err, tc.wantSeq)
			}
		})
	}
}

// TestEventWithoutTrailIsIncomplete writes an event, and a state change,
// behind the audit log's back: VerifyComplete must name both.
func TestEventWithoutTrailIsIncomplete(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	d, err := storesqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.Now()
	tx, _ := d.Begin(ctx)
	for _, id := range []string{"evt_a", "evt_b"} {
		if _, _, err := tx.EventInsert(ctx, &store.Event{ID: id, Source: "s", State: store.EventDelivering, Raw: []byte("{}"), ReceivedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := tx.AuditAppend(ctx, &store.AuditEntry{At: now, EventID: id, Actor: "source:s", Action: audit.ActionCaptured, Outcome: string(store.EventDelivering)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if c, err := pipeline.VerifyComplete(ctx, d.Executor()); err != nil || len(c.Gaps) != 0 || c.Events != 2 {
		t.Fatalf("complete log reported %+v %v", c, err)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE events SET state = 'delivered' WHERE id = 'evt_a'`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO events (id, source, state, raw, received_at, updated_at) VALUES ('evt_c', 's', 'held', x'7b7d', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	c, err := pipeline.VerifyComplete(ctx, d.Executor())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range c.Gaps {
		got[g.EventID] = g.Reason
	}
	if len(got) != 2 || got["evt_a"] == "" || got["evt_c"] != "no capture entry" {
		t.Fatalf("gaps = %v", c.Gaps)
	}
}
