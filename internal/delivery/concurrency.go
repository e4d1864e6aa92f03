package delivery

import (
	"sync"
	"time"
)

// Adaptive concurrency bounds. A destination that does not set its
// concurrency starts at DefaultConcurrency requests in flight and adapts
// between MinConcurrency and MaxConcurrency. The floor is the fixed
// default Sluice used before adapting (4), so adapting never holds an
// untuned destination below what it had: latency is a noisy signal for
// batch requests, whose latency varies with the batch's size (HubSpot
// batches of 1-100 records) and with the CPU the machine has to spare. A
// destination that cannot take four requests at once is the circuit
// breaker's business, or its configured concurrency's.
const (
	DefaultConcurrency = 8
	MinConcurrency     = 4
	MaxConcurrency     = 64
)

// latencySlack is how much a round's average latency may exceed the
// destination's usual latency before the limit shrinks: twice the usual,
// plus a few milliseconds so that a sub-millisecond local sink is not
// judged by scheduler noise.
const latencySlack = 5 * time.Millisecond

// concLimit is the number of requests a destination may have in flight.
// Fixed when the destination (or its connector) sets a concurrency;
// otherwise adaptive, in the manner of TCP congestion control driven by
// latency (like Netflix's concurrency-limits gradient and AIMD limiters):
// each round of about limit answers, the limit grows by one if it was
// actually used and the round's average latency stayed within twice the
// destination's usual latency (a slow moving average of past rounds) plus
// latencySlack; it shrinks by a tenth if latency jumped past that, if an
// attempt timed out, or if more than a fifth of the round's answers were
// retryable failures (5xx, 429). An isolated error does not shrink it:
// random failures say nothing about load. The usual latency follows the
// rounds, so a latency that rises slowly with load (a CPU-bound local
// sink sharing the machine) does not hold the limit down; the bounds and
// the failure signals do.
type concLimit struct {
	mu       sync.Mutex
	adaptive bool
	limit    int
	inflight int

	usual time.Duration // moving average of round latencies

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
	case c.roundFail*5 > c.roundN, c.usual > 0 && avg > 2*c.usual+latencySlack:
		c.shrink()
	case c.roundPeak*2 >= c.limit:
		c.limit = min(c.limit+1, MaxConcurrency)
	}
	if c.usual == 0 {
		c.usual = avg
	} else {
		c.usual = (9*c.usual + avg) / 10
	}
	c.resetRound()
}

func (c *concLimit) shrink() {
	c.limit = max(c.limit-max(c.limit/10, 1), MinConcurrency)
}

func (c *concLimit) resetRound() {
	c.roundN, c.roundFail, c.roundSum, c.roundPeak = 0, 0, 0, c.inflight
}
