package connector

import (
	"context"
	"testing"
	"time"
)

// takeAll takes every slot the window gives within a moment and releases
// them (they come back one interval later); it returns how many it got.
func takeAll(w *Window) int {
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := w.Acquire(ctx)
		cancel()
		if err != nil {
			return n
		}
		n++
		defer w.Release()
	}
}

func TestWindowShareRate(t *testing.T) {
	t.Parallel()
	w := NewWindow(6, 150*time.Millisecond)
	w.ShareRate(3)
	if n := takeAll(w); n != 2 {
		t.Fatalf("6 slots shared by 3: took %d, want 2", n)
	}
	time.Sleep(400 * time.Millisecond)
	if n := takeAll(w); n != 2 {
		t.Fatalf("after the interval: took %d, want 2 again", n)
	}
	w.ShareRate(1) // the other instances died
	time.Sleep(400 * time.Millisecond)
	if n := takeAll(w); n != 6 {
		t.Fatalf("alone: took %d, want 6", n)
	}
}

func TestWindowGiveBackAndFree(t *testing.T) {
	t.Parallel()
	w := NewWindow(2, time.Hour)
	ctx := context.Background()
	if err := w.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Free() != 1 {
		t.Fatalf("free = %d, want 1", w.Free())
	}
	w.GiveBack() // taken but not used: back at once
	if w.Free() != 2 {
		t.Fatalf("free after GiveBack = %d, want 2", w.Free())
	}
	w.Acquire(ctx)
	w.Acquire(ctx)
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := w.Acquire(short); err == nil {
		t.Fatal("a third slot within the interval")
	}
}
