package credential_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	_ "github.com/sluicehq/sluice/internal/connector/hubspot"
	"github.com/sluicehq/sluice/internal/credential"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	sheetssim "github.com/sluicehq/sluice/internal/sim/sheets"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	slacksim "github.com/sluicehq/sluice/internal/sim/slack"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// clock is a fake clock shared by the simulator and the credential.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func sealer(t *testing.T) *credential.Sealer {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	s, err := credential.SealerFromEnv(func(string) string { return hex.EncodeToString(key) })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sqliteStore(t *testing.T, path string) store.Credentials {
	t.Helper()
	drv, err := storesqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	return drv
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

const (
	refreshToken = "hubspot-refresh-1"
	clientID     = "client-1"
	clientSecret = "secret-1"
)

func hubspot(t *testing.T, clk *clock) (*hubspotsim.Server, string) {
	t.Helper()
	s, err := hubspotsim.New(hubspotsim.Options{Seed: 3, Now: clk.Now, RateLimit: -1, SearchRate: -1,
		OAuthRefreshTokens: []string{refreshToken}, OAuthClientID: clientID, OAuthClientSecret: clientSecret})
	if err != nil {
		t.Fatal(err)
	}
	return s, simtest.Start(t, s).URL
}

func source(t *testing.T, clk *clock, st store.Credentials, seal *credential.Sealer, spec config.Credential) *credential.Source {
	t.Helper()
	s, err := credential.New(credential.Options{Name: "crm", Type: "hubspot", Spec: spec, Store: st, Sealer: seal, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hubspotSpec(url string) config.Credential {
	return config.Credential{Kind: credential.OAuthRefresh, TokenURL: url + "/oauth/2026-03/token",
		ClientID: clientID, ClientSecret: clientSecret, RefreshToken: refreshToken}
}

// get calls the HubSpot simulator with the credential's token.
func get(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/crm/v3/objects/contacts?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRefreshBeforeExpiryAndPersisted: a HubSpot public-app token (30
// minutes) is obtained once, reused while fresh, renewed shortly before it
// expires (not after), stored sealed, and a new process on the same store
// uses the stored token without a refresh.
func TestRefreshBeforeExpiryAndPersisted(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	hs, url := hubspot(t, clk)
	path := filepath.Join(t.TempDir(), "s.db")
	st := sqliteStore(t, path)
	seal := sealer(t)
	src := source(t, clk, st, seal, hubspotSpec(url))

	tok, err := src.Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if get(t, url, tok) != 200 {
		t.Fatal("the first token does not work")
	}
	clk.Advance(20 * time.Minute)
	if again, _ := src.Token(ctx(t)); again != tok || hs.OAuth.Stats().Refreshes != 1 {
		t.Fatalf("refreshed a fresh token: %d refreshes", hs.OAuth.Stats().Refreshes)
	}
	clk.Advance(7 * time.Minute) // 3 minutes before expiry: within the margin
	next, err := src.Token(ctx(t))
	if err != nil || next == tok || hs.OAuth.Stats().Refreshes != 2 {
		t.Fatalf("not refreshed before expiry: %v, %d refreshes", err, hs.OAuth.Stats().Refreshes)
	}
	if get(t, url, tok) != 200 || get(t, url, next) != 200 {
		t.Fatal("tokens do not work before their expiry")
	}
	clk.Advance(4 * time.Minute)
	if get(t, url, tok) != 401 {
		t.Fatal("an expired token still works on the simulator")
	}

	// What is stored is sealed: no token in the clear.
	rec, found, err := st.CredentialGet(ctx(t), "crm")
	if err != nil || !found || strings.Contains(string(rec.Sealed), next) || strings.Contains(string(rec.Sealed), refreshToken) {
		t.Fatalf("stored row: found %v err %v, token in the clear: %v", found, err, strings.Contains(string(rec.Sealed), next))
	}
	if rec.Refreshes != 2 || rec.Kind != credential.OAuthRefresh || !rec.ExpiresAt.Equal(clk.Now().Add(-4*time.Minute+30*time.Minute)) {
		t.Fatalf("row %+v", rec)
	}

	// A restart: a new Source on the same store file uses the stored token.
	restarted := source(t, clk, sqliteStore(t, path), seal, hubspotSpec(url))
	if got, err := restarted.Token(ctx(t)); err != nil || got != next || hs.OAuth.Stats().Refreshes != 2 {
		t.Fatalf("after restart: %v, token reused %v, %d refreshes", err, got == next, hs.OAuth.Stats().Refreshes)
	}
	list, err := credential.List(ctx(t), st)
	if err != nil || len(list) != 1 || list[0].Kind != credential.OAuthRefresh || list[0].ExpiresAt == nil || list[0].Refreshes != 2 {
		t.Fatalf("list %+v %v", list, err)
	}
}

// TestOnceOn401: a token the platform refuses is replaced once, through
// the connector's round trip: the request succeeds and one refresh
// happened; further requests use the new token.
func TestOnceOn401(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	credClk := &clock{t: clk.Now()}
	hs, url := hubspot(t, clk)
	src := source(t, credClk, sqliteStore(t, filepath.Join(t.TempDir(), "s.db")), sealer(t), hubspotSpec(url))
	c, err := connector.New("hubspot", connector.Params{Name: "crm", Options: map[string]any{"base_url": url, "object": "contacts", "rate_per_10s": 1000},
		AllowPrivateNetwork: true, Credential: src})
	if err != nil {
		t.Fatal(err)
	}
	defer connector.Close(context.Background(), c)
	d := connector.Delivery{ID: "d1", EventID: "e1", Route: "r", RecordKey: "a@example.com", Payload: map[string]any{"email": "a@example.com", "firstname": "A"}, Attempt: 1}
	if _, err := c.Deliver(ctx(t), d); err != nil {
		t.Fatal(err)
	}
	if n := hs.OAuth.Stats().Refreshes; n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	// The platform stops honouring the token before Sluice expected (its
	// clock ran ahead): one 401, one refresh, the write succeeds.
	clk.Advance(31 * time.Minute)
	d.ID, d.Attempt = "d2", 2
	if _, err := c.Deliver(ctx(t), d); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := hs.OAuth.Stats().Refreshes; n != 2 {
		t.Fatalf("%d refreshes, want 2", n)
	}
}

// pgStores opens n drivers (instances) on one fresh schema of
// $SLUICE_TEST_POSTGRES; without it the test skips, except in CI.
func pgStores(t *testing.T, n int) []store.Credentials {
	t.Helper()
	base := os.Getenv("SLUICE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SLUICE_TEST_POSTGRES is not set; CI must provide PostgreSQL")
		}
		t.Skip("SLUICE_TEST_POSTGRES is not set")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "sluice_test_" + hex.EncodeToString(b)
	exec := func(sql string) {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE SCHEMA ` + schema)
	t.Cleanup(func() { exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	var out []store.Credentials
	for range n {
		drv, err := storepg.Open(context.Background(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { drv.Close() })
		out = append(out, drv)
	}
	return out
}

func slack(t *testing.T, clk *clock) (*slacksim.Server, string) {
	t.Helper()
	s, err := slacksim.New(slacksim.Options{Seed: 5, Now: clk.Now, PostLimit: -1, UpdateLimit: -1, HistoryLimit: -1,
		OAuthRefreshTokens: []string{"xoxe-1-first"}, OAuthClientID: clientID, OAuthClientSecret: clientSecret})
	if err != nil {
		t.Fatal(err)
	}
	return s, simtest.Start(t, s).URL
}

func slackSpec(url string) config.Credential {
	return config.Credential{Kind: credential.SlackRotation, TokenURL: url + "/api/oauth.v2.access",
		ClientID: clientID, ClientSecret: clientSecret, RefreshToken: "xoxe-1-first"}
}

// TestRotationAcrossThreeInstancesOnPostgres: Slack token rotation (12 h
// access tokens, single-use refresh tokens) with three instances sharing
// one PostgreSQL store asking for tokens at once, over several expiry
// cycles: every cycle is refreshed exactly once, no refresh token is ever
// presented twice, and every instance ends with the same working token.
func TestRotationAcrossThreeInstancesOnPostgres(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	ss, url := slack(t, clk)
	seal := sealer(t)
	var instances []*credential.Source
	for _, st := range pgStores(t, 3) {
		s, err := credential.New(credential.Options{Name: "alerts", Type: "slack", Spec: slackSpec(url), Store: st, Sealer: seal, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		instances = append(instances, s)
	}
	const cycles = 4
	for cycle := range cycles {
		var wg sync.WaitGroup
		toks := make([]string, len(instances)*4)
		errs := make([]error, len(toks))
		for i := range toks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				toks[i], errs[i] = instances[i%len(instances)].Token(ctx(t))
			}()
		}
		wg.Wait()
		for i := range toks {
			if errs[i] != nil {
				t.Fatalf("cycle %d: %v", cycle, errs[i])
			}
			if toks[i] != toks[0] {
				t.Fatalf("cycle %d: instances hold different tokens", cycle)
			}
		}
		st := ss.OAuth.Stats()
		if st.Refreshes != cycle+1 || st.ReusedRefreshTokens != 0 || st.LiveRefreshTokens != 1 {
			t.Fatalf("cycle %d: %+v (want one refresh per cycle and no reused refresh token)", cycle, st)
		}
		clk.Advance(12 * time.Hour)
	}
}

// TestRevokedRefreshTokenIsAuth: a refresh token revoked on the platform
// makes the next refresh fail for good: an Auth error (which pauses the
// destination), recorded on the stored row, and no further token requests
// until the config changes.
func TestRevokedRefreshTokenIsAuth(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	ss, url := slack(t, clk)
	st := sqliteStore(t, filepath.Join(t.TempDir(), "s.db"))
	src, err := credential.New(credential.Options{Name: "alerts", Type: "slack", Spec: slackSpec(url), Store: st, Sealer: sealer(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ss.OAuth.Revoke("")
	clk.Advance(12 * time.Hour)
	_, err = src.Token(ctx(t))
	var ce *connector.Error
	if !errors.As(err, &ce) || ce.Class != connector.Auth || ce.Code != "CREDENTIAL_REFRESH_FAILED" || !strings.Contains(ce.Message, "invalid_refresh_token") {
		t.Fatalf("revoked: %v", err)
	}
	if strings.Contains(ce.Message, "xoxe") {
		t.Fatalf("a token in the message: %s", ce.Message)
	}
	before := ss.OAuth.Stats().ReusedRefreshTokens
	if _, err := src.Token(ctx(t)); !errors.As(err, &ce) || ce.Class != connector.Auth {
		t.Fatalf("second try: %v", err)
	}
	if ss.OAuth.Stats().ReusedRefreshTokens != before {
		t.Fatal("a credential that failed for good asked the platform again")
	}
	list, _ := credential.List(ctx(t), st)
	if len(list) != 1 || !strings.Contains(list[0].Failure, "invalid_refresh_token") || list[0].FailedAt == nil {
		t.Fatalf("status %+v", list)
	}
}

// TestGoogleServiceAccount: a service-account key (the JWT bearer grant
// of golang.org/x/oauth2/google) against the Sheets simulator: a one-hour
// token that reads the sheet, renewed when it is about to expire.
func TestGoogleServiceAccount(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now().UTC()}
	s, err := sheetssim.New(sheetssim.Options{Seed: 9, Now: clk.Now, ReadsPerMinute: -1, WritesPerMinute: -1, ProjectReadsPerMinute: -1, ProjectWritesPerMinute: -1,
		Tokens: []string{"static-only"}})
	if err != nil {
		t.Fatal(err)
	}
	url := simtest.Start(t, s).URL
	key, err := sheetssim.ServiceAccountJSON(url + "/token")
	if err != nil {
		t.Fatal(err)
	}
	src, err := credential.New(credential.Options{Name: "sheet", Type: "sheets", Store: sqliteStore(t, filepath.Join(t.TempDir(), "s.db")), Sealer: sealer(t), Now: clk.Now,
		Spec: config.Credential{Kind: credential.GoogleServiceAccount, ServiceAccountJSON: string(key)}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", url+"/v4/spreadsheets/none/values/A1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 401 {
		t.Fatal("the service-account token is refused")
	}
	clk.Advance(58 * time.Minute)
	if next, err := src.Token(ctx(t)); err != nil || next == tok || s.OAuth.Stats().Refreshes != 2 {
		t.Fatalf("not renewed before the hour: %v, %d grants", err, s.OAuth.Stats().Refreshes)
	}
}
