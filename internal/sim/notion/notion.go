// Package notion is an in-memory simulator of Notion's database pages API,
// faithful to what shared/reference/saas-apis.md section 3 documents, so
// that the Notion connector, the demo and the benchmarks run without the
// real platform.
//
// It serves, under /v1:
//
//	POST  /pages                     create a page ({"parent":{"data_source_id"|"database_id"},"properties","children"})
//	GET   /pages/{id}                retrieve a page
//	PATCH /pages/{id}                update properties; "archived"/"in_trash" move it to or from the trash
//	POST  /databases/{id}/query      filter, start_cursor, page_size (<= 100); before 2025-09-03
//	GET   /databases/{id}            the database: its schema, or from 2025-09-03 its data sources
//	GET   /data_sources/{id}         a data source and its schema (2025-09-03 and later)
//	POST  /data_sources/{id}/query   as the database query (2025-09-03 and later)
//
// and the control endpoints of package sim under /_sim/.
//
// Behaviour, documented facts first:
//   - Auth is "Authorization: Bearer <token>"; a missing, unknown or
//     revoked token is 401 unauthorized "API token is invalid.".
//   - Every request needs a Notion-Version header: without one it is 400
//     missing_version ("Notion-Version header failed validation:
//     Notion-Version header should be defined, instead was `undefined`.").
//   - Errors are {"object":"error","status":N,"code":"…","message":"…",
//     "request_id":"…"} with the codes of the status-codes page; a page or
//     database that does not exist is 404 object_not_found "Could not find
//     page with ID: … Make sure the relevant pages and databases are shared
//     with your integration.".
//   - Rate limit: 429 rate_limited "You have been rate limited. Please try
//     again in a few minutes." with Retry-After in integer seconds.
//   - Size limits (400 validation_error, body-validation message such as
//     "body failed validation: body.properties.Notes.rich_text[0].text.content.length
//     should be ≤ `2000`, instead was `2001`."): text.content and URLs 2000,
//     equation 1000, email and phone 200, any array (rich text,
//     multi_select, children) 100 elements, 1000 blocks, 500 KB per body.
//     Lengths are counted in UTF-16 code units, as JavaScript counts them.
//   - A select or multi_select name that is not yet an option is added to
//     the database schema (the property value object page: "it will be
//     added to the database schema if the integration also has write access
//     to the parent database"); a name containing a comma is refused.
//   - No batch and no upsert: a client finds a page by querying with a
//     property filter, then creates or PATCHes it.
//
// Choices where the reference is unconfirmed ([U]) or silent:
//   - The rate limit ("an average of three requests per second, some bursts
//     allowed") is a rolling window per token: RateLimit requests per
//     RateInterval, by default 9 per 3 s, so the average over any 3 s is 3/s
//     and a burst of 9 passes. Retry-After is the wait until the window has
//     room, rounded up to whole seconds (at least 1). A refused request uses
//     no capacity and there is no extra penalty. The newer per-plan budgets,
//     the per-workspace limit and 529 service_overload are not simulated
//     (529 can be injected as a fault).
//   - An unknown property is 400 validation_error "<name> is not a property
//     that exists." (also for a property removed by the removed_fields
//     fault, qualified by the database ID or bare); a value of the wrong
//     type is "<name> is expected to be <type>."; a filter on an unknown
//     property is "Could not find property with name or id: <name>.".
//   - Auth is checked before the version (a bad token is 401 whatever the
//     version), then the version, then the rate limit. Notion-Version must
//     be a published version (2021-05-11 … 2026-03-11), else 400
//     missing_version listing them. From 2025-09-03 databases hold data
//     sources (upgrade guide 2025-09-03): GET /databases/{id} lists
//     "data_sources" instead of "properties", the schema and the query move
//     to /data_sources/{id}, POST /databases/{id}/query is 400
//     invalid_request_url, pages are created under a data_source_id parent
//     and page objects carry {"type":"data_source_id","data_source_id",
//     "database_id"} as parent. A database configured without DataSources
//     has one, with ID DataSourceID(database ID). As the guide documents,
//     once a database has a second data source the database-level calls
//     (create under a database_id parent, and before 2025-09-03 database
//     read and query) fail: 400 validation_error, message [U]. The data
//     source endpoints answer invalid_request_url before 2025-09-03.
//   - Text filters (rich_text, title, email, phone_number, url) compare
//     exactly (case-sensitive) for equals; contains and starts_with/ends_with
//     are case-insensitive. Compound filters nest two levels at most.
//     Results come in creation order unless "sorts" holds a timestamp sort
//     (created_time or last_edited_time, ties in creation order); property
//     sorts are accepted and ignored; next_cursor is the ID of the next
//     page. A timestamp filter ({"timestamp":"last_edited_time",
//     "last_edited_time":{"on_or_after":…}}) compares the minute-rounded
//     time; "in_trash": true lists only pages in the trash.
//   - created_time and last_edited_time are kept to the minute (seconds
//     and milliseconds zero), as Notion shows them: several edits within a
//     minute share one last_edited_time.
//   - Query is immediately consistent with writes.
//   - A page in the trash cannot be edited (400 validation_error "Can't edit
//     block that is archived. You must unarchive the block before
//     editing."), is left out of queries and can still be retrieved.
//   - An unknown select option ID is 400 validation_error; new options get
//     color "default". A body over 500,000 bytes is 400 validation_error.
//   - Faults: there is no batch endpoint, so partial_batch has no effect;
//     timeout_after_write applies a create or update, then drops the
//     connection unanswered. DuplicatesByKey counts live pages of one
//     database sharing the value of its KeyProperty.
package notion

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/sim"
)

// Defaults of Options.
const (
	DefaultRateLimit    = 9
	DefaultRateInterval = 3 * time.Second
)

// Versions are the Notion-Version values Notion publishes, oldest first.
var Versions = []string{"2021-05-11", "2021-05-13", "2021-08-16", "2022-02-22", "2022-06-28", "2025-09-03", "2026-03-11"}

// DataSourcesVersion is the first version in which databases hold data
// sources.
const DataSourcesVersion = "2025-09-03"

// Options configure a Server.
type Options struct {
	// Seed makes injected faults and generated IDs repeatable (see
	// sim.Options).
	Seed uint64
	// Faults are injected from the start; PUT /_sim/faults changes them.
	Faults sim.Faults
	// Tokens are the accepted integration tokens; empty accepts any
	// non-empty bearer token.
	Tokens []string
	// RateLimit is the requests per RateInterval per token; 0 means
	// DefaultRateLimit (9), negative means unlimited.
	RateLimit int
	// RateInterval is the rolling window; 0 means 3 s.
	RateInterval time.Duration
	// Databases replace DefaultDatabases.
	Databases []Database
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OAuthRefreshTokens are public-connection refresh tokens the token
	// endpoint (TokenPath) accepts, single use; OAuthClientID and
	// OAuthClientSecret, when set, must come in HTTP Basic. Access tokens
	// last OAuthTTL; 0 means they do not expire (Notion documents no
	// lifetime) and the token answer has no expires_in.
	OAuthRefreshTokens               []string
	OAuthClientID, OAuthClientSecret string
	OAuthTTL                         time.Duration
}

// Server is the simulator. It is an http.Handler serving the API and the
// /_sim/ control endpoints, and embeds *sim.Base for faults and stats in Go.
type Server struct {
	*sim.Base
	handler http.Handler
	tokens  map[string]bool
	// OAuth issues public-connection access tokens and single-use refresh
	// tokens of Options.OAuthRefreshTokens.
	OAuth    *sim.OAuth
	oauthTTL time.Duration
	window   *sim.Window
	initial  []Database
	interval time.Duration

	mu      sync.Mutex
	ids     uint64
	dbs     map[string]*container // by normalized database ID
	sources map[string]*db        // data sources by normalized ID
	pages   map[string]*page
	seq     int64
	events  int64
	// Hooks sends Notion webhooks to the subscriptions added with POST
	// /_sim/webhooks: first the unsigned verification_token, then, once
	// it was pasted back (POST /_sim/webhooks/verify), page events signed
	// with it.
	Hooks *sim.Hooks
}

// page is one stored database page.
type page struct {
	id       string
	seq      int64
	db       *db
	values   map[string]any // property name -> stored value
	created  time.Time
	edited   time.Time
	archived bool
}

var _ http.Handler = (*Server)(nil)

// New builds a simulator.
func New(o Options) (*Server, error) {
	base, err := sim.New(sim.Options{Seed: o.Seed, Faults: o.Faults, Now: o.Now})
	if err != nil {
		return nil, err
	}
	s := &Server{Base: base, tokens: map[string]bool{}, initial: o.Databases, interval: o.RateInterval,
		Hooks: sim.NewHooks(signature.Notion, base.Now)}
	if s.initial == nil {
		s.initial = DefaultDatabases()
	}
	if err := checkDatabases(s.initial); err != nil {
		return nil, err
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
	s.reset()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/pages", s.handleCreate)
	mux.HandleFunc("GET /v1/pages/{id}", s.handleGetPage)
	mux.HandleFunc("PATCH /v1/pages/{id}", s.handleUpdate)
	mux.HandleFunc("POST /v1/databases/{id}/query", s.handleQuery)
	mux.HandleFunc("GET /v1/databases/{id}", s.handleGetDatabase)
	mux.HandleFunc("GET /v1/data_sources/{id}", s.handleGetDataSource)
	mux.HandleFunc("POST /v1/data_sources/{id}/query", s.handleQuerySource)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, &apiError{status: 400, code: "invalid_request_url", message: "Invalid request URL."})
	})
	ttl := o.OAuthTTL
	if ttl <= 0 {
		ttl = 100 * 365 * 24 * time.Hour // no documented lifetime
	}
	s.oauthTTL = o.OAuthTTL
	s.OAuth = sim.NewOAuth(base, sim.OAuthOptions{TTL: ttl, Rotate: true, RefreshTokens: o.OAuthRefreshTokens,
		ClientID: o.OAuthClientID, ClientSecret: o.OAuthClientSecret, Prefix: "ntn_"})
	api := s.guard(mux)
	s.handler = base.Handler(sim.Platform{
		Control: func(mux *http.ServeMux) { s.OAuth.Mount(mux); s.Hooks.Mount(mux) },
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == TokenPath {
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

func checkDatabases(dbs []Database) error {
	seen := map[string]bool{}
	for i, d := range dbs {
		id := normID(d.ID)
		if len(id) != 32 {
			return fmt.Errorf("databases[%d].id: %q is not a UUID", i, d.ID)
		}
		if seen[id] {
			return fmt.Errorf("databases[%d].id: %s is listed twice", i, d.ID)
		}
		seen[id] = true
		if len(d.DataSources) > 0 && (len(d.Properties) > 0 || d.KeyProperty != "") {
			return fmt.Errorf("databases[%d]: properties belong to its data_sources when it has some", i)
		}
		for j, src := range d.sources() {
			at := fmt.Sprintf("databases[%d]", i)
			if len(d.DataSources) > 0 {
				at = fmt.Sprintf("databases[%d].data_sources[%d]", i, j)
				sid := normID(src.ID)
				if len(sid) != 32 {
					return fmt.Errorf("%s.id: %q is not a UUID", at, src.ID)
				}
				if seen[sid] {
					return fmt.Errorf("%s.id: %s is listed twice", at, src.ID)
				}
				seen[sid] = true
			}
			if err := checkProperties(at, src.Properties, src.KeyProperty); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkProperties(at string, props []Property, key string) error {
	titles := 0
	names := map[string]bool{}
	for j, p := range props {
		if p.Name == "" || names[p.Name] {
			return fmt.Errorf("%s.properties[%d]: empty or duplicate name %q", at, j, p.Name)
		}
		names[p.Name] = true
		if !slices.Contains(Types, p.Type) {
			return fmt.Errorf("%s.properties[%d]: type %q is not one of %s", at, j, p.Type, strings.Join(Types, ", "))
		}
		if p.Type == TypeTitle {
			titles++
		}
	}
	if titles != 1 {
		return fmt.Errorf("%s: %d title properties, want exactly 1", at, titles)
	}
	if key != "" && !names[key] {
		return fmt.Errorf("%s.key_property: %q is not a property", at, key)
	}
	return nil
}

// ServeHTTP serves the API and the control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Reset clears pages, restores the initial databases and clears limiter
// windows, stats and faults (the Go form of POST /_sim/reset).
func (s *Server) Reset() {
	s.reset()
	s.Base.Reset()
}

func (s *Server) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids, s.seq, s.events = 0, 0, 0
	s.Hooks.Reset()
	s.pages = map[string]*page{}
	s.dbs = map[string]*container{}
	s.sources = map[string]*db{}
	now := s.Now()
	for _, d := range s.initial {
		c := &container{id: dashed(normID(d.ID)), title: d.Title, created: now, edited: now}
		for _, src := range d.sources() {
			st := &db{id: dashed(normID(src.ID)), parent: c, title: src.Name, key: src.KeyProperty, created: now, edited: now}
			for i, p := range src.Properties {
				sp := &prop{id: propID(i), name: p.Name, typ: p.Type}
				if p.Type == TypeTitle {
					sp.id = "title"
				}
				for _, o := range p.Options {
					sp.options = append(sp.options, option{ID: s.newOptionID(), Name: o, Color: "default"})
				}
				st.props = append(st.props, sp)
			}
			c.sources = append(c.sources, st)
			s.sources[normID(st.id)] = st
		}
		s.dbs[normID(d.ID)] = c
	}
	s.window.Reset()
}

// propID is a short property ID like Notion's ("%3AxYz"-style strings),
// unique within a database.
func propID(i int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	return fmt.Sprintf("%%3A%c%c", alphabet[(i*7+3)%len(alphabet)], alphabet[i%len(alphabet)])
}

// newUUID returns the next generated ID: random-looking, repeatable for a
// seed. s.mu must be held (or the server not yet shared).
func (s *Server) newUUID() string {
	s.ids++
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], splitmix(s.Seed()+s.ids))
	binary.BigEndian.PutUint64(b[8:], splitmix(s.Seed()^(s.ids<<1|1)))
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) newOptionID() string { return s.newUUID() }

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// normID is an ID as compared: no dashes, lower case. Notion accepts IDs
// with or without dashes.
func normID(id string) string {
	return strings.ToLower(strings.ReplaceAll(id, "-", ""))
}

// dashed renders a 32-hex-digit ID in the 8-4-4-4-12 form.
func dashed(h string) string {
	if len(h) != 32 {
		return h
	}
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// guard authenticates, checks Notion-Version and rate-limits every API
// request before routing it.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		issued, expiredFor := s.OAuth.Check(token)
		if expiredFor > 0 || !issued && (!ok || (len(s.tokens) > 0 && !s.tokens[token])) {
			s.writeFault(w, r, http.StatusUnauthorized)
			return
		}
		versions, sent := r.Header["Notion-Version"]
		if !sent || len(versions) == 0 {
			s.writeError(w, &apiError{status: 400, code: "missing_version",
				message: "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`."})
			return
		}
		if v := versions[0]; !slices.Contains(Versions, v) {
			quoted := make([]string, len(Versions))
			for i, x := range Versions {
				quoted[i] = "`\"" + x + "\"`"
			}
			s.writeError(w, &apiError{status: 400, code: "missing_version",
				message: fmt.Sprintf("Notion-Version header failed validation: Notion-Version header should be %s, or %s, instead was `%q`.",
					strings.Join(quoted[:len(quoted)-1], ", "), quoted[len(quoted)-1], v)})
			return
		}
		if d := s.window.Take(token); !d.Allowed {
			secs := int64((d.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", fmt.Sprint(max(secs, 1)))
			s.writeError(w, rateLimited())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dataSources reports whether the request's version splits databases into
// data sources.
func dataSources(r *http.Request) bool {
	return r.Header.Get("Notion-Version") >= DataSourcesVersion
}

// removedProp reports whether the removed_fields fault dropped property
// name of d: bare, or qualified by the database or data source ID.
func (s *Server) removedProp(d *db, name string) bool {
	for _, q := range []string{d.id, normID(d.id), d.parent.id, normID(d.parent.id)} {
		if s.Removed(q, name) {
			return true
		}
	}
	return false
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

func rateLimited() *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
		message: "You have been rate limited. Please try again in a few minutes."}
}

// errorJSON is Notion's error body.
type errorJSON struct {
	Object    string `json:"object"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	s.mu.Lock()
	id := s.newUUID()
	s.mu.Unlock()
	sim.WriteJSON(w, e.status, errorJSON{Object: "error", Status: e.status, Code: e.code, Message: e.message, RequestID: id})
}

// writeFault writes the body Notion sends for status; it is the
// sim.Platform's WriteError for injected errors and revoked tokens.
func (s *Server) writeFault(w http.ResponseWriter, _ *http.Request, status int) {
	e := &apiError{status: status}
	switch status {
	case 400:
		e.code, e.message = "invalid_request", "Unsupported request: injected by the simulator."
	case 401:
		e.code, e.message = "unauthorized", "API token is invalid."
	case 403:
		e.code, e.message = "restricted_resource", "API token does not have access to this resource."
	case 404:
		e.code, e.message = "object_not_found", "Could not find object. Make sure the relevant pages and databases are shared with your integration."
	case 409:
		e.code, e.message = "conflict_error", "Conflict occurred while saving. Please try again."
	case 429:
		w.Header().Set("Retry-After", "1")
		e = rateLimited()
	case 500:
		e.code, e.message = "internal_server_error", "Unexpected error occurred."
	case 502:
		e.code, e.message = "bad_gateway", "Bad Gateway"
	case 503:
		e.code, e.message = "service_unavailable", "Notion is unavailable, please try again later."
	case 504:
		e.code, e.message = "gateway_timeout", "Gateway Timeout"
	case 529:
		e.code, e.message = "service_overload", "Notion is overloaded, please try again later."
	default:
		e.code = "internal_server_error"
		e.message = http.StatusText(status)
		if e.message == "" {
			e.message = fmt.Sprintf("HTTP %d", status)
		}
	}
	s.writeError(w, e)
}
