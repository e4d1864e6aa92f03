package connector_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

func roundTrip(t *testing.T, h http.HandlerFunc) (*connector.RoundTrip, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client, _ := connector.HTTPClient("crm", egress.For("", true))
	return &connector.RoundTrip{Client: client, Header: connector.Bearer("tok-secret-123"), MaxBody: 16,
		Redact: connector.NewRedactor("tok-secret-123").Redact}, srv.URL
}

func TestRoundTripHeadersBodyAndBound(t *testing.T) {
	t.Parallel()
	rt, base := roundTrip(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-secret-123" || r.Header.Get("User-Agent") != connector.UserAgent ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Extra") != "1" {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(429)
		w.Write([]byte(strings.Repeat("x", 100)))
	})
	body, err := connector.JSON(map[string]any{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.Do(context.Background(), connector.Request{Method: "POST", URL: base + "/in", Body: body, Header: http.Header{"X-Extra": {"1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 429 || len(resp.Body) != 16 || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("got %d %q", resp.Status, resp.Body)
	}
	if _, err := connector.JSON(func() {}); connector.Classify(err).Class != connector.Permanent {
		t.Fatalf("unencodable: %v", err)
	}
}

// TestRoundTripSent: a timeout after the headers were written is Sent (the
// write may have been applied) unless the request only reads; a refused
// connection is not Sent; messages carry no credential.
func TestRoundTripSent(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rt, base := roundTrip(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	for _, read := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := rt.Do(ctx, connector.Request{Method: "POST", URL: base + "/in?token=tok-secret-123", Body: []byte(`{}`), Read: read})
		cancel()
		ce := connector.Classify(err)
		if ce.Class != connector.Retryable || ce.Sent == read || !strings.Contains(ce.Message, "POST /in: timed out waiting for the response") {
			t.Fatalf("read=%v: %+v", read, ce)
		}
		if strings.Contains(ce.Error(), "tok-secret-123") {
			t.Fatalf("token in %v", ce)
		}
	}
	// The egress guard refuses before anything is written.
	client, _ := connector.HTTPClient("crm", egress.Policy{})
	guarded := &connector.RoundTrip{Client: client}
	_, err := guarded.Do(context.Background(), connector.Request{Method: "POST", URL: base + "/in", Body: []byte(`{}`)})
	ce := connector.Classify(err)
	if ce.Sent || !errors.Is(err, egress.ErrRefused) || !strings.Contains(ce.Message, "destination crm: refusing to connect to 127.0.0.1 (loopback)") {
		t.Fatalf("guarded: %+v", ce)
	}
}

func TestRoundTripAuthHook(t *testing.T) {
	t.Parallel()
	rt, base := roundTrip(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fresh" {
			w.WriteHeader(401)
		}
	})
	n := 0
	rt.Auth = func(_ context.Context, h http.Header) error {
		n++
		if n == 2 {
			return &connector.Error{Class: connector.Auth, Message: "refresh token revoked"}
		}
		h.Set("Authorization", "Bearer fresh")
		return nil
	}
	if resp, err := rt.Do(context.Background(), connector.Request{Method: "GET", URL: base}); err != nil || resp.Status != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if _, err := rt.Do(context.Background(), connector.Request{Method: "GET", URL: base}); connector.Classify(err).Class != connector.Auth {
		t.Fatalf("auth hook error: %v", err)
	}
}
