package delivery

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxRetryAfter clamps a destination's Retry-After: a platform (or a broken
// proxy) asking for an hour's wait must not park a delivery, or the whole
// destination, for that long; after the clamp the request is simply tried
// again and, if still refused, answered with another 429.
const MaxRetryAfter = 5 * time.Minute

// clampRetryAfter bounds a Retry-After to [0, MaxRetryAfter].
func clampRetryAfter(d time.Duration) time.Duration {
	return min(max(d, 0), MaxRetryAfter)
}

// Throttle detection. A single 429 says nothing about a limit: platforms
// and proxies answer a few at random (shard rebalancing, a noisy
// neighbour). A limit that is really being exceeded answers a large share
// of requests with 429, since everything beyond the quota is refused. The
// governor therefore looks at the 429 share over a short window and calls
// a limit real only when at least realMin429 answers and realShare of all
// answers in the window were 429s. With 5% random 429s the chance of a
// window of 12 answers holding 3 of them is under 2%, and of 40 answers
// holding 10 under 10^-4; a real limit exceeded by a third or more trips it
// within one window.
const (
	realShare   = 0.25
	realMin429  = 3
	throttleWin = time.Second
)

// CUBIC constants, as in the AWS SDKs' adaptive retry mode (which takes
// them from RFC 8312): after a real throttle the rate drops to beta times
// what was being sent, then grows back along a cubic curve that is flat
// around the rate that was throttled and steep far from it.
const (
	cubicBeta  = 0.7
	cubicScale = 0.4
	minRate    = 0.5 // requests per second; never stop altogether
)

// rateGovernor is the adaptive client-side rate of one destination and
// credential. It starts disabled (no limit of its own beyond the
// connector's documented windows and token bucket); the first real throttle
// enables it at beta times the measured send rate, and it then grows back
// by CUBIC. Once it has grown well past the rate that was throttled it
// disables itself again. Every worker sending with the same credential
// shares one governor, because the platform counts them together.
type rateGovernor struct {
	mu  sync.Mutex
	now func() time.Time
	lim *rate.Limiter

	enabled      bool
	lastMaxRate  float64 // send rate when last throttled
	lastThrottle time.Time
	k            float64 // CUBIC's K: seconds until the curve is back at lastMaxRate

	// measured send rate (EWMA over half-second buckets)
	measured    float64
	bucketStart time.Time
	bucketCount int

	// throttle detection window
	winStart   time.Time
	winTotal   int
	win429     int
	prevTotal  int
	prev429    int
	lastCutAt  time.Time
	decreases  int64
	throttles  int64
	successful int64
}

func newRateGovernor(now func() time.Time) *rateGovernor {
	return &rateGovernor{now: now, lim: rate.NewLimiter(rate.Inf, 1)}
}

// Wait blocks until the governor lets one more request go.
func (g *rateGovernor) Wait(ctx context.Context) error { return g.lim.Wait(ctx) }

// Rate is the governor's current rate in requests per second, 0 while it
// is disabled (no limit of its own).
func (g *rateGovernor) Rate() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.enabled {
		return 0
	}
	return float64(g.lim.Limit())
}

// Observe records the answer to one request: throttled is a 429. It
// returns true when this answer made the governor decide that a real limit
// is being exceeded (and so cut its rate); the caller then also honours
// the Retry-After for the whole destination.
func (g *rateGovernor) Observe(throttled bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.measure(now)
	g.roll(now)
	g.winTotal++
	if throttled {
		g.win429++
		g.throttles++
	} else {
		g.successful++
	}
	if throttled && g.real() && now.Sub(g.lastCutAt) >= throttleWin/2 {
		g.cut(now)
		return true
	}
	if !throttled && g.enabled {
		g.grow(now)
	}
	return false
}

// measure keeps an EWMA of the send rate (answers per second).
func (g *rateGovernor) measure(now time.Time) {
	const bucket = 500 * time.Millisecond
	if g.bucketStart.IsZero() {
		g.bucketStart = now
	}
	g.bucketCount++
	if el := now.Sub(g.bucketStart); el >= bucket {
		cur := float64(g.bucketCount) / el.Seconds()
		if g.measured == 0 {
			g.measured = cur
		} else {
			g.measured = 0.8*cur + 0.2*g.measured
		}
		g.bucketStart, g.bucketCount = now, 0
	}
}

// roll moves the detection window on; the previous window still counts, so
// the share is taken over one to two windows.
func (g *rateGovernor) roll(now time.Time) {
	if g.winStart.IsZero() {
		g.winStart = now
	}
	if el := now.Sub(g.winStart); el >= throttleWin {
		if el >= 2*throttleWin {
			g.prevTotal, g.prev429 = 0, 0
		} else {
			g.prevTotal, g.prev429 = g.winTotal, g.win429
		}
		g.winStart, g.winTotal, g.win429 = now, 0, 0
	}
}

// real reports whether the 429s in the window say a limit is exceeded.
func (g *rateGovernor) real() bool {
	n, t := g.win429+g.prev429, g.winTotal+g.prevTotal
	return n >= realMin429 && float64(n) >= realShare*float64(t)
}

// cut is CUBIC's multiplicative decrease.
func (g *rateGovernor) cut(now time.Time) {
	base := g.measured
	if base <= 0 {
		base = float64(g.winTotal + g.prevTotal) // not measured yet: answers in the window
	}
	if g.enabled {
		base = min(base, float64(g.lim.Limit()))
	}
	base = max(base, minRate)
	g.lastMaxRate = base
	g.k = math.Cbrt(base * (1 - cubicBeta) / cubicScale)
	g.lastThrottle, g.lastCutAt = now, now
	g.enabled = true
	g.decreases++
	g.set(base * cubicBeta)
	// The answers that led to this cut must not lead to the next one.
	g.prevTotal, g.prev429, g.winTotal, g.win429 = 0, 0, 0, 0
	g.winStart = now
}

// grow follows the CUBIC curve from the last throttle, never more than
// twice the rate actually being sent (an idle destination must not bank a
// high rate), and disables the governor once well past the old maximum.
func (g *rateGovernor) grow(now time.Time) {
	t := now.Sub(g.lastThrottle).Seconds()
	r := cubicScale*math.Pow(t-g.k, 3) + g.lastMaxRate
	if r >= 2*g.lastMaxRate {
		g.enabled = false
		g.lim.SetLimit(rate.Inf)
		return
	}
	if g.measured > 0 {
		r = min(r, 2*g.measured)
	}
	g.set(r)
}

func (g *rateGovernor) set(r float64) {
	r = max(r, minRate)
	g.lim.SetLimit(rate.Limit(r))
	// Allow a tenth of a second's worth at once so concurrent workers are
	// not forced into lockstep, but no more: the point is to slow down.
	g.lim.SetBurst(max(1, int(r/10)))
}
