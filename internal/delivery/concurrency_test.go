package delivery

import (
	"testing"
	"time"
)

// run completes n requests with the given latency and outcome, keeping the
// limit fully used, and returns the limit after.
func run(c *concLimit, now *time.Time, n int, latency time.Duration, o concOutcome) int {
	for range n {
		for c.Free() > 0 {
			c.Acquire()
		}
		*now = now.Add(latency / time.Duration(max(c.Limit(), 1)))
		c.Release(latency, o, *now)
	}
	return c.Limit()
}

// TestConcurrencyGrowsWhileLatencyHolds: a fast destination whose latency
// does not change with load gets the maximum.
func TestConcurrencyGrowsWhileLatencyHolds(t *testing.T) {
	c, now := newConcLimit(0), time.Unix(0, 0)
	if got := run(c, &now, 10000, 2*time.Millisecond, concOK); got != MaxConcurrency {
		t.Fatalf("limit %d, want %d", got, MaxConcurrency)
	}
}

// TestConcurrencyShrinksWhenLatencyJumps: when requests suddenly take far
// longer than usual (the destination is struggling), the limit comes down
// round after round until the new latency has become the usual one.
func TestConcurrencyShrinksWhenLatencyJumps(t *testing.T) {
	c, now := newConcLimit(0), time.Unix(0, 0)
	run(c, &now, 5000, 2*time.Millisecond, concOK)
	high := c.Limit()
	got := run(c, &now, 3*high, 50*time.Millisecond, concOK)
	if got > high-3 {
		t.Fatalf("limit %d after latency rose 25-fold (was %d)", got, high)
	}
	got = run(c, &now, 20000, 50*time.Millisecond, concOK)
	if got < MinConcurrency || got > MaxConcurrency {
		t.Fatalf("limit %d outside its bounds", got)
	}
}

// TestConcurrencyShrinksOnTimeoutsAndErrorStorms, not on isolated errors.
func TestConcurrencyShrinksOnTimeoutsAndErrorStorms(t *testing.T) {
	c, now := newConcLimit(0), time.Unix(0, 0)
	run(c, &now, 5000, time.Millisecond, concOK)
	high := c.Limit()
	// 1 failure in 20: no shrinking.
	for i := range 2000 {
		o := concOK
		if i%20 == 0 {
			o = concFailed
		}
		run(c, &now, 1, time.Millisecond, o)
	}
	if c.Limit() < high {
		t.Fatalf("limit fell from %d to %d on 5%% isolated errors", high, c.Limit())
	}
	if got := run(c, &now, 500, time.Millisecond, concFailed); got >= high/2 {
		t.Fatalf("limit %d after an error storm (was %d)", got, high)
	}
	c2, now2 := newConcLimit(0), time.Unix(0, 0)
	run(c2, &now2, 5000, time.Millisecond, concOK)
	before := c2.Limit()
	if got := run(c2, &now2, 1, time.Millisecond, concTimeout); got >= before {
		t.Fatalf("timeout did not shrink the limit (%d -> %d)", before, got)
	}
}

// TestConcurrencyFixedWhenConfigured: a configured concurrency is kept.
func TestConcurrencyFixedWhenConfigured(t *testing.T) {
	c, now := newConcLimit(3), time.Unix(0, 0)
	if got := run(c, &now, 1000, time.Millisecond, concOK); got != 3 {
		t.Fatalf("limit %d, want 3", got)
	}
	if got := run(c, &now, 100, time.Millisecond, concTimeout); got != 3 {
		t.Fatalf("limit %d after timeouts, want 3", got)
	}
}
