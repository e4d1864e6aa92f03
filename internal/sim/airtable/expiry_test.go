package airtable_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/sim/airtable"
)

// TestWebhookExpiresAndRefreshExtends: a webhook is notified until its
// expiration time (7 days after creation), not after; its payloads stay
// listable; a refresh gives it another 7 days from now and notifications
// resume. The list of webhooks shows the expiry.
func TestWebhookExpiresAndRefreshExtends(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	f := start(t, airtable.Options{Now: clk.Now})
	var got atomic.Int64
	rx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { got.Add(1); w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(rx.Close)
	sub, err := f.s.Hooks.Subscribe(context.Background(), sim.Subscription{ID: "achExpiry", URL: rx.URL, Base: airtable.DefaultBaseID})
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(airtable.WebhookLife); !sub.Expires.Equal(want) {
		t.Fatalf("expires %v, want %v", sub.Expires, want)
	}
	create := func(email string) {
		t.Helper()
		if a := f.call("POST", "/v0/"+airtable.DefaultBaseID+"/Contacts", `{"fields":{"Email":"`+email+`"}}`); a.status != http.StatusOK {
			t.Fatalf("create: %d %s", a.status, a.raw)
		}
		if err := f.s.Hooks.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	create("a@x.co")
	if got.Load() != 1 {
		t.Fatalf("notifications before expiry = %d, want 1", got.Load())
	}
	clk.Advance(airtable.WebhookLife)
	create("b@x.co")
	if got.Load() != 1 {
		t.Fatalf("an expired webhook was notified (%d)", got.Load())
	}
	hooks := f.call("GET", "/v0/bases/"+airtable.DefaultBaseID+"/webhooks", "")
	list, _ := hooks.body["webhooks"].([]any)
	if hooks.status != http.StatusOK || len(list) != 1 || list[0].(map[string]any)["areNotificationsEnabled"] != false {
		t.Fatalf("webhooks: %d %s", hooks.status, hooks.raw)
	}
	// The payloads, including the change made while it was expired, are
	// still listed: a receiver catches up by its cursor.
	p := f.call("GET", "/v0/bases/"+airtable.DefaultBaseID+"/webhooks/achExpiry/payloads", "")
	if ps, _ := p.body["payloads"].([]any); p.status != http.StatusOK || len(ps) != 2 {
		t.Fatalf("payloads after expiry: %d %s", p.status, p.raw)
	}
	r := f.call("POST", "/v0/bases/"+airtable.DefaultBaseID+"/webhooks/achExpiry/refresh", "")
	if r.status != http.StatusOK || r.body["expirationTime"] != clk.Now().Add(airtable.WebhookLife).Format(time.RFC3339Nano) {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	create("c@x.co")
	if got.Load() != 2 {
		t.Fatalf("notifications after the refresh = %d, want 2", got.Load())
	}
	if r := f.call("POST", "/v0/bases/"+airtable.DefaultBaseID+"/webhooks/achNope/refresh", ""); r.status != http.StatusNotFound {
		t.Fatalf("refresh of an unknown webhook: %d %s", r.status, r.raw)
	}
}
