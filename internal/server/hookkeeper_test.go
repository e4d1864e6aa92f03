package server_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/sim"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func airtableSub(t *testing.T, at *airtablesim.Server) sim.Subscription {
	t.Helper()
	for _, s := range at.Hooks.Subscriptions() {
		if s.ID == hookAirtableWebhook {
			return s
		}
	}
	t.Fatal("no subscription")
	return sim.Subscription{}
}

// TestAirtableWebhookKeptAliveAndCaughtUp: Sluice refreshes the Airtable
// webhook when it starts (the simulator's expiry moves to 7 days from
// then). A webhook that lapsed anyway (refreshes failing for longer than
// its life) is no longer notified; the failed refreshes are audited, and
// the refresh that finally succeeds lists what the webhook missed from the
// cursor.
func TestAirtableWebhookKeptAliveAndCaughtUp(t *testing.T) {
	clk := &simClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	at, err := airtablesim.New(airtablesim.Options{Tokens: []string{hookAirtableToken}, Seed: 1, RateLimit: -1, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	atURL := simtest.Start(t, at).URL
	simCall(t, "POST", atURL+"/_sim/webhooks", "", map[string]any{"id": hookAirtableWebhook, "secret": hookAirtableMAC,
		"base": airtablesim.DefaultBaseID, "url": "http://127.0.0.1:1/unused"})
	clk.Advance(3 * 24 * time.Hour)
	h := startHooks(t, airtableHookConfig, hookAirtableMAC, hookAirtableWebhook, atURL, hookAirtableToken, airtablesim.DefaultBaseID, secret)
	// The keeper refreshes once when this instance becomes leader; let that
	// happen first, or it lands later in the test and revives the webhook
	// the test lets lapse.
	for deadline := time.Now().Add(10 * time.Second); !hasAudit(t, h.srv.Driver, audit.ActionHookRefreshed); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the keeper's first refresh never happened")
		}
	}
	// Point the subscription at this Sluice (the simulator keeps one per ID).
	at.Hooks.Reset()
	simCall(t, "POST", atURL+"/_sim/webhooks", "", map[string]any{"id": hookAirtableWebhook, "url": h.url + "/v1/sources/base/events",
		"secret": hookAirtableMAC, "base": airtablesim.DefaultBaseID, "expiration_time": clk.Now().Add(time.Hour)})
	if err := h.srv.RefreshHooksNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := airtableSub(t, at).Expires, clk.Now().Add(airtablesim.WebhookLife); !got.Equal(want) {
		t.Fatalf("expiry after Sluice's refresh = %v, want %v", got, want)
	}

	// Refreshes fail (Airtable down for Sluice's token) past the expiry.
	if err := at.SetFaults(sim.Faults{Revoked: true}); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.RefreshHooksNow(context.Background()); err == nil {
		t.Fatal("refresh with a revoked token succeeded")
	}
	if !hasAudit(t, h.srv.Driver, audit.ActionHookRefreshFailed) {
		t.Fatal("failed refresh not audited")
	}
	clk.Advance(airtablesim.WebhookLife)
	if err := at.SetFaults(sim.Faults{}); err != nil {
		t.Fatal(err)
	}
	table := atURL + "/v0/" + airtablesim.DefaultBaseID + "/Contacts"
	simCall(t, "POST", table, hookAirtableToken, map[string]any{"records": []any{map[string]any{"fields": map[string]any{"Email": "gap@x.co", "Name": "Gap"}}}})
	if st := flushHooks(t, atURL); st.Sent != 0 {
		t.Fatalf("a lapsed webhook was notified: %+v", st)
	}
	if n := len(h.sourceEvents("base")); n != 0 {
		t.Fatalf("events = %d before the catch-up", n)
	}
	// The refresh succeeds again: the change made while it had lapsed is
	// listed from the cursor, and notifications resume.
	if err := h.srv.RefreshHooksNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, h, "base", 1)
	h.waitSink("gap@x.co", 1)
	simCall(t, "POST", table, hookAirtableToken, map[string]any{"records": []any{map[string]any{"fields": map[string]any{"Email": "after@x.co", "Name": "After"}}}})
	if st := flushHooks(t, atURL); st.Delivered != 1 {
		t.Fatalf("notifications after the refresh: %+v", st)
	}
	waitEvents(t, h, "base", 2)
}

// TestAirtableHookLoopsFollowReload: the listing and the refresh built at
// start use the destination as the config in force has it: after a
// reload moves the destination to another Airtable (the first one gone),
// both reach the new one.
func TestAirtableHookLoopsFollowReload(t *testing.T) {
	start := func() (*airtablesim.Server, *sim.Running) {
		t.Helper()
		at, err := airtablesim.New(airtablesim.Options{Tokens: []string{hookAirtableToken}, Seed: 1, RateLimit: -1})
		if err != nil {
			t.Fatal(err)
		}
		return at, simtest.Start(t, at)
	}
	_, old := start()
	_, running := start()
	h := startHooks(t, airtableHookConfig, hookAirtableMAC, hookAirtableWebhook, old.URL, hookAirtableToken, airtablesim.DefaultBaseID, secret)
	for deadline := time.Now().Add(10 * time.Second); readyz(t, h.url) != http.StatusOK; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
	}
	if _, err := h.srv.Apply(context.Background(), h.config(hookAirtableMAC, hookAirtableWebhook, running.URL, hookAirtableToken, airtablesim.DefaultBaseID, secret),
		server.ReloadOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	simCall(t, "POST", running.URL+"/_sim/webhooks", "", map[string]any{"id": hookAirtableWebhook, "url": h.url + "/v1/sources/base/events",
		"secret": hookAirtableMAC, "base": airtablesim.DefaultBaseID})
	if err := h.srv.RefreshHooksNow(context.Background()); err != nil {
		t.Fatalf("refresh after the reload: %v", err)
	}
	simCall(t, "POST", running.URL+"/v0/"+airtablesim.DefaultBaseID+"/Contacts", hookAirtableToken,
		map[string]any{"records": []any{map[string]any{"fields": map[string]any{"Email": "moved@x.co", "Name": "Moved"}}}})
	// Its notification is a notice; the worker lists the new Airtable.
	flushHooks(t, running.URL)
	waitEvents(t, h, "base", 1)
	if _, err := h.srv.FetchHookNow(context.Background(), "base"); err != nil {
		t.Fatalf("listing after the reload: %v", err)
	}
}
