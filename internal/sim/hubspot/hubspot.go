// Package hubspot is an in-memory simulator of HubSpot's CRM objects API
// (contacts, companies, deals), faithful to what
// shared/reference/saas-apis.md section 1 documents, so that the HubSpot
// connector, the demo and the benchmarks run without the real platform.
//
// It serves, under /crm/v3:
//
//	POST  /objects/{type}                     create one record (201)
//	GET   /objects/{type}                     list (?limit=&after=&properties=a&properties=b&archived=)
//	GET   /objects/{type}/{id}                read (?properties=a&properties=b or a,b; &idProperty=p)
//	PATCH /objects/{type}/{id}                update (?idProperty=p)
//	DELETE /objects/{type}/{id}               archive (204)
//	POST  /objects/{type}/batch/create        {"inputs":[{"properties":{}, "objectWriteTraceId":""}]}
//	POST  /objects/{type}/batch/update        {"inputs":[{"id":"","properties":{}}]}
//	POST  /objects/{type}/batch/upsert        {"inputs":[{"id":"","idProperty":"","properties":{}}]}
//	POST  /objects/{type}/batch/read          {"inputs":[{"id":""}],"properties":[],"idProperty":""}
//	POST  /objects/{type}/search              filterGroups (EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN,
//	                                          HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN;
//	                                          dates as epoch ms or ISO 8601, on system dates too)
//	GET   /properties/{type}                  the property schema
//
// and the control endpoints of package sim under /_sim/.
//
// Behaviour, documented facts first:
//   - Auth is "Authorization: Bearer <token>"; a missing, unknown or revoked
//     token is 401 with category INVALID_AUTHENTICATION and the
//     X-HubSpot-Auth-Failure header.
//   - Every token may make RateLimit requests per rolling RateInterval (100
//     per 10 s, the Free/Starter private-app limit) and DailyLimit per day
//     (250,000). The request that would exceed the window gets 429 with
//     {"status":"error","message":"You have reached your
//     ten_secondly_rolling limit.","errorType":"RATE_LIMIT",
//     "policyName":"TEN_SECONDLY_ROLLING",...}; the daily limit gets
//     policyName DAILY. Responses carry X-HubSpot-RateLimit-Max,
//     -Remaining, -Interval-Milliseconds, -Daily and -Daily-Remaining.
//   - Batch endpoints take 1 to 100 inputs, else 400. Batch update and
//     upsert answer 200 when every item succeeds and 207 with per-item
//     errors ({"status","category","message","context"}) and numErrors when
//     some fail. Batch create answers 201, and 207 only when every input
//     carries a unique objectWriteTraceId; without them one failing input
//     fails the whole batch, nothing is written, and only the first error is
//     reported.
//   - Upsert results carry "new": true|false. idProperty must be a unique
//     property (email for contacts, hasUniqueValue properties).
//   - Creating or updating a record with a unique value another record holds
//     is 409 CONFLICT "Contact already exists. Existing ID: N".
//   - An unknown property (or one removed by the removed_fields fault) is
//     400 VALIDATION_ERROR "Property values were not valid:
//     [{...,"error":"PROPERTY_DOESNT_EXIST",...}]"; a value outside an
//     enumeration's options is the same shape with INVALID_OPTION.
//   - Date properties take a midnight-UTC timestamp in milliseconds; any
//     other time is INVALID_DATE ("<ms> is at 22:18:55.865 UTC, not
//     midnight!"). Multiple-checkbox values are one ";"-joined string. ""
//     or null clears a value. Values come back as strings; emails are
//     stored lower-cased.
//
// Choices where the reference is unconfirmed ([U]) or silent:
//   - 429s carry no Retry-After header: HubSpot documents one only for
//     workflows (and for 477). A client waits per policyName and
//     X-HubSpot-RateLimit-Interval-Milliseconds.
//   - Search is limited to SearchRate requests per second per token (4, the
//     primary changelog's figure rather than a later summary's 5), counted
//     apart from the ten-second window, answered with 429 policyName
//     SECONDLY ("You have reached your secondly limit."), and its responses
//     carry no X-HubSpot-RateLimit-* headers. A search takes at most 5
//     filterGroups, 10 filters per group and 25 in all, limit <= 200 and
//     10,000 results in all. EQ compares case-insensitively.
//   - Search is immediately consistent unless SearchLag is set; then a
//     write becomes visible to search only SearchLag after it is applied
//     (GET and batch read always see it at once), like the real index.
//   - Requests refused by a limiter use up no capacity; the daily count
//     resets at midnight in TimeZone (UTC by default; HubSpot uses the
//     account's time zone).
//   - A unique value held by another record is 409 CONFLICT with "Existing
//     ID: N" for every object type ("Company already exists. Existing ID:
//     N"), not only for contacts' email.
//   - Date values are accepted only as epoch milliseconds (number or
//     numeric string), the strictest reading, and read back in that form.
//     Number, boolean and datetime errors use INVALID_NUMBER,
//     INVALID_BOOLEAN, INVALID_DATETIME; read-only properties
//     READ_ONLY_VALUE.
//   - The partial_batch fault fails an item with a transient per-item error
//     (category INTERNAL_ERROR), not applied; timeout_after_write applies a
//     whole request, then drops the connection unanswered.
//   - A 400 for a malformed body (bad JSON, a property value that is an
//     array or object, too many inputs, duplicate ids in a batch) fails the
//     whole request.
package hubspot

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/sim"
)

// Defaults of Options.
const (
	DefaultRateLimit    = 100
	DefaultRateInterval = 10 * time.Second
	DefaultDailyLimit   = 250_000
	DefaultSearchRate   = 4
	// MaxBatchInputs is the most inputs a batch endpoint takes.
	MaxBatchInputs = 100
)

// Options configure a Server.
type Options struct {
	// Seed makes injected faults repeatable (see sim.Options).
	Seed uint64
	// OAuthRefreshTokens are public-app refresh tokens the token endpoint
	// accepts; OAuthClientID and OAuthClientSecret, when set, must come
	// with them. Access tokens last OAuthTTL (default 30 minutes, HubSpot's
	// expires_in 1800).
	OAuthRefreshTokens               []string
	OAuthClientID, OAuthClientSecret string
	OAuthTTL                         time.Duration
	// Faults are injected from the start; PUT /_sim/faults changes them.
	Faults sim.Faults
	// Tokens are the accepted private-app tokens; empty accepts any
	// non-empty bearer token.
	Tokens []string
	// RateLimit is the requests per RateInterval per token; 0 means
	// DefaultRateLimit (100), negative means unlimited.
	RateLimit int
	// RateInterval is the rolling window; 0 means 10 s.
	RateInterval time.Duration
	// DailyLimit is the requests per day per token; 0 means 250,000,
	// negative means unlimited.
	DailyLimit int
	// SearchRate is the search requests per second per token; 0 means 4,
	// negative means unlimited.
	SearchRate int
	// SearchLag delays the visibility of writes to search; 0 means search
	// sees every write at once.
	SearchLag time.Duration
	// SearchLagJitter adds up to this much more lag, different per write
	// (repeatably), so writes can become visible to search out of their
	// modification order, as with the real index.
	SearchLagJitter time.Duration
	// TimeZone is where the daily limit resets at midnight; nil means UTC.
	TimeZone *time.Location
	// ObjectTypes replace DefaultObjectTypes.
	ObjectTypes []ObjectType
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Server is the simulator. It is an http.Handler serving the API and the
// /_sim/ control endpoints, and embeds *sim.Base for faults and stats in Go.
type Server struct {
	*sim.Base
	handler http.Handler
	// OAuth issues the public-app access tokens (30 minutes) and refresh
	// tokens of Options.OAuthRefreshTokens.
	OAuth *sim.OAuth
	// Hooks sends HubSpot webhooks (signature v3) to the subscriptions
	// added with POST /_sim/webhooks.
	Hooks *sim.Hooks

	tokens     map[string]bool
	window     *sim.Window
	searchWin  *sim.Window
	interval   time.Duration
	dailyLimit int
	searchLag  time.Duration
	lagJitter  time.Duration
	writes     int64 // writes so far, which vary the jitter; s.mu held
	zone       *time.Location
	types      map[string]*ObjectType

	mu      sync.Mutex
	nextID  int64
	corr    int64
	eventID int64
	stores  map[string]*store
	daily   map[string]dayCount
}

type dayCount struct {
	day string
	n   int
}

var _ http.Handler = (*Server)(nil)

// New builds a simulator.
func New(o Options) (*Server, error) {
	base, err := sim.New(sim.Options{Seed: o.Seed, Faults: o.Faults, Now: o.Now})
	if err != nil {
		return nil, err
	}
	s := &Server{
		Base:       base,
		tokens:     map[string]bool{},
		interval:   o.RateInterval,
		dailyLimit: o.DailyLimit,
		searchLag:  o.SearchLag,
		lagJitter:  o.SearchLagJitter,
		zone:       o.TimeZone,
		types:      map[string]*ObjectType{},
		Hooks:      sim.NewHooks(signature.HubSpot, base.Now),
	}
	for _, t := range o.Tokens {
		s.tokens[t] = true
	}
	if s.interval <= 0 {
		s.interval = DefaultRateInterval
	}
	limit := o.RateLimit
	if limit == 0 {
		limit = DefaultRateLimit
	}
	s.window = sim.NewWindow(limit, s.interval, base.Now)
	search := o.SearchRate
	if search == 0 {
		search = DefaultSearchRate
	}
	s.searchWin = sim.NewWindow(search, time.Second, base.Now)
	if s.dailyLimit == 0 {
		s.dailyLimit = DefaultDailyLimit
	}
	if s.zone == nil {
		s.zone = time.UTC
	}
	types := o.ObjectTypes
	if types == nil {
		types = DefaultObjectTypes()
	}
	for i := range types {
		t := types[i]
		if t.Name == "" {
			return nil, fmt.Errorf("object type %d: no name", i)
		}
		s.types[t.Name] = &t
	}
	s.reset()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /crm/v3/objects/{type}", s.handleCreate)
	mux.HandleFunc("GET /crm/v3/objects/{type}", s.handleList)
	mux.HandleFunc("GET /crm/v3/objects/{type}/{id}", s.handleGet)
	mux.HandleFunc("PATCH /crm/v3/objects/{type}/{id}", s.handleUpdate)
	mux.HandleFunc("DELETE /crm/v3/objects/{type}/{id}", s.handleArchive)
	mux.HandleFunc("POST /crm/v3/objects/{type}/batch/{op}", s.handleBatch)
	mux.HandleFunc("POST /crm/v3/objects/{type}/search", s.handleSearch)
	mux.HandleFunc("GET /crm/v3/properties/{type}", s.handleProperties)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, http.StatusNotFound, "", fmt.Sprintf("No route for %s %s", r.Method, r.URL.Path))
	})

	ttl := o.OAuthTTL
	if ttl <= 0 {
		ttl = 30 * time.Minute
	}
	s.OAuth = sim.NewOAuth(base, sim.OAuthOptions{TTL: ttl, RefreshTokens: o.OAuthRefreshTokens,
		ClientID: o.OAuthClientID, ClientSecret: o.OAuthClientSecret, Prefix: "CNf"})
	api := s.guard(mux)
	s.handler = base.Handler(sim.Platform{
		Control: func(mux *http.ServeMux) { s.OAuth.Mount(mux); s.Hooks.Mount(mux) },
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/oauth/2026-03/token", "/oauth/v3/token", "/oauth/v1/token":
				s.handleToken(w, r)
				return
			}
			api.ServeHTTP(w, r)
		}),
		WriteError: s.writeFault,
		Records:    s.records,
		Reset:      s.reset,
	})
	return s, nil
}

// ServeHTTP serves the API and the control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Reset clears records, limiter windows, stats and faults (the Go form of
// POST /_sim/reset).
func (s *Server) Reset() {
	s.reset()
	s.Base.Reset()
}

// handleToken is HubSpot's OAuth token endpoint (the current
// /oauth/2026-03/token, and v3 and v1): a form-encoded refresh_token grant
// answers {access_token, refresh_token, expires_in: 1800, token_type}; a
// refresh token that is unknown or revoked is 400 invalid_grant with
// HubSpot's BAD_REFRESH_TOKEN status (changelog "New OAuth v3 API
// Endpoints and Standardized Error Responses").
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		sim.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "POST only"})
		return
	}
	t, err := sim.ReadTokenRequest(r, false)
	if err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	bad := func(code, status, msg string) {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": msg, "status": status, "message": msg})
	}
	switch {
	case t.GrantType != "refresh_token":
		bad("unsupported_grant_type", "BAD_GRANT_TYPE", "grant_type must be refresh_token (the simulator has no authorization codes)")
		return
	case !s.OAuth.ClientOK(t.ClientID, t.ClientSecret):
		bad("invalid_client", "BAD_CLIENT_ID", "missing or unknown client id")
		return
	}
	g, ok := s.OAuth.Refresh(t.RefreshToken)
	if !ok {
		bad("invalid_grant", "BAD_REFRESH_TOKEN", "refresh token is invalid, expired or revoked")
		return
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"access_token": g.AccessToken, "refresh_token": g.RefreshToken,
		"expires_in": g.ExpiresIn, "token_type": "bearer"})
}

func (s *Server) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID, s.corr, s.eventID = 0, 0, 0
	s.Hooks.Reset()
	s.stores = map[string]*store{}
	for name := range s.types {
		s.stores[name] = newStore()
	}
	s.daily = map[string]dayCount{}
	s.window.Reset()
	s.searchWin.Reset()
}

// guard authenticates and rate-limits every API request before routing it.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		issued, expiredFor := s.OAuth.Check(token)
		switch {
		case issued && expiredFor > 0:
			w.Header().Set("X-HubSpot-Auth-Failure", "401 Unauthorized")
			s.writeError(w, r, http.StatusUnauthorized, "EXPIRED_AUTHENTICATION",
				fmt.Sprintf("The OAuth token used to make this call expired %d minute(s) ago.", int(expiredFor/time.Minute)))
			return
		case issued:
		case !ok || (len(s.tokens) > 0 && !s.tokens[token]):
			s.writeFault(w, r, http.StatusUnauthorized)
			return
		}
		search := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/search")
		daily, remaining, ok := s.takeDaily(token)
		if !ok {
			s.setDailyHeaders(w, 0)
			s.writeRateLimited(w, r, "DAILY", "You have reached your daily limit.")
			return
		}
		if search {
			if d := s.searchWin.Take(token); !d.Allowed {
				s.undoDaily(token, daily)
				s.writeRateLimited(w, r, "SECONDLY", "You have reached your secondly limit.")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		d := s.window.Take(token)
		if d.Limit > 0 {
			h := w.Header()
			h.Set("X-HubSpot-RateLimit-Max", fmt.Sprint(d.Limit))
			h.Set("X-HubSpot-RateLimit-Remaining", fmt.Sprint(d.Remaining))
			h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", fmt.Sprint(s.interval.Milliseconds()))
		}
		if !d.Allowed {
			s.undoDaily(token, daily)
			s.setDailyHeaders(w, remaining+1)
			s.writeRateLimited(w, r, "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
			return
		}
		s.setDailyHeaders(w, remaining)
		next.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(p):])
	return tok, tok != ""
}

// takeDaily counts one request against token's daily limit; it returns the
// day counted, the requests left and whether the request is allowed.
func (s *Server) takeDaily(token string) (day string, remaining int, ok bool) {
	if s.dailyLimit < 0 {
		return "", -1, true
	}
	day = s.Now().In(s.zone).Format(time.DateOnly)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.daily[token]
	if c.day != day {
		c = dayCount{day: day}
	}
	if c.n >= s.dailyLimit {
		s.daily[token] = c
		return day, 0, false
	}
	c.n++
	s.daily[token] = c
	return day, s.dailyLimit - c.n, true
}

// undoDaily returns a request refused by another limiter.
func (s *Server) undoDaily(token, day string) {
	if s.dailyLimit < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.daily[token]; c.day == day && c.n > 0 {
		c.n--
		s.daily[token] = c
	}
}

func (s *Server) setDailyHeaders(w http.ResponseWriter, remaining int) {
	if s.dailyLimit < 0 {
		return
	}
	w.Header().Set("X-HubSpot-RateLimit-Daily", fmt.Sprint(s.dailyLimit))
	w.Header().Set("X-HubSpot-RateLimit-Daily-Remaining", fmt.Sprint(remaining))
}

// apiError is HubSpot's error body; every field but status and message is
// optional.
type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	ErrorType     string              `json:"errorType,omitempty"`
	PolicyName    string              `json:"policyName,omitempty"`
	RequestID     string              `json:"requestId,omitempty"`
}

func (s *Server) correlationID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corr++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", s.corr)
}

func (s *Server) writeError(w http.ResponseWriter, _ *http.Request, status int, category, message string) {
	sim.WriteJSON(w, status, apiError{Status: "error", Message: message, CorrelationID: s.correlationID(), Category: category})
}

func (s *Server) writeRateLimited(w http.ResponseWriter, _ *http.Request, policy, message string) {
	id := s.correlationID()
	sim.WriteJSON(w, http.StatusTooManyRequests, apiError{
		Status: "error", Message: message, ErrorType: "RATE_LIMIT", CorrelationID: id,
		PolicyName: policy, RequestID: strings.ReplaceAll(id, "-", ""),
	})
}

// writeFault writes the body HubSpot sends for status; it is the
// sim.Platform's WriteError for injected errors and revoked tokens.
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, status int) {
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("X-HubSpot-Auth-Failure", "401 Unauthorized")
		s.writeError(w, r, status, "INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
	case http.StatusForbidden:
		s.writeError(w, r, status, "MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call.")
	case http.StatusTooManyRequests:
		w.Header().Set("X-HubSpot-RateLimit-Interval-Milliseconds", fmt.Sprint(s.interval.Milliseconds()))
		w.Header().Set("X-HubSpot-RateLimit-Remaining", "0")
		s.writeRateLimited(w, r, "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
	case http.StatusLocked:
		s.writeError(w, r, status, "LOCKED", "The record is locked by another write; wait at least 2 seconds before retrying.")
	case 477:
		w.Header().Set("Retry-After", "60")
		s.writeError(w, r, status, "MIGRATION_IN_PROGRESS", "The account is being migrated between data hosting locations.")
	default:
		msg := http.StatusText(status)
		if msg == "" {
			msg = fmt.Sprintf("HTTP %d", status)
		}
		s.writeError(w, r, status, "INTERNAL_ERROR", msg)
	}
}
