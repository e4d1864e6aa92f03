package connector

import (
	"context"
	"time"
)

// Window keeps a client under a "limit requests per rolling interval"
// quota, the way the platforms count: a request takes a slot before it is
// sent, and the slot comes back one interval after the answer arrived.
// Since a platform counts a request when it arrives, before the answer, any
// limit+1 requests it sees are at least one interval apart. It is exact
// where a token bucket (which lets burst + rate*interval through) is not.
// With several instances on one credential, ShareRate keeps this one to its
// share (SlotShare).
type Window struct {
	slots    chan struct{}
	interval time.Duration
	share    SlotShare
}

// NewWindow returns a window of limit requests per interval, all free.
func NewWindow(limit int, interval time.Duration) *Window {
	w := &Window{slots: make(chan struct{}, limit), interval: interval}
	for range limit {
		w.slots <- struct{}{}
	}
	return w
}

// Acquire takes a slot, waiting for one until ctx ends.
func (w *Window) Acquire(ctx context.Context) error {
	select {
	case <-w.slots:
		return nil
	default:
	}
	select {
	case <-w.slots:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release returns a used slot one interval (as shared) from now.
func (w *Window) Release() { time.AfterFunc(w.Every(), w.GiveBack) }

// GiveBack returns a slot now: one that was taken but not used, or one
// whose interval is over. A slot owed to other instances is kept back.
func (w *Window) GiveBack() {
	if !w.share.Absorb() {
		w.slots <- struct{}{}
	}
}

// ShareRate gives this instance 1/n of the window.
func (w *Window) ShareRate(n int) { w.share.Share(n, w.slots, w.interval) }

// Every is how long after an answer its slot comes back.
func (w *Window) Every() time.Duration { return w.share.Every(w.interval) }

// Free counts the slots available now, without taking them.
func (w *Window) Free() int { return len(w.slots) }
