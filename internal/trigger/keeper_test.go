package trigger_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/trigger"
)

// refresher plays the platform's refresh endpoint; refresh decides each
// answer.
type refresher struct {
	calls   int
	refresh func(n int) (time.Time, error)
}

func (r *refresher) RefreshHook(_ context.Context, webhook string) (time.Time, error) {
	r.calls++
	return r.refresh(r.calls)
}

// TestHookKeeperRefreshFailureAlertsAndRecovery: a failed refresh is
// audited and told (with the expiry last known); the refresh that follows
// failures kicks a catch-up listing; plain refreshes do not.
func TestHookKeeperRefreshFailureAlertsAndRecovery(t *testing.T) {
	g, drv := hookGate(t)
	exp := time.Date(2026, 12, 14, 12, 0, 0, 0, time.UTC)
	down := errors.New("airtable answered 503")
	rf := &refresher{refresh: func(n int) (time.Time, error) {
		switch n {
		case 2, 3:
			return time.Time{}, &connector.Error{Class: connector.Retryable, Status: 503, Message: down.Error()}
		}
		return exp.Add(time.Duration(n) * time.Hour), nil
	}}
	var failed []time.Time
	recovered := 0
	k := &trigger.HookKeeper{Source: "base", WebhookID: "achX", Refresher: rf, Gate: g, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnFailed:    func(_ string, expires time.Time, _ error) { failed = append(failed, expires) },
		OnRecovered: func(string) { recovered++ }}
	ctx := context.Background()
	if err := k.RefreshOnce(ctx); err != nil || !k.Expires().Equal(exp.Add(time.Hour)) {
		t.Fatalf("first refresh: %v, expires %v", err, k.Expires())
	}
	for range 2 {
		if err := k.RefreshOnce(ctx); err == nil {
			t.Fatal("a failed refresh reported no error")
		}
	}
	if len(failed) != 2 || !failed[1].Equal(exp.Add(time.Hour)) || recovered != 0 {
		t.Fatalf("failures told = %v, recovered = %d", failed, recovered)
	}
	if err := k.RefreshOnce(ctx); err != nil || recovered != 1 || !k.Expires().Equal(exp.Add(4*time.Hour)) {
		t.Fatalf("recovering refresh: %v, recovered %d, expires %v", err, recovered, k.Expires())
	}
	if err := k.RefreshOnce(ctx); err != nil || recovered != 1 {
		t.Fatalf("plain refresh: %v, recovered %d", err, recovered)
	}
	a := auditActions(t, drv)
	if a[audit.ActionHookRefreshed] != 3 || a[audit.ActionHookRefreshFailed] != 2 {
		t.Fatalf("audit actions = %v", a)
	}
}
