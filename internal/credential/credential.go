// Package credential obtains, refreshes and keeps the expiring access
// tokens of destinations configured with a credential block: OAuth refresh
// tokens (HubSpot public apps, Google user OAuth, Notion, Airtable), Slack
// token rotation and Google service-account keys (the JWT bearer grant).
// The token requests are golang.org/x/oauth2's and
// golang.org/x/oauth2/google's; nothing here signs a JWT by hand.
//
// Tokens obtained at run time live in the store (store.Credentials), sealed
// with AES-256-GCM under the key in SLUICE_CREDENTIAL_KEY, so they survive
// restarts and are shared by every instance. A refresh happens under the
// store's per-credential lock: the instance that gets the lock re-reads the
// row, and refreshes only when the token there is still the old one. With
// single-use refresh tokens (Slack rotation, Airtable) two instances
// refreshing at once would lose the credential; this ordering prevents it.
//
// A refresh the platform refuses for good (invalid_grant, a revoked or
// reused refresh token, an unknown client) is recorded on the row and
// surfaces as a connector.Error of class Auth, which pauses the destination
// through the pipeline with the reason; deliveries stay queued. A refresh
// that fails for a while (network, 5xx, 429) is Retryable.
package credential

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/store"
)

// Kinds of credential.
const (
	OAuthRefresh         = "oauth_refresh"
	SlackRotation        = "slack_rotation"
	GoogleServiceAccount = "google_service_account"
)

// Kinds lists the accepted kinds.
var Kinds = []string{OAuthRefresh, SlackRotation, GoogleServiceAccount}

// Default token endpoints: HubSpot's current OAuth API (2026-03; v1 is
// deprecated), Slack's oauth.v2.access and Google's token endpoint.
const (
	HubSpotTokenURL = "https://api.hubapi.com/oauth/2026-03/token"
	SlackTokenURL   = "https://slack.com/api/oauth.v2.access"
	GoogleTokenURL  = "https://oauth2.googleapis.com/token"
	NotionTokenURL  = "https://api.notion.com/v1/oauth/token"
	AirtableURL     = "https://airtable.com/oauth2/v1/token"
)

// DefaultScopes is what a service account asks for when no scopes are
// configured.
var DefaultScopes = []string{"https://www.googleapis.com/auth/spreadsheets"}

// DefaultRefreshBefore is how long before expiry a token is renewed.
const DefaultRefreshBefore = 5 * time.Minute

// Options build a Source.
type Options struct {
	// Name is the destination's; it names the stored row.
	Name string
	// Type is the destination's connector type, which picks the default
	// token endpoint.
	Type string
	Spec config.Credential
	// Store keeps the sealed tokens and coordinates instances.
	Store store.Credentials
	// Sealer encrypts what is stored.
	Sealer *Sealer
	// HTTPClient sends the token requests (egress-guarded by the caller).
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// ReadFile reads ServiceAccountFile; default os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// Source is one destination's credential: connector.Credential.
type Source struct {
	name, kind string
	spec       config.Credential
	seed       string
	saJSON     []byte
	tokenURL   string
	authStyle  oauth2.AuthStyle
	st         store.Credentials
	sealer     *Sealer
	client     *http.Client
	now        func() time.Time

	mu  sync.Mutex
	cur tokens
}

var _ connector.Credential = (*Source)(nil)

// tokens is what is sealed in the store.
type tokens struct {
	Access  string    `json:"access_token"`
	Refresh string    `json:"refresh_token,omitempty"`
	Type    string    `json:"token_type,omitempty"`
	Expiry  time.Time `json:"expiry"`
}

// Validate checks a credential block without opening anything: `sluice
// check`.
func Validate(typ string, c config.Credential, readFile func(string) ([]byte, error)) error {
	_, _, err := resolve(typ, c, readFile)
	return err
}

// resolve checks c and returns the token URL and the service-account key.
func resolve(typ string, c config.Credential, readFile func(string) ([]byte, error)) (string, []byte, error) {
	if readFile == nil {
		readFile = os.ReadFile
	}
	if !slices.Contains(Kinds, c.Kind) {
		return "", nil, fmt.Errorf("credential.kind: %q is not one of %s", c.Kind, strings.Join(Kinds, ", "))
	}
	tokenURL := c.TokenURL
	var sa []byte
	switch c.Kind {
	case OAuthRefresh, SlackRotation:
		switch {
		case c.RefreshToken == "":
			return "", nil, errors.New("credential.refresh_token: required")
		case c.ClientID == "" || c.ClientSecret == "":
			return "", nil, errors.New("credential.client_id and credential.client_secret: required for a refresh")
		}
		if tokenURL == "" {
			switch {
			case c.Kind == SlackRotation || typ == "slack":
				tokenURL = SlackTokenURL
			case typ == "hubspot":
				tokenURL = HubSpotTokenURL
			case typ == "sheets":
				tokenURL = GoogleTokenURL
			case typ == "notion":
				tokenURL = NotionTokenURL
			case typ == "airtable":
				tokenURL = AirtableURL
			default:
				return "", nil, errors.New("credential.token_url: required for this destination type")
			}
		}
	case GoogleServiceAccount:
		switch {
		case c.ServiceAccountJSON != "":
			sa = []byte(c.ServiceAccountJSON)
		case c.ServiceAccountFile != "":
			b, err := readFile(c.ServiceAccountFile)
			if err != nil {
				return "", nil, fmt.Errorf("credential.service_account_file: %w", err)
			}
			sa = b
		default:
			return "", nil, errors.New("credential: a service account needs service_account_file or service_account_json")
		}
		if _, err := google.JWTConfigFromJSON(sa, scopes(c)...); err != nil {
			return "", nil, fmt.Errorf("credential: service account key: %w", err)
		}
	}
	return tokenURL, sa, nil
}

// clientAuth is how a platform's token endpoint wants the client's
// credentials: Notion and Airtable (a client with a secret) in HTTP Basic;
// HubSpot, Slack and Google in the form.
func clientAuth(typ string) oauth2.AuthStyle {
	switch typ {
	case "notion", "airtable":
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

func scopes(c config.Credential) []string {
	if len(c.Scopes) > 0 {
		return c.Scopes
	}
	return DefaultScopes
}

// New builds a Source; it fails on an invalid block.
func New(o Options) (*Source, error) {
	tokenURL, sa, err := resolve(o.Type, o.Spec, o.ReadFile)
	if err != nil {
		return nil, err
	}
	if o.Store == nil || o.Sealer == nil {
		return nil, errors.New("credential: a store and a sealer are required")
	}
	s := &Source{name: o.Name, kind: o.Spec.Kind, spec: o.Spec, saJSON: sa, tokenURL: tokenURL,
		st: o.Store, sealer: o.Sealer, client: o.HTTPClient, now: o.Now, authStyle: clientAuth(o.Type)}
	if s.client == nil {
		s.client = http.DefaultClient
	}
	if s.now == nil {
		s.now = time.Now
	}
	h := sha256.New()
	h.Write([]byte(s.kind + "\x00" + tokenURL + "\x00" + o.Spec.ClientID + "\x00" + o.Spec.RefreshToken + "\x00"))
	h.Write(sa)
	s.seed = hex.EncodeToString(h.Sum(nil))[:24]
	return s, nil
}

// Kind is the credential's kind.
func (s *Source) Kind() string { return s.kind }

// before is how long before expiry t is renewed.
func (s *Source) before(t tokens, refreshedAt time.Time) time.Duration {
	b := s.spec.RefreshBefore.D()
	if b <= 0 {
		b = DefaultRefreshBefore
	}
	if life := t.Expiry.Sub(refreshedAt); life > 0 && life/10 < b {
		b = life / 10
	}
	return b
}

func (s *Source) fresh(t tokens, refreshedAt time.Time) bool {
	return t.Access != "" && (t.Expiry.IsZero() || s.now().Before(t.Expiry.Add(-s.before(t, refreshedAt))))
}

// Token returns an access token that is valid now and not about to expire,
// refreshing it first when needed (once across instances).
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Access != "" && s.fresh(s.cur, time.Time{}) {
		return s.cur.Access, nil
	}
	t, err := s.obtain(ctx, "")
	if err != nil {
		return "", err
	}
	return t.Access, nil
}

// Rejected is told that the platform refused token (a 401): unless another
// caller already replaced it, the credential is refreshed once; the new
// token is returned.
func (s *Source) Rejected(ctx context.Context, token string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Access != "" && s.cur.Access != token && s.fresh(s.cur, time.Time{}) {
		return s.cur.Access, nil
	}
	t, err := s.obtain(ctx, token)
	if err != nil {
		return "", err
	}
	return t.Access, nil
}

// obtain reads the stored tokens under the store's lock and refreshes them
// unless they are fresh and not rejected. s.mu is held.
func (s *Source) obtain(ctx context.Context, rejected string) (tokens, error) {
	var out tokens
	err := s.st.CredentialRefresh(ctx, s.name, func(cur store.Credential, found bool) (store.Credential, bool, error) {
		var t tokens
		mine := found && cur.Seed == s.seed
		if mine && cur.Failure != "" {
			return cur, false, s.failed(cur.Failure)
		}
		if mine && len(cur.Sealed) > 0 {
			plain, err := s.sealer.Open(s.name, cur.Sealed)
			if err != nil {
				return cur, false, &connector.Error{Class: connector.Auth, Code: "CREDENTIAL_UNREADABLE", Message: err.Error(), Err: err}
			}
			if err := json.Unmarshal(plain, &t); err != nil {
				return cur, false, &connector.Error{Class: connector.Auth, Code: "CREDENTIAL_UNREADABLE", Message: "credential " + s.name + ": stored tokens are not readable", Err: err}
			}
			if t.Access != rejected && s.fresh(t, cur.RefreshedAt) {
				out = t // another instance (or an earlier run) refreshed it
				return cur, false, nil
			}
		}
		if !mine {
			cur = store.Credential{}
		}
		next := cur
		next.Name, next.Kind, next.Seed = s.name, s.kind, s.seed
		refresh := t.Refresh
		if refresh == "" {
			refresh = s.spec.RefreshToken
		}
		nt, err := s.exchange(ctx, refresh)
		now := s.now()
		if err != nil {
			if permanent(err) {
				next.Failure = fmt.Sprintf("%s refused the refresh: %s", s.tokenHost(), describe(err))
				next.FailedAt = now
				return next, true, s.failed(next.Failure)
			}
			return cur, false, &connector.Error{Class: connector.Retryable, Code: "CREDENTIAL_REFRESH",
				Message: fmt.Sprintf("credential %s: token request to %s failed: %s", s.name, s.tokenHost(), describe(err)), Err: err}
		}
		if nt.Refresh == "" {
			nt.Refresh = refresh
		}
		plain, _ := json.Marshal(nt)
		next.Sealed = s.sealer.Seal(s.name, plain)
		next.ExpiresAt, next.RefreshedAt = nt.Expiry, now
		next.Refreshes++
		next.Failure, next.FailedAt = "", time.Time{}
		out = nt
		return next, true, nil
	})
	if err != nil {
		var ce *connector.Error
		if errors.As(err, &ce) {
			return tokens{}, ce
		}
		return tokens{}, &connector.Error{Class: connector.Retryable, Code: "CREDENTIAL_STORE", Message: "credential " + s.name + ": " + err.Error(), Err: err}
	}
	s.cur = out
	return out, nil
}

func (s *Source) failed(reason string) *connector.Error {
	return &connector.Error{Class: connector.Auth, Code: "CREDENTIAL_REFRESH_FAILED",
		Message: fmt.Sprintf("credential %s (%s) cannot be refreshed: %s; authorize the app again and put the new credential in the config", s.name, s.kind, reason)}
}

func (s *Source) tokenHost() string {
	if i := strings.Index(s.tokenURL, "://"); i >= 0 {
		rest := s.tokenURL[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return rest[:j]
		}
		return rest
	}
	return "the token endpoint"
}

// exchange asks the platform for new tokens.
func (s *Source) exchange(ctx context.Context, refresh string) (tokens, error) {
	client := s.client
	if s.kind == SlackRotation {
		client = &http.Client{Transport: slackErrors{base: transportOf(client)}, Timeout: client.Timeout}
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
	var tok *oauth2.Token
	var err error
	switch s.kind {
	case GoogleServiceAccount:
		cfg, cerr := google.JWTConfigFromJSON(s.saJSON, scopes(s.spec)...)
		if cerr != nil {
			return tokens{}, cerr
		}
		if s.spec.TokenURL != "" {
			cfg.TokenURL = s.spec.TokenURL
		}
		tok, err = cfg.TokenSource(ctx).Token()
	default:
		cfg := oauth2.Config{ClientID: s.spec.ClientID, ClientSecret: s.spec.ClientSecret,
			Endpoint: oauth2.Endpoint{TokenURL: s.tokenURL, AuthStyle: s.authStyle}}
		tok, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	}
	if err != nil {
		return tokens{}, err
	}
	t := tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, Type: tok.TokenType, Expiry: tok.Expiry}
	if t.Refresh == refresh && s.kind == SlackRotation {
		// oauth2 keeps the old refresh token when none came back.
		return t, errors.New("oauth.v2.access answered no new refresh token")
	}
	if ei, ok := tok.Extra("expires_in").(float64); ok && ei > 0 {
		// Expiry on the injected clock, not the machine's.
		t.Expiry = s.now().Add(time.Duration(ei) * time.Second)
	} else if !tok.Expiry.IsZero() {
		t.Expiry = s.now().Add(time.Until(tok.Expiry))
	}
	return t, nil
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// permanent reports whether a token request failed for good: the platform
// answered 4xx with an OAuth error (invalid_grant, invalid_client, …).
func permanent(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return false
	}
	code := re.Response.StatusCode
	return code >= 400 && code < 500 && code != http.StatusTooManyRequests && code != http.StatusRequestTimeout
}

// describe is a token request's failure without any secret: the OAuth
// error code and description only.
func describe(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := cmpOr(re.ErrorCode, "HTTP "+fmt.Sprint(statusOf(re)))
		if re.ErrorDescription != "" {
			msg += ": " + re.ErrorDescription
		}
		return msg
	}
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) && ue.Timeout() {
		return "timed out"
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

func statusOf(re *oauth2.RetrieveError) int {
	if re.Response == nil {
		return 0
	}
	return re.Response.StatusCode
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
