package delivery

import (
	"time"

	"golang.org/x/time/rate"
)

// lastError is a destination's latest failed attempt on this instance.
type lastError struct {
	At      time.Time
	Class   string
	Status  int
	Message string
}

// Health is what an operator sees of one destination's worker on this
// instance (the console's Destinations page): its circuit, its pace and
// its latest failure. The message is the connector's, unredacted: show it
// through the gate's Clean.
type Health struct {
	// Breaker is the circuit's state: "closed", "half-open" or "open".
	Breaker string
	// Failures is the run of consecutive failed requests the breaker
	// counts towards opening.
	Failures uint32
	// Rate is the token bucket's steady rate (requests per second, 0 when
	// unlimited); Adaptive the rate 429s have cut it to (0: no cut).
	Rate, Adaptive float64
	// Concurrency is the current limit of requests in flight.
	Concurrency int
	// LastErrorAt is zero when no attempt has failed since start.
	LastErrorAt time.Time
	LastClass   string
	LastStatus  int
	LastError   string
}

// Health reports a destination's worker; ok is false for a destination the
// engine does not run.
func (e *Engine) Health(destination string) (h Health, ok bool) {
	e.mu.RLock()
	w := e.dests[destination]
	e.mu.RUnlock()
	if w == nil {
		return h, false
	}
	h.Breaker = w.breaker.State().String()
	h.Failures = w.breaker.Counts().ConsecutiveFailures
	if w.limiter.Limit() != rate.Inf {
		h.Rate = float64(w.limiter.Limit())
	}
	h.Adaptive = w.gov.Rate()
	h.Concurrency = w.conc.Limit()
	w.mu.Lock()
	le := w.lastErr
	w.mu.Unlock()
	h.LastErrorAt, h.LastClass, h.LastStatus, h.LastError = le.At, le.Class, le.Status, le.Message
	return h, true
}
