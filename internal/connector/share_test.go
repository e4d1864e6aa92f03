package connector_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// window is the connectors' limiter shape, reduced to what sharing needs.
type window struct {
	slots    chan struct{}
	interval time.Duration
	share    connector.SlotShare
}

func newWindow(limit int) *window {
	w := &window{slots: make(chan struct{}, limit), interval: time.Second}
	for range limit {
		w.slots <- struct{}{}
	}
	return w
}

func (w *window) take() bool {
	select {
	case <-w.slots:
		return true
	default:
		return false
	}
}

func (w *window) put() {
	if !w.share.Absorb() {
		w.slots <- struct{}{}
	}
}

// free counts the slots available now, and puts them back.
func (w *window) free() int {
	n := 0
	for w.take() {
		n++
	}
	for range n {
		w.slots <- struct{}{}
	}
	return n
}

func TestSlotShare(t *testing.T) {
	t.Parallel()
	w := newWindow(10)
	w.share.Share(3, w.slots, w.interval)
	if n := w.free(); n != 3 {
		t.Fatalf("10 slots shared by 3: %d free, want 3", n)
	}
	if got := w.share.Every(w.interval); got != time.Second {
		t.Fatalf("interval %v, want unchanged", got)
	}
	// Back to one instance: everything is free again.
	w.share.Share(1, w.slots, w.interval)
	if n := w.free(); n != 10 {
		t.Fatalf("alone again: %d free, want 10", n)
	}

	// Slots in use when sharing starts are withheld as they come back.
	var inUse int
	for range 8 {
		if !w.take() {
			t.Fatal("no slot")
		}
		inUse++
	}
	w.share.Share(2, w.slots, w.interval) // keep 5: withhold the 2 free, owe 3
	if n := w.free(); n != 0 {
		t.Fatalf("%d free while 8 in use and 5 withheld", n)
	}
	for range inUse {
		w.put()
	}
	if n := w.free(); n != 5 {
		t.Fatalf("after the 8 came back: %d free, want 5", n)
	}
	// An instance died: 3 -> share by 1 gives every slot back, including
	// the ones still owed.
	w.share.Share(1, w.slots, w.interval)
	if n := w.free(); n != 10 {
		t.Fatalf("alone: %d free, want 10", n)
	}
}

func TestSlotShareStretchesSmallWindows(t *testing.T) {
	t.Parallel()
	// One message per second (Slack's posting pace) shared by three: one
	// slot each, coming back after three seconds.
	w := newWindow(1)
	w.share.Share(3, w.slots, w.interval)
	if n := w.free(); n != 1 {
		t.Fatalf("%d free, want 1 (a single slot is never withheld)", n)
	}
	if got := w.share.Every(w.interval); got != 3*time.Second {
		t.Fatalf("interval %v, want 3s", got)
	}
	// 4 per second shared by 3: one slot each per second. Never more
	// than the window allows in any interval (3 <= 4), at the cost of a
	// quarter of the quota while three instances run.
	w = newWindow(4)
	w.share.Share(3, w.slots, w.interval)
	if n, got := w.free(), w.share.Every(w.interval); n != 1 || got != time.Second {
		t.Fatalf("4/s by 3: %d slots every %v, want 1 every 1s", n, got)
	}
	// 2 per second shared by 3: one slot each every 1.5s.
	w = newWindow(2)
	w.share.Share(3, w.slots, w.interval)
	if n, got := w.free(), w.share.Every(w.interval); n != 1 || got != 1500*time.Millisecond {
		t.Fatalf("2/s by 3: %d slots every %v, want 1 every 1.5s", n, got)
	}
	w.share.Share(1, w.slots, w.interval)
	if n, got := w.free(), w.share.Every(w.interval); n != 2 || got != time.Second {
		t.Fatalf("alone: %d slots every %v, want 2 every 1s", n, got)
	}
}
