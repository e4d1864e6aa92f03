package connector_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

func newWindow(limit int) *connector.Window { return connector.NewWindow(limit, time.Second) }

// take takes a free slot without waiting.
func take(w *connector.Window) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return w.Acquire(ctx) == nil
}

func TestSlotShare(t *testing.T) {
	t.Parallel()
	w := newWindow(10)
	w.ShareRate(3)
	if n := w.Free(); n != 3 {
		t.Fatalf("10 slots shared by 3: %d free, want 3", n)
	}
	if got := w.Every(); got != time.Second {
		t.Fatalf("interval %v, want unchanged", got)
	}
	// Back to one instance: everything is free again.
	w.ShareRate(1)
	if n := w.Free(); n != 10 {
		t.Fatalf("alone again: %d free, want 10", n)
	}

	// Slots in use when sharing starts are withheld as they come back.
	var inUse int
	for range 8 {
		if !take(w) {
			t.Fatal("no slot")
		}
		inUse++
	}
	w.ShareRate(2) // keep 5: withhold the 2 free, owe 3
	if n := w.Free(); n != 0 {
		t.Fatalf("%d free while 8 in use and 5 withheld", n)
	}
	for range inUse {
		w.GiveBack()
	}
	if n := w.Free(); n != 5 {
		t.Fatalf("after the 8 came back: %d free, want 5", n)
	}
	// An instance died: 3 -> share by 1 gives every slot back, including
	// the ones still owed.
	w.ShareRate(1)
	if n := w.Free(); n != 10 {
		t.Fatalf("alone: %d free, want 10", n)
	}
}

func TestSlotShareStretchesSmallWindows(t *testing.T) {
	t.Parallel()
	// One message per second (Slack's posting pace) shared by three: one
	// slot each, coming back after three seconds.
	w := newWindow(1)
	w.ShareRate(3)
	if n := w.Free(); n != 1 {
		t.Fatalf("%d free, want 1 (a single slot is never withheld)", n)
	}
	if got := w.Every(); got != 3*time.Second {
		t.Fatalf("interval %v, want 3s", got)
	}
	// 4 per second shared by 3: one slot each per second. Never more
	// than the window allows in any interval (3 <= 4), at the cost of a
	// quarter of the quota while three instances run.
	w = newWindow(4)
	w.ShareRate(3)
	if n, got := w.Free(), w.Every(); n != 1 || got != time.Second {
		t.Fatalf("4/s by 3: %d slots every %v, want 1 every 1s", n, got)
	}
	// 2 per second shared by 3: one slot each every 1.5s.
	w = newWindow(2)
	w.ShareRate(3)
	if n, got := w.Free(), w.Every(); n != 1 || got != 1500*time.Millisecond {
		t.Fatalf("2/s by 3: %d slots every %v, want 1 every 1.5s", n, got)
	}
	w.ShareRate(1)
	if n, got := w.Free(), w.Every(); n != 2 || got != time.Second {
		t.Fatalf("alone: %d slots every %v, want 2 every 1s", n, got)
	}
}
