package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

// TestExpiringCredential runs a HubSpot destination on public-app OAuth
// tokens (short-lived here: 2 s) from the simulator's token endpoint: the
// token is refreshed during the run, the admin API shows the credential
// without its secret, and once the refresh token is revoked the next
// refresh fails for good and the destination is paused with the reason
// while the record waits.
func TestExpiringCredential(t *testing.T) {
	t.Setenv("SLUICE_CREDENTIAL_KEY", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	hs, err := hubspotsim.New(hubspotsim.Options{Seed: 8, RateLimit: -1, SearchRate: -1, Tokens: []string{"static-not-used"},
		OAuthRefreshTokens: []string{"hs-refresh-1"}, OAuthClientID: "cid", OAuthClientSecret: "csecret", OAuthTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hsURL := simtest.Start(t, hs).URL
	cfg := strings.Replace(fmt.Sprintf(consistencyConfig, filepath.Join(t.TempDir(), "cred.db"), hsURL, ""),
		"    options: {base_url", fmt.Sprintf("    credential: {kind: oauth_refresh, token_url: %q, client_id: cid, client_secret: csecret, refresh_token: hs-refresh-1}\n    options: {base_url", hsURL+"/oauth/2026-03/token"), 1)
	cfg = strings.Replace(cfg, `token: "", `, "", 1)
	c, err := config.Parse([]byte(cfg), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()
	h := &harness{t: t, url: "http://" + ln.Addr().String()}
	capture := func(email string) string {
		req, _ := http.NewRequest("POST", h.url+"/v1/sources/forms/events", strings.NewReader(fmt.Sprintf(`{"email":%q,"first":"X"}`, email)))
		req.Header.Set("Content-Type", "application/json")
		code, res := h.do(req)
		if code != 202 {
			t.Fatalf("capture: %d %v", code, res)
		}
		return res["event_id"].(string)
	}
	h.waitState(capture("c1@example.com"), "delivered")
	time.Sleep(2100 * time.Millisecond) // the first access token expires
	h.waitState(capture("c2@example.com"), "delivered")
	if n := hs.OAuth.Stats().Refreshes; n < 2 {
		t.Fatalf("%d token grants, want a refresh during the run", n)
	}
	code, out := h.admin("GET", "/v1/credentials", "")
	raw := fmt.Sprint(out)
	if code != 200 || !strings.Contains(raw, "oauth_refresh") || !strings.Contains(raw, "expires_at") || strings.Contains(raw, "hs-refresh") || strings.Contains(raw, "CNf") {
		t.Fatalf("credentials: %d %s", code, raw)
	}

	hs.OAuth.Revoke("")
	time.Sleep(2100 * time.Millisecond)
	capture("c3@example.com")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, dests := h.admin("GET", "/v1/destinations", "")
		s := fmt.Sprint(dests)
		if strings.Contains(s, "paused") && strings.Contains(s, "cannot be refreshed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("destination not paused with the reason: %s", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, out = h.admin("GET", "/v1/credentials", "")
	if !strings.Contains(fmt.Sprint(out), "invalid_grant") {
		t.Fatalf("credential failure not shown: %v", out)
	}
}
