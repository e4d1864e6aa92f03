package delivery

import (
	"sync"
	"time"
)

// Adaptive concurrency bounds. A destination that does not set its
// concurrency starts at DefaultConcurrency requests in flight and adapts
// between MinConcurrency and MaxConcurrency.
const (
	DefaultConcurrency = 8
	MinConcurrency     = 1
	MaxConcurrency     = 64
)

// latencySlack is how much a round's average latency may exceed the
// destination's unloaded latency (minRTT) before the limit stops growing
// and shrinks: twice minRTT, plus a few milliseconds so that a sub-
// millisecond local sink is not judged by scheduler noise.
const latencySlack = 5 * time.Millisecond

// concLimit is the number of requests a destination may have in flight.
// Fixed when the destination (or its connector) sets a concurrency;
// otherwise adaptive, in the manner of TCP congestion control driven by
// latency (like Netflix's concurrency-limits gradient/AIMD limiters): each
// round of about limit answers, the limit grows by one if the round's
// average latency stayed within 2*minRTT+slack and the limit was actually
// used, and shrinks by a tenth if latency rose past that, if an attempt
// timed out, or if more than a fifth of the round's answers were
// retryable failures (5xx, 429). An isolated error does not shrink it:
// random failures say nothing about load.
type concLimit struct {
	mu       sync.Mutex
	adaptive bool
	limit    int
	inflight int

	minRTT   time.Duration
	minRTTAt time.Time

	roundN, roundFail int
	roundSum          time.Duration
	roundPeak         int
}

func newConcLimit(fixed int) *concLimit {
	if fixed > 0 {
		return &concLimit{limit: fixed}
	}
	return &concLimit{adaptive: true, limit: DefaultConcurrency}
}

// Free is how many more requests may start now.
func (c *concLimit) Free() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.limit-c.inflight, 0)
}

// Limit is the current limit.
func (c *concLimit) Limit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limit
}

// Acquire counts one more request in flight. The caller checked Free; a
// limit that shrank meanwhile lets the excess finish.
func (c *concLimit) Acquire() {
	c.mu.Lock()
	c.inflight++
	c.roundPeak = max(c.roundPeak, c.inflight)
	c.mu.Unlock()
}

// Outcome of one request for the limit.
type concOutcome int

const (
	concOK      concOutcome = iota // answered (success or a record's own error)
	concFailed                     // retryable failure: 5xx, 429, connection error
	concTimeout                    // no answer in time: the clearest overload signal
	concNone                       // no request was sent (e.g. refused by the breaker)
)

// Release ends one request, with the latency of its answer.
func (c *concLimit) Release(latency time.Duration, o concOutcome, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	if !c.adaptive || o == concNone {
		return
	}
	if o == concTimeout {
		c.shrink()
		c.resetRound()
		return
	}
	if o == concOK && (c.minRTT == 0 || latency < c.minRTT || now.Sub(c.minRTTAt) > time.Minute) {
		// The unloaded latency is re-learnt every minute, so a destination
		// that got slower for good is not measured against its past.
		c.minRTT, c.minRTTAt = latency, now
	}
	c.roundN++
	c.roundSum += latency
	if o == concFailed {
		c.roundFail++
	}
	if c.roundN < max(c.limit, 4) {
		return
	}
	avg := c.roundSum / time.Duration(c.roundN)
	switch {
	case c.roundFail*5 > c.roundN, c.minRTT > 0 && avg > 2*c.minRTT+latencySlack:
		c.shrink()
	case c.roundPeak*2 >= c.limit:
		c.limit = min(c.limit+1, MaxConcurrency)
	}
	c.resetRound()
}

func (c *concLimit) shrink() {
	c.limit = max(c.limit-max(c.limit/10, 1), MinConcurrency)
}

func (c *concLimit) resetRound() {
	c.roundN, c.roundFail, c.roundSum, c.roundPeak = 0, 0, 0, c.inflight
}
