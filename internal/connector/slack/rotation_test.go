package slack_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/slack"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	slacksim "github.com/sluicehq/sluice/internal/sim/slack"
)

// rotatingCredential refreshes a rotated Slack token at the simulator's
// issuer, as package credential does at oauth.v2.access, and counts the
// refusals it is told about.
type rotatingCredential struct {
	sim      *slacksim.Server
	mu       sync.Mutex
	refresh  string
	access   string
	rejected int
}

func (c *rotatingCredential) Token(context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.access == "" {
		return c.renew()
	}
	return c.access, nil
}

func (c *rotatingCredential) Rejected(_ context.Context, old string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rejected++
	if old != c.access {
		return c.access, nil
	}
	return c.renew()
}

func (c *rotatingCredential) renew() (string, error) {
	g, ok := c.sim.OAuth.Refresh(c.refresh)
	if !ok {
		return "", &connector.Error{Class: connector.Auth, Code: "invalid_refresh_token", Message: "refresh refused"}
	}
	c.access, c.refresh = g.AccessToken, g.RefreshToken
	return c.access, nil
}

// TestRotatedTokenExpiredInBodyIsRefreshed: Slack refuses an expired
// rotated token with 200 {"ok":false,"error":"token_expired"}, not a 401.
// The connector must take a fresh token and send once more, instead of
// pausing the destination for an auth failure.
func TestRotatedTokenExpiredInBodyIsRefreshed(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC).UnixNano())
	s, err := slacksim.New(slacksim.Options{Seed: 3, PostLimit: -1, UpdateLimit: -1, HistoryLimit: -1,
		OAuthRefreshTokens: []string{"xoxe-1-rt"}, OAuthTTL: time.Hour,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	url := simtest.Start(t, s).URL
	cred := &rotatingCredential{sim: s, refresh: "xoxe-1-rt"}
	c, err := connector.New("slack", connector.Params{Name: "alerts", AllowPrivateNetwork: true, Credential: cred,
		Options: map[string]any{"base_url": url, "channel": slacksim.GeneralChannel, "text": "lead {{.email}}", "rate_per_second": 1000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = connector.Close(context.Background(), c) })
	conn := c.(*slack.Conn)

	if _, err := conn.Deliver(ctx(t), lead("a@example.com", nil)); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	now.Add(int64(2 * time.Hour)) // the access token is now past its hour
	if _, err := conn.Deliver(ctx(t), lead("b@example.com", nil)); err != nil {
		t.Fatalf("delivery after expiry: %v (want a refresh and a second try)", err)
	}
	if cred.rejected != 1 {
		t.Fatalf("credential told of %d refusals, want 1", cred.rejected)
	}
	if got := s.OAuth.Stats().Refreshes; got != 2 {
		t.Fatalf("%d token grants, want 2 (initial and after token_expired)", got)
	}
	if n := len(s.Messages(slacksim.GeneralChannel)); n != 2 {
		t.Fatalf("%d messages posted, want 2", n)
	}
}
