package connector_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

func TestRetryAfterClamped(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                      0,
		"7":                     7 * time.Second,
		" 120 ":                 2 * time.Minute,
		"0.25":                  250 * time.Millisecond,
		"300":                   connector.MaxRetryAfter,
		"301":                   connector.MaxRetryAfter,
		"86400":                 connector.MaxRetryAfter,
		"999999999999999999999": connector.MaxRetryAfter,
		"1e308":                 connector.MaxRetryAfter,
		"Inf":                   connector.MaxRetryAfter,
		"NaN":                   0,
		"-1":                    0,
		"-Inf":                  0,
		"0":                     0,
		"soon":                  0,
		"7s":                    0,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
		now.Add(48 * time.Hour).Format(http.TimeFormat):   connector.MaxRetryAfter,
		"Fri, 31 Dec 9999 23:59:59 GMT":                   connector.MaxRetryAfter,
	} {
		if got := connector.RetryAfter(in, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
	if got := connector.RetryAfterHeader(http.Header{"Retry-After": {"9999"}}, now); got != connector.MaxRetryAfter {
		t.Errorf("header: %v", got)
	}
	if got := connector.RetryAfterHeader(nil, now); got != 0 {
		t.Errorf("nil header: %v", got)
	}
}
