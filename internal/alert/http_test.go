package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/egress"
	"github.com/sluicehq/sluice/internal/signature"
)

// receiver is a loopback HTTP endpoint that keeps each request.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

type received struct {
	method, path string
	header       http.Header
	body         []byte
}

func receive(t *testing.T, h func(w http.ResponseWriter, r received)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got := received{method: r.Method, path: r.URL.RequestURI(), header: r.Header.Clone(), body: body}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, got)
		rc.mu.Unlock()
		if h != nil {
			h(w, got)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

var sample = alert.Alert{Key: "sla:leads:delivery", Kind: alert.KindSLABreach, Severity: alert.SeverityWarning,
	Title: "SLA breach: flow leads not delivered within 5m", Text: "3 events <still> delivering & late",
	Items: []string{"evt_1", "evt_2"}, Time: t0}

func TestSlackPostsTextAndBlocks(t *testing.T) {
	t.Parallel()
	rc := receive(t, nil)
	s := &alert.Slack{URL: rc.URL + "/services/T000/B000/slacksecrettoken", Client: rc.Client()}
	if err := s.Send(context.Background(), sample); err != nil {
		t.Fatal(err)
	}
	reqs := rc.all()
	if len(reqs) != 1 || reqs[0].method != http.MethodPost || reqs[0].path != "/services/T000/B000/slacksecrettoken" ||
		reqs[0].header.Get("Content-Type") != "application/json" {
		t.Fatalf("request: %+v", reqs)
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Type, Text string
			} `json:"text"`
			Elements []struct{ Type, Text string } `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(reqs[0].body, &msg); err != nil {
		t.Fatalf("body %s: %v", reqs[0].body, err)
	}
	if msg.Text != "[WARNING] SLA breach: flow leads not delivered within 5m\n3 events &lt;still&gt; delivering &amp; late" {
		t.Fatalf("text: %q", msg.Text)
	}
	if len(msg.Blocks) != 4 {
		t.Fatalf("blocks: %s", reqs[0].body)
	}
	b := msg.Blocks
	if b[0].Type != "header" || b[0].Text.Type != "plain_text" || b[0].Text.Text != "[WARNING] SLA breach: flow leads not delivered within 5m" ||
		b[1].Type != "section" || b[1].Text.Text != "3 events &lt;still&gt; delivering &amp; late" ||
		b[2].Text.Text != "• evt_1\n• evt_2\n" ||
		b[3].Type != "context" || len(b[3].Elements) != 1 || b[3].Elements[0].Text != "sla_breach · sla:leads:delivery · 2026-11-29T09:00:00Z" {
		t.Fatalf("blocks: %s", reqs[0].body)
	}
}

func TestSlackErrorsNeverShowTheURLSecret(t *testing.T) {
	t.Parallel()
	// Slack answers a revoked hook with 404 no_service; this receiver also
	// echoes the request path, as a proxy's error page might.
	rc := receive(t, func(w http.ResponseWriter, r received) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "no_service for "+r.path)
	})
	s := &alert.Slack{URL: rc.URL + "/services/T000/B000/slacksecrettoken", Client: rc.Client()}
	err := s.Send(context.Background(), sample)
	if err == nil || !strings.Contains(err.Error(), "status 404") || !strings.Contains(err.Error(), "no_service") {
		t.Fatalf("want a 404 error, got %v", err)
	}
	if strings.Contains(err.Error(), "slacksecrettoken") {
		t.Fatalf("secret in error: %v", err)
	}

	// Nobody listening: the transport error must not quote the URL either.
	rc.Close()
	err = s.Send(context.Background(), sample)
	if err == nil || strings.Contains(err.Error(), "slacksecrettoken") || !strings.Contains(err.Error(), rc.URL+"/[redacted]") {
		t.Fatalf("connection error: %v", err)
	}
}

func TestWebhookIsSignedWithStandardWebhooks(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{"whsec_c2x1aWNlLWFsZXJ0LXNlY3JldC1rZXk=", "raw-alert-secret"} {
		now := time.Unix(1_800_000_000, 0)
		rc := receive(t, nil)
		w := &alert.Webhook{URL: rc.URL + "/hook", Secret: secret, Client: rc.Client(), Now: func() time.Time { return now }}
		if err := w.Send(context.Background(), sample); err != nil {
			t.Fatal(err)
		}
		reqs := rc.all()
		if len(reqs) != 1 {
			t.Fatalf("%d requests", len(reqs))
		}
		r := reqs[0]
		v, err := signature.New(signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{secret}})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(r.header, r.body, now); err != nil {
			t.Fatalf("secret %s: receiver cannot verify: %v", secret, err)
		}
		other, _ := signature.New(signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{"another-secret"}})
		if err := other.Verify(r.header, r.body, now); err == nil {
			t.Fatal("a different secret verified too")
		}
		if err := v.Verify(r.header, append(r.body, ' '), now); err == nil {
			t.Fatal("an altered body verified")
		}
		var body alert.WebhookBody
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if body.ID != r.header.Get("webhook-id") || !strings.HasPrefix(body.ID, "alert_") || body.Kind != alert.KindSLABreach ||
			body.Severity != alert.SeverityWarning || body.Title != sample.Title || body.Text != sample.Text ||
			len(body.Items) != 2 || !body.Time.Equal(t0) || body.Key != sample.Key || body.Count != 1 {
			t.Fatalf("body: %s", r.body)
		}
		if r.header.Get("webhook-timestamp") != "1800000000" {
			t.Fatalf("timestamp header %q", r.header.Get("webhook-timestamp"))
		}
	}
}

func TestWebhookErrorsAndRedirects(t *testing.T) {
	t.Parallel()
	rc := receive(t, func(w http.ResponseWriter, r received) {
		if strings.HasPrefix(r.path, "/moved") {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	w := &alert.Webhook{URL: rc.URL + "/hook?token=querysecret", Secret: "raw-alert-secret", Client: rc.Client()}
	err := w.Send(context.Background(), alert.Alert{Key: "k", Kind: alert.KindEscalation, Title: "x", Time: t0})
	if err == nil || !strings.Contains(err.Error(), "status 500") || strings.Contains(err.Error(), "querysecret") {
		t.Fatalf("500: %v", err)
	}
	// A redirect is not followed: it would re-send the alert elsewhere.
	w.URL = rc.URL + "/moved/secretpath"
	w.Client = nil // the package's own client, which refuses loopback
	err = w.Send(context.Background(), alert.Alert{Key: "k", Kind: alert.KindEscalation, Title: "x", Time: t0})
	if !errors.Is(err, egress.ErrRefused) || strings.Contains(err.Error(), "secretpath") {
		t.Fatalf("default client to loopback: %v", err)
	}
	w.Client = alert.NewHTTPClient(time.Second, egress.For("alert channel ops", true))
	err = w.Send(context.Background(), alert.Alert{Key: "k", Kind: alert.KindEscalation, Title: "x", Time: t0})
	if err == nil || !strings.Contains(err.Error(), "status 307") || strings.Contains(err.Error(), "secretpath") {
		t.Fatalf("redirect: %v", err)
	}
	for _, r := range rc.all() {
		if r.path == "/elsewhere" {
			t.Fatal("redirect followed")
		}
	}
}
