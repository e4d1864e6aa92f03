package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// OAuthOptions configure an OAuth token issuer.
type OAuthOptions struct {
	// TTL is the lifetime of an access token (HubSpot 30 min, Slack 12 h,
	// Google 1 h).
	TTL time.Duration
	// Rotate makes a refresh single-use: each refresh answers a new refresh
	// token and the old one stops working (Slack token rotation, Airtable).
	// Without it a refresh token stays valid until revoked (HubSpot,
	// Google).
	Rotate bool
	// RefreshTokens are valid from the start: what an operator copies into
	// a config after authorizing the app.
	RefreshTokens []string
	// ClientID and ClientSecret, when set, must be presented on a refresh.
	ClientID, ClientSecret string
	// Prefix starts every access token issued ("xoxe.xoxb-", "ya29.").
	Prefix string
}

// OAuth is the token side of a simulated platform: it issues expiring
// access tokens from refresh tokens (or from a JWT bearer grant the platform
// has checked), tells the platform whether a bearer token it sees is one it
// issued and whether it expired, and can revoke refresh tokens on demand
// (POST /_sim/oauth/revoke). It is safe for concurrent use.
type OAuth struct {
	b    *Base
	opts OAuthOptions

	mu        sync.Mutex
	access    map[string]time.Time // access token -> expiry
	refresh   map[string]bool      // refresh token -> usable
	seq       int
	refreshes int
	reused    int
}

// NewOAuth builds an issuer on b's clock and seed.
func NewOAuth(b *Base, o OAuthOptions) *OAuth {
	a := &OAuth{b: b, opts: o}
	a.Reset()
	return a
}

// Reset forgets issued tokens and restores the initial refresh tokens.
func (a *OAuth) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.access = map[string]time.Time{}
	a.refresh = map[string]bool{}
	for _, t := range a.opts.RefreshTokens {
		a.refresh[t] = true
	}
	a.seq, a.refreshes, a.reused = 0, 0, 0
}

// ClientOK reports whether id and secret are the configured client's (any
// client when none is configured).
func (a *OAuth) ClientOK(id, secret string) bool {
	return a.opts.ClientID == "" || (id == a.opts.ClientID && secret == a.opts.ClientSecret)
}

// Grant is an issued token set.
type Grant struct {
	AccessToken  string
	RefreshToken string // empty for a JWT bearer grant
	ExpiresIn    int    // seconds
}

// Refresh exchanges a refresh token; ok is false when the token is unknown,
// revoked or (with Rotate) already used.
func (a *OAuth) Refresh(refreshToken string) (Grant, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	usable, known := a.refresh[refreshToken]
	if !usable {
		if known {
			a.reused++
		}
		return Grant{}, false
	}
	a.refreshes++
	g := a.issueLocked()
	g.RefreshToken = refreshToken
	if a.opts.Rotate {
		a.refresh[refreshToken] = false
		g.RefreshToken = a.token("rt")
		a.refresh[g.RefreshToken] = true
	}
	return g, true
}

// Issue issues an access token without a refresh token (a JWT bearer grant
// the platform verified).
func (a *OAuth) Issue() Grant {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshes++
	return a.issueLocked()
}

func (a *OAuth) issueLocked() Grant {
	tok := a.opts.Prefix + a.token("at")
	a.access[tok] = a.b.Now().Add(a.opts.TTL)
	return Grant{AccessToken: tok, ExpiresIn: int(a.opts.TTL / time.Second)}
}

func (a *OAuth) token(kind string) string {
	a.seq++
	return fmt.Sprintf("sim-%s-%d-%016x", kind, a.seq, a.b.Seed()*uint64(a.seq)^0x5bd1e995)
}

// Check reports whether token is an access token this issuer gave out, and
// if so for how long it has been expired (0 while valid).
func (a *OAuth) Check(token string) (issued bool, expiredFor time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.access[token]
	if !ok {
		return false, 0
	}
	if now := a.b.Now(); !now.Before(exp) {
		return true, max(now.Sub(exp), time.Nanosecond)
	}
	return true, 0
}

// Revoke makes refresh tokens unusable: the one named, or every one when
// token is empty. Access tokens already issued stay valid until they
// expire, as on the platforms.
func (a *OAuth) Revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for t := range a.refresh {
		if token == "" || t == token {
			a.refresh[t] = false
		}
	}
	if token != "" {
		if _, ok := a.refresh[token]; !ok {
			a.refresh[token] = false
		}
	}
}

// OAuthStats are what GET /_sim/oauth reports.
type OAuthStats struct {
	// Refreshes counts tokens issued (refresh and JWT grants).
	Refreshes int `json:"refreshes"`
	// ReusedRefreshTokens counts refreshes refused because the refresh
	// token was already used or revoked: with rotation, two instances
	// refreshing the same credential at once show up here.
	ReusedRefreshTokens int `json:"reused_refresh_tokens"`
	// LiveRefreshTokens counts refresh tokens still usable.
	LiveRefreshTokens int `json:"live_refresh_tokens"`
}

// Stats returns the issuer's counts.
func (a *OAuth) Stats() OAuthStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := OAuthStats{Refreshes: a.refreshes, ReusedRefreshTokens: a.reused}
	for _, ok := range a.refresh {
		if ok {
			s.LiveRefreshTokens++
		}
	}
	return s
}

// Mount adds the issuer's control endpoints to a control mux:
//
//	GET  /_sim/oauth          OAuthStats
//	POST /_sim/oauth/revoke   {"refresh_token":"…"} revokes one; {} revokes all
func (a *OAuth) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/oauth", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, a.Stats())
	})
	mux.HandleFunc("POST /_sim/oauth/revoke", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		if r.ContentLength != 0 {
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "revoke: " + err.Error()})
				return
			}
		}
		a.Revoke(body.RefreshToken)
		writeJSON(w, http.StatusOK, a.Stats())
	})
}

// TokenRequest is a token-endpoint request as the platforms receive it:
// the body form-encoded or JSON (Notion documents JSON), the client's
// credentials in HTTP Basic or in the body.
type TokenRequest struct {
	GrantType, RefreshToken string
	ClientID, ClientSecret  string
	// Basic: the client authenticated with HTTP Basic.
	Basic bool
}

// ReadTokenRequest parses r's body (at most 64 KiB) as a form, or as JSON
// when jsonBody (the platform documents a JSON body) and the Content-Type
// says so.
func ReadTokenRequest(r *http.Request, jsonBody bool) (TokenRequest, error) {
	var t TokenRequest
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<16)
	if jsonBody && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			GrantType    string `json:"grant_type"`
			RefreshToken string `json:"refresh_token"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return t, fmt.Errorf("body: %w", err)
		}
		t = TokenRequest{GrantType: body.GrantType, RefreshToken: body.RefreshToken, ClientID: body.ClientID, ClientSecret: body.ClientSecret}
	} else {
		if err := r.ParseForm(); err != nil {
			return t, fmt.Errorf("body: %w", err)
		}
		f := r.PostForm
		t = TokenRequest{GrantType: f.Get("grant_type"), RefreshToken: f.Get("refresh_token"), ClientID: f.Get("client_id"), ClientSecret: f.Get("client_secret")}
	}
	if id, secret, ok := r.BasicAuth(); ok {
		t.ClientID, t.ClientSecret, t.Basic = id, secret, true
	}
	return t, nil
}

// RefreshGrant answers the refusals of a refresh_token grant the OAuth way
// (400/401 with {"error", "error_description"}) and otherwise issues: the
// shared part of Airtable's and Notion's token endpoints. requireBasic
// makes the client authenticate with HTTP Basic; jsonBody is as for
// ReadTokenRequest. ok is false when w has been written.
func (a *OAuth) RefreshGrant(w http.ResponseWriter, r *http.Request, requireBasic, jsonBody bool) (g Grant, ok bool) {
	fail := func(status int, code, msg string) (Grant, bool) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": msg})
		return Grant{}, false
	}
	if r.Method != http.MethodPost {
		return fail(http.StatusMethodNotAllowed, "invalid_request", "POST only")
	}
	t, err := ReadTokenRequest(r, jsonBody)
	switch {
	case err != nil:
		return fail(http.StatusBadRequest, "invalid_request", err.Error())
	case requireBasic && !t.Basic:
		return fail(http.StatusUnauthorized, "invalid_client", "the client must authenticate with HTTP Basic (client_id:client_secret)")
	case t.GrantType != "refresh_token":
		return fail(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be refresh_token (the simulator has no authorization codes)")
	case !a.ClientOK(t.ClientID, t.ClientSecret):
		return fail(http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
	}
	if g, ok = a.Refresh(t.RefreshToken); !ok {
		return fail(http.StatusBadRequest, "invalid_grant", "The refresh token is invalid, expired, revoked or was already used.")
	}
	return g, true
}
