package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"golang.org/x/time/rate"

	"github.com/sluicehq/sluice/internal/connector"
)

// ShareRate gives this instance 1/n of every destination's rate, because n
// instances deliver to the same destinations with the same credentials
// (docs/adr/0003-shared-rate-limits.md): the engine's token bucket gets
// rate/n and burst/n (at least 1), and connectors with limiters of their
// own (connector.RateSharer) divide them too. n = 1 restores the full
// rates. Safe to call while the engine runs.
func (e *Engine) ShareRate(n int) {
	n = max(n, 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.share = n
	for _, w := range e.dests {
		w.shareRate(n)
	}
}

func (w *worker) shareRate(n int) {
	c := w.d.Conn.Constraints()
	if c.RatePerSecond > 0 {
		w.limiter.SetLimit(rate.Limit(c.RatePerSecond / float64(n)))
		w.limiter.SetBurst(max(1, max(1, c.Burst)/n))
	}
	if rs, ok := w.d.Conn.(connector.RateSharer); ok {
		rs.ShareRate(n)
	}
}

// Rate is the token bucket's current rate of a destination (requests per
// second, 0 when unlimited or unknown), for /readyz and tests.
func (e *Engine) Rate(destination string) float64 {
	e.mu.RLock()
	w := e.dests[destination]
	e.mu.RUnlock()
	if w == nil || w.limiter.Limit() == rate.Inf {
		return 0
	}
	return float64(w.limiter.Limit())
}

// singleton runs a loop only one instance should run (maintenance): through
// e.Lead when set (the elected leader runs it), else here.
func (e *Engine) singleton(ctx context.Context, fn func(context.Context)) {
	if e.Lead == nil {
		fn(ctx)
		return
	}
	e.Lead(ctx, fn)
}

// Concurrency is a destination's current limit of requests in flight
// (adaptive unless configured), for /readyz, metrics and tests.
func (e *Engine) Concurrency(destination string) int {
	e.mu.RLock()
	w := e.dests[destination]
	e.mu.RUnlock()
	if w == nil {
		return 0
	}
	return w.conc.Limit()
}

// AdaptiveRate is the adaptive rate a destination's credential is held to
// after real 429s (requests per second), 0 while no limit was detected.
func (e *Engine) AdaptiveRate(destination string) float64 {
	e.mu.RLock()
	w := e.dests[destination]
	e.mu.RUnlock()
	if w == nil {
		return 0
	}
	return w.gov.Rate()
}

// credentialOptions are the option names that identify whose quota a
// destination spends (the platforms count requests per token, key or
// account, not per Sluice destination).
var credentialOptions = []string{"token", "bearer_token", "api_key", "access_token", "password", "credentials", "credentials_file", "client_id"}

// credentialKey names the quota a destination draws on: its connector type
// and a hash of its credential options, so two destinations writing with
// one HubSpot token share one adaptive rate; a destination without
// credential options has its own.
func credentialKey(d Destination) string {
	if d.Conf == nil {
		return "destination:" + d.Name
	}
	h := sha256.New()
	found := false
	for _, k := range credentialOptions {
		if v, ok := d.Conf.Options[k]; ok && v != nil && v != "" {
			fmt.Fprintf(h, "%s=%v\n", k, v)
			found = true
		}
	}
	if !found {
		return "destination:" + d.Name
	}
	return d.Conf.Type + ":" + hex.EncodeToString(h.Sum(nil)[:12])
}
