package credential_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	_ "github.com/sluicehq/sluice/internal/connector/airtable"
	_ "github.com/sluicehq/sluice/internal/connector/notion"
	"github.com/sluicehq/sluice/internal/credential"
	"github.com/sluicehq/sluice/internal/sim"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

// TestAirtableAndNotionOAuth: both platforms' OAuth against their
// simulators' token endpoints, through the connectors: the first write
// gets a token, a write after the access token's lifetime gets a new one
// (single-use refresh tokens: the spent one is never sent again), and a
// revoked refresh token becomes an Auth error that pauses the destination.
func TestAirtableAndNotionOAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ     string
		start   func(clk *clock) (http.Handler, *sim.OAuth, error)
		token   string
		options func(url string) map[string]any
		payload map[string]any
	}{
		{"airtable", func(clk *clock) (http.Handler, *sim.OAuth, error) {
			s, err := airtablesim.New(airtablesim.Options{Seed: 11, Now: clk.Now, RateLimit: -1, TokenRateLimit: -1,
				OAuthRefreshTokens: []string{"at-refresh-1"}, OAuthClientID: clientID, OAuthClientSecret: clientSecret})
			if err != nil {
				return nil, nil, err
			}
			return s, s.OAuth, nil
		}, "at-refresh-1", func(url string) map[string]any {
			return map[string]any{"base_url": url, "base_id": airtablesim.DefaultBaseID, "table": "Contacts", "key_field": "Email", "rate_per_second": 1000}
		}, map[string]any{"Email": "a@example.com", "Name": "A"}},
		{"notion", func(clk *clock) (http.Handler, *sim.OAuth, error) {
			s, err := notionsim.New(notionsim.Options{Seed: 12, Now: clk.Now, RateLimit: -1, OAuthTTL: time.Hour,
				OAuthRefreshTokens: []string{"nt-refresh-1"}, OAuthClientID: clientID, OAuthClientSecret: clientSecret})
			if err != nil {
				return nil, nil, err
			}
			return s, s.OAuth, nil
		}, "nt-refresh-1", func(url string) map[string]any {
			return map[string]any{"base_url": url, "database_id": notionsim.DefaultDatabaseID, "key_property": "Email", "rate_per_second": 1000}
		}, map[string]any{"Email": "a@example.com", "Name": "A"}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
			h, issuer, err := tc.start(clk)
			if err != nil {
				t.Fatal(err)
			}
			url := simtest.Start(t, h).URL
			tokenPath := map[string]string{"airtable": airtablesim.TokenPath, "notion": notionsim.TokenPath}[tc.typ]
			spec := config.Credential{Kind: credential.OAuthRefresh, TokenURL: url + tokenPath,
				ClientID: clientID, ClientSecret: clientSecret, RefreshToken: tc.token}
			src, err := credential.New(credential.Options{Name: "dest", Type: tc.typ, Spec: spec,
				Store: sqliteStore(t, filepath.Join(t.TempDir(), "s.db")), Sealer: sealer(t), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			c, err := connector.New(tc.typ, connector.Params{Name: "dest", Options: tc.options(url), AllowPrivateNetwork: true, Credential: src})
			if err != nil {
				t.Fatal(err)
			}
			defer connector.Close(context.Background(), c)
			deliver := func(n int) error {
				d := connector.Delivery{ID: fmt.Sprintf("d%d", n), EventID: fmt.Sprintf("e%d", n), Route: "r",
					RecordKey: "a@example.com", Payload: tc.payload, Attempt: 1}
				_, err := c.Deliver(ctx(t), d)
				return err
			}
			if err := deliver(1); err != nil {
				t.Fatalf("first write: %v", err)
			}
			clk.Advance(61 * time.Minute)
			if err := deliver(2); err != nil {
				t.Fatalf("write after the token's hour: %v", err)
			}
			st := issuer.Stats()
			if st.Refreshes != 2 || st.ReusedRefreshTokens != 0 || st.LiveRefreshTokens != 1 {
				t.Fatalf("issuer %+v: want 2 grants, no spent token reused, one live refresh token", st)
			}
			issuer.Revoke("")
			clk.Advance(61 * time.Minute)
			err = deliver(3)
			var ce *connector.Error
			if !errors.As(err, &ce) || ce.Class != connector.Auth {
				t.Fatalf("after revocation: %v, want an Auth error", err)
			}
		})
	}
}
