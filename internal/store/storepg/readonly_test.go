package storepg_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
)

// TestOpenReadOnly: the shadow run's connection reads what is stored,
// and PostgreSQL itself refuses its writes; an unmigrated schema is named.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	if _, err := storepg.OpenReadOnly(ctx, dsn); err == nil || !strings.Contains(err.Error(), "not a Sluice store") {
		t.Fatalf("read-only open of an empty schema: %v", err)
	}
	rw, err := storepg.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	tx, err := rw.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tx.EventInsert(ctx, &store.Event{ID: "evt_ro", Source: "s", Flow: "f", State: store.EventHeld, ContentType: "application/json",
		Raw: []byte(`{}`), ConfigVersion: "v1", ReceivedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	ro, err := storepg.OpenReadOnly(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ev, err := ro.Executor().EventGetByID(ctx, "evt_ro")
	if err != nil || ev.ConfigVersion != "v1" {
		t.Fatalf("read: %+v %v", ev, err)
	}
	err = ro.Executor().EventUpdate(ctx, &store.EventUpdateParams{ID: "evt_ro", State: store.EventDiscarded, Now: now})
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write through the read-only driver: %v, want PostgreSQL's read-only refusal", err)
	}
}
