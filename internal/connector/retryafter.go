package connector

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter is the longest wait a receiver's Retry-After can impose.
// The engine holds a destination's worker for the wait after a 429, so an
// unbounded value (a hostile or broken receiver answering "Retry-After:
// 999999999") would stop the destination until restart. Five minutes is
// past every documented platform penalty (Airtable 30 s, Sheets 60 s,
// Slack's tier waits); a receiver that really needs longer is asked again
// then.
const MaxRetryAfter = 5 * time.Minute

// RetryAfter reads a Retry-After header value, delay-seconds (Notion sends
// fractions) or an HTTP date measured from now, clamped to MaxRetryAfter.
// Zero, negative, past, non-finite and unreadable values are 0: no hint.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || secs <= 0 {
			return 0
		}
		if secs >= MaxRetryAfter.Seconds() {
			return MaxRetryAfter
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return ClampRetryAfter(t.Sub(now))
	}
	return 0
}

// RetryAfterHeader is RetryAfter of h's Retry-After.
func RetryAfterHeader(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	return RetryAfter(h.Get("Retry-After"), now)
}

// ClampRetryAfter bounds a wait derived from a receiver's answer (a header,
// a rate-limit reset time in a body) to [0, MaxRetryAfter].
func ClampRetryAfter(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return 0
	case d > MaxRetryAfter:
		return MaxRetryAfter
	}
	return d
}
