package sim

import (
	"sync"
	"time"
)

// Window is a rolling-window rate limiter: at most Limit requests in any
// Interval, counted per key (a token, an account, a base). It is exact, the
// way a platform that documents "100 requests per rolling 10 seconds"
// counts: the request that would be the Limit+1st inside the last Interval
// is refused, and a refused request does not use up capacity. It is safe for
// concurrent use.
type Window struct {
	limit    int
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	hits    map[string][]time.Time // ascending
	refused int64
}

// Decision is the outcome of Window.Take, with what a platform puts in its
// rate-limit headers.
type Decision struct {
	Allowed bool
	// Limit is the window's capacity.
	Limit int
	// Remaining is how many more requests the window takes now (after this
	// one, when it was allowed).
	Remaining int
	// RetryAfter is, for a refused request, how long until the oldest
	// request in the window leaves it.
	RetryAfter time.Duration
}

// NewWindow builds a limiter of limit requests per interval; limit <= 0
// allows everything. now is the clock (nil for time.Now).
func NewWindow(limit int, interval time.Duration, now func() time.Time) *Window {
	if now == nil {
		now = time.Now
	}
	return &Window{limit: limit, interval: interval, now: now, hits: map[string][]time.Time{}}
}

// Take counts one request for key if the window has room.
func (w *Window) Take(key string) Decision {
	if w.limit <= 0 {
		return Decision{Allowed: true}
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.live(key, now)
	if len(h) >= w.limit {
		w.refused++
		w.hits[key] = h
		return Decision{Limit: w.limit, RetryAfter: h[0].Add(w.interval).Sub(now)}
	}
	w.hits[key] = append(h, now)
	return Decision{Allowed: true, Limit: w.limit, Remaining: w.limit - len(h) - 1}
}

// Remaining is how many requests key may still make now, without counting
// one.
func (w *Window) Remaining(key string) int {
	if w.limit <= 0 {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.live(key, w.now())
	w.hits[key] = h
	return w.limit - len(h)
}

// live drops the hits of key that left the window: a hit at t counts while
// now < t+interval.
func (w *Window) live(key string, now time.Time) []time.Time {
	h := w.hits[key]
	i := 0
	for i < len(h) && !now.Before(h[i].Add(w.interval)) {
		i++
	}
	return h[i:]
}

// Refused counts the requests refused since the last Reset.
func (w *Window) Refused() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused
}

// Reset empties every window.
func (w *Window) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hits = map[string][]time.Time{}
	w.refused = 0
}
