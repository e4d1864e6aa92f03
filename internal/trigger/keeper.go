package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// RefreshAuditor is the gate as a HookKeeper needs it: the audit of each
// refresh and its outcome.
type RefreshAuditor interface {
	HookRefreshed(ctx context.Context, source, webhook string, expires time.Time, cause error) error
}

// HookKeeper keeps one platform webhook subscription alive: Airtable's
// stop notifying 7 days after their creation or last refresh. It
// refreshes at start and every Every (a day: six chances before the
// expiry), retries a failed refresh sooner, and tells people through
// OnFailed, each failure saying how long the subscription has left. The
// payloads the platform kept meanwhile are not lost: after a refresh that
// follows a failure, OnRecovered kicks the source's listing, which
// resumes from its cursor. Run it on one instance (the leader).
type HookKeeper struct {
	Source    string
	WebhookID string
	Refresher connector.HookRefresher
	Gate      RefreshAuditor
	// Every is the time between refreshes; default 24h.
	Every time.Duration
	// RetryMin and RetryMax bound the wait after a failed refresh
	// (doubling); defaults 1m and 1h.
	RetryMin, RetryMax time.Duration
	Log                *slog.Logger
	// OnFailed runs after each failed refresh with the expiry last known
	// (zero: unknown); may be nil. It must not block.
	OnFailed func(source string, expires time.Time, err error)
	// OnRecovered runs after a successful refresh that follows failures
	// (the subscription may have lapsed: list what it missed); may be nil.
	OnRecovered func(source string)

	mu       sync.Mutex // one refresh at a time; guards expires, failures
	expires  time.Time
	failures int
}

// Expires is the expiry the last successful refresh returned (zero before
// one, or when the platform says the subscription does not expire).
func (k *HookKeeper) Expires() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.expires
}

// RefreshOnce refreshes the subscription and audits the outcome.
func (k *HookKeeper) RefreshOnce(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	exp, err := k.Refresher.RefreshHook(ctx, k.WebhookID)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if aerr := k.Gate.HookRefreshed(ctx, k.Source, k.WebhookID, exp, err); aerr != nil {
		k.Log.Error("audit of a webhook refresh", "source", k.Source, "err", aerr)
	}
	if err != nil {
		k.failures++
		if k.OnFailed != nil {
			k.OnFailed(k.Source, k.expires, err)
		}
		return fmt.Errorf("refresh webhook %s of source %s: %w", k.WebhookID, k.Source, err)
	}
	recovered := k.failures > 0
	k.expires, k.failures = exp, 0
	if recovered && k.OnRecovered != nil {
		k.OnRecovered(k.Source)
	}
	return nil
}

// Run refreshes at once and then every Every until ctx ends.
func (k *HookKeeper) Run(ctx context.Context) {
	every, lo, hi := k.Every, k.RetryMin, k.RetryMax
	if every <= 0 {
		every = 24 * time.Hour
	}
	if lo <= 0 {
		lo = time.Minute
	}
	if hi <= 0 {
		hi = time.Hour
	}
	wait := time.Duration(0)
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		err := k.RefreshOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		k.mu.Lock()
		failures, expires := k.failures, k.expires
		k.mu.Unlock()
		if err != nil {
			wait = min(lo<<min(failures-1, 16), hi, every)
			k.Log.Error("webhook refresh failed; retrying", "source", k.Source, "err", err, "failures", failures,
				"expires", expires, "retry_in", wait)
			continue
		}
		wait = every
		k.Log.Info("webhook refreshed", "source", k.Source, "webhook", k.WebhookID, "expires", expires)
	}
}
