package ingest

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/sluicehq/sluice/internal/config"
)

// quota is one source's intake budget (config.Quota): two token buckets,
// requests and body bytes, each allowing a burst of twice its rate. A
// request over either is refused with the wait after which it would fit, so
// the sender's Retry-After is honest.
type quota struct {
	reqs, bytesLim *rate.Limiter
}

func newQuota(q config.Quota, maxBody int64) *quota {
	rps, bps := q.RequestsPerSecond, q.BytesPerSecond
	if rps <= 0 {
		rps = config.DefaultRequestsPerSecond
	}
	if bps <= 0 {
		bps = config.DefaultBytesPerSecond
	}
	// The byte burst holds at least one largest body, or a source whose
	// rate is below its body limit could never take a large body at all.
	burst := max(2*bps, maxBody)
	return &quota{
		reqs:     rate.NewLimiter(rate.Limit(rps), max(1, int(2*rps))),
		bytesLim: rate.NewLimiter(rate.Limit(bps), int(burst)),
	}
}

// request spends one request; a positive result is how long to wait.
func (q *quota) request(now time.Time) time.Duration { return take(q.reqs, now, 1) }

// bytes spends n body bytes; a positive result is how long to wait.
func (q *quota) bytes(now time.Time, n int) time.Duration { return take(q.bytesLim, now, n) }

func take(l *rate.Limiter, now time.Time, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	r := l.ReserveN(now, n)
	if !r.OK() {
		return time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return max(d, time.Second)
	}
	return 0
}
