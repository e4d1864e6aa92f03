// Package airtable is an in-memory simulator of Airtable's Web API for
// records, faithful to what shared/reference/saas-apis.md section 2
// documents, so that the Airtable connector, the demo and the benchmarks run
// without the real platform.
//
// It serves, under /v0/{baseId}/{tableIdOrName} (table names or IDs):
//
//	GET    ?pageSize&offset&maxRecords&filterByFormula&fields[]&returnFieldsByFieldId   list records
//	POST   /listRecords        the same, parameters in a JSON body
//	GET    /{recordId}         one record
//	POST                       create: {"records":[{"fields":{}}],"typecast":bool} or {"fields":{}}
//	PATCH, PUT                 update {"records":[{"id","fields"}]}; with
//	                           "performUpsert":{"fieldsToMergeOn":[...]} an upsert
//	PATCH, PUT /{recordId}     update one record {"fields":{}}
//	DELETE ?records[]=…        delete up to 10; DELETE /{recordId} one
//
// and the control endpoints of package sim under /_sim/.
//
// Behaviour, documented facts first:
//   - Auth is "Authorization: Bearer <token>"; a missing or unknown token is
//     401 {"error":{"type":"AUTHENTICATION_REQUIRED",...}}. A base that does
//     not exist, or a table that does not exist in it, is 403
//     INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND, as a wrong base or table ID is
//     on Airtable. An unknown record ID on a /{recordId} route is 404
//     {"error":"NOT_FOUND"}; in a batch update it is 422 ROW_DOES_NOT_EXIST.
//   - Each base takes RateLimit requests per second (5) and each token
//     TokenRateLimit (50), counted in a rolling one-second window. The
//     request that exceeds one gets 429 {"error":{"type":"RATE_LIMIT_REACHED",
//     "message":"Rate limit exceeded. Please try again later"}} and starts
//     the Penalty (30 s): every request to that base (or with that token)
//     gets the same 429 until it is over. Requests refused during the
//     penalty neither count nor extend it.
//   - Create, update and upsert take 1 to 10 records; more is 422
//     INVALID_RECORDS ("A maximum of 10 records can be created per request
//     but you have provided 11."). Delete takes up to 10 IDs.
//   - Upsert matches records on fieldsToMergeOn (1 to 3 fields of type
//     number, text, long text, single or multiple select, date; email, URL
//     and phone count as text): no match creates, one match updates, more
//     than one fails the request. A record with "id" ignores the merge
//     fields and must exist. The answer adds createdRecords and
//     updatedRecords (record IDs).
//   - PATCH merges, PUT clears every field the request leaves out.
//   - A field the table does not have (or one removed by the removed_fields
//     fault, named bare or as "Table.Field") is 422 UNKNOWN_FIELD_NAME
//     `Unknown field name: "X"`. A select value that is not an existing
//     option is 422 INVALID_MULTIPLE_CHOICE_OPTIONS `Insufficient
//     permissions to create new select option ""X""` unless typecast is set,
//     which creates the option (unless Options.EditorOnly: creating options
//     needs Creator permission). Other values a field cannot take are 422
//     INVALID_VALUE_FOR_COLUMN. typecast also converts numbers and booleans
//     to text, numeric strings to numbers, "a, b" to a multiple select and
//     "true"/"false" to a checkbox.
//   - Responses leave out empty values ("", [], false). Writes answer 200
//     (creates included) with the records as stored.
//   - List pages hold at most 100 records; "offset" continues a listing and
//     names the next record, so an offset whose record was deleted is 422
//     LIST_RECORDS_ITERATOR_NOT_AVAILABLE. A URL longer than 16,000
//     characters is refused (414); POST …/listRecords takes the same
//     parameters in a body.
//
// Choices where the reference is unconfirmed ([U]) or silent:
//   - 429s carry no Retry-After header: Airtable documents the 30 s wait
//     and a Retry-After only for 503. An injected 429 (Faults.Errors) is one
//     429 with the same body; it does not start the penalty.
//   - A batch is all-or-nothing: one invalid record fails the request with
//     that record's error, and nothing is written. The partial_batch fault,
//     which Airtable has no documented form for, leaves the failed records
//     out of an otherwise successful answer (records, createdRecords,
//     updatedRecords) without applying them; timeout_after_write applies the
//     whole request and then drops the connection unanswered.
//   - Upserts and formulas compare text exactly (case-sensitively); a
//     number field matches a numeric string. Upserting with more than one
//     match is 422 INVALID_REQUEST_UNKNOWN naming the records.
//   - Requests of more than MaxBodyBytes (2 MiB) are 413
//     {"error":{"type":"REQUEST_TOO_LARGE",...}}; a body that is not JSON is
//     400 INVALID_REQUEST_BODY; unknown body keys are 422
//     INVALID_REQUEST_UNKNOWN ("Invalid request: parameter validation
//     failed. Check your request data.").
//   - filterByFormula supports a subset of the formula language (see
//     parseFormula); anything else, or an unknown field, is 422
//     INVALID_FILTER_BY_FORMULA ("The formula for filtering records is
//     invalid: Unknown field names: x"). Records list in creation order;
//     sort and view are ignored.
//   - Injected statuses use Airtable's bodies: 401 AUTHENTICATION_REQUIRED,
//     403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND, 404 {"error":"NOT_FOUND"},
//     503 RETRIABLE_ERROR, other 5xx SERVER_ERROR.
package airtable

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/sim"
)

// Defaults of Options and Airtable's fixed limits.
const (
	// DefaultBaseID is the base of DefaultBases.
	DefaultBaseID         = "appSluiceSim00001"
	DefaultRateLimit      = 5
	DefaultTokenRateLimit = 50
	DefaultPenalty        = 30 * time.Second
	DefaultMaxBodyBytes   = 2 << 20
	// MaxRecordsPerRequest is the most records a write or delete takes.
	MaxRecordsPerRequest = 10
	// MaxPageSize is the most records one list page holds.
	MaxPageSize = 100
	// MaxURLLength is the longest request URL Airtable accepts.
	MaxURLLength = 16_000

	rateInterval = time.Second
)

// Options configure a Server.
type Options struct {
	// Seed makes injected faults repeatable (see sim.Options).
	Seed uint64
	// Faults are injected from the start; PUT /_sim/faults changes them.
	Faults sim.Faults
	// Tokens are the accepted personal access tokens; empty accepts any
	// non-empty bearer token.
	Tokens []string
	// RateLimit is the requests per second per base; 0 means 5, negative
	// means unlimited.
	RateLimit int
	// TokenRateLimit is the requests per second per token across bases; 0
	// means 50, negative means unlimited.
	TokenRateLimit int
	// Penalty is how long a base (or token) that exceeded its rate gets
	// 429s; 0 means 30 s, negative means none (only the excess request is
	// refused).
	Penalty time.Duration
	// MaxBodyBytes bounds a request body; 0 means 2 MiB.
	MaxBodyBytes int
	// EditorOnly makes the token an Editor rather than a Creator: typecast
	// cannot create select options.
	EditorOnly bool
	// Bases replace DefaultBases.
	Bases []Base
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OAuthRefreshTokens are OAuth refresh tokens the token endpoint
	// (TokenPath) accepts, single use as on Airtable; OAuthClientID and
	// OAuthClientSecret, when set, must come with them (the secret in HTTP
	// Basic). Access tokens last OAuthTTL (default 60 minutes).
	OAuthRefreshTokens               []string
	OAuthClientID, OAuthClientSecret string
	OAuthTTL                         time.Duration
}

// Server is the simulator. It is an http.Handler serving the API and the
// /_sim/ control endpoints, and embeds *sim.Base for faults and stats in Go.
type Server struct {
	*sim.Base
	handler http.Handler

	tokens map[string]bool
	// OAuth issues the OAuth access tokens (60 minutes) and single-use
	// refresh tokens of Options.OAuthRefreshTokens.
	OAuth       *sim.OAuth
	oauthSecret bool
	baseWin     *sim.Window
	tokenWin    *sim.Window
	penalty     time.Duration
	maxBody     int
	editorOnly  bool
	schema      []Base

	// Hooks notifies the webhooks added with POST /_sim/webhooks (each
	// names its base; "id" is the webhook ID, "secret" its
	// macSecretBase64) when a request changed records of their base.
	Hooks *sim.Hooks

	mu        sync.Mutex
	seq       uint64
	penalties map[string]time.Time
	bases     map[string]*baseState
	// pending are record changes not yet made a payload; payloads are
	// every webhook's payload list, by webhook ID.
	pending  []recordChange
	payloads map[string][]payload
	txn      int64
}

type baseState struct {
	id     string
	tables []*tableState
}

type tableState struct {
	baseID string
	def    Table
	recs   map[string]*record
}

type record struct {
	id      string
	seq     uint64
	created time.Time
	// modified is when a cell last changed (lastModifiedTime fields).
	modified time.Time
	cells    map[string]any // by field ID
}

var _ http.Handler = (*Server)(nil)

// New builds a simulator.
func New(o Options) (*Server, error) {
	base, err := sim.New(sim.Options{Seed: o.Seed, Faults: o.Faults, Now: o.Now})
	if err != nil {
		return nil, err
	}
	bases := o.Bases
	if bases == nil {
		bases = DefaultBases()
	}
	schema, err := cloneBases(bases)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Base: base, tokens: map[string]bool{}, penalty: o.Penalty, maxBody: o.MaxBodyBytes,
		editorOnly: o.EditorOnly, schema: schema, Hooks: sim.NewHooks(signature.Airtable, base.Now),
	}
	for _, t := range o.Tokens {
		s.tokens[t] = true
	}
	limit := o.RateLimit
	if limit == 0 {
		limit = DefaultRateLimit
	}
	tokenLimit := o.TokenRateLimit
	if tokenLimit == 0 {
		tokenLimit = DefaultTokenRateLimit
	}
	s.baseWin = sim.NewWindow(limit, rateInterval, base.Now)
	s.tokenWin = sim.NewWindow(tokenLimit, rateInterval, base.Now)
	if s.penalty == 0 {
		s.penalty = DefaultPenalty
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.reset()

	mux := http.NewServeMux()
	// The official client (airtable.js) writes and lists with a trailing
	// slash ("/v0/{base}/{table}/"); the API answers both forms.
	mux.HandleFunc("GET /v0/{base}/{table}", s.handleList)
	mux.HandleFunc("GET /v0/{base}/{table}/{$}", s.handleList)
	mux.HandleFunc("POST /v0/{base}/{table}/{$}", s.handleCreate)
	mux.HandleFunc("PATCH /v0/{base}/{table}/{$}", s.handleUpdateMany)
	mux.HandleFunc("PUT /v0/{base}/{table}/{$}", s.handleUpdateMany)
	mux.HandleFunc("DELETE /v0/{base}/{table}/{$}", s.handleDeleteMany)
	mux.HandleFunc("POST /v0/{base}/{table}/listRecords", s.handleListPost)
	mux.HandleFunc("GET /v0/{base}/{table}/{id}", s.handleGet)
	mux.HandleFunc("POST /v0/{base}/{table}", s.handleCreate)
	mux.HandleFunc("PATCH /v0/{base}/{table}", s.handleUpdateMany)
	mux.HandleFunc("PUT /v0/{base}/{table}", s.handleUpdateMany)
	mux.HandleFunc("PATCH /v0/{base}/{table}/{id}", s.handleUpdateOne)
	mux.HandleFunc("PUT /v0/{base}/{table}/{id}", s.handleUpdateOne)
	mux.HandleFunc("DELETE /v0/{base}/{table}", s.handleDeleteMany)
	mux.HandleFunc("DELETE /v0/{base}/{table}/{id}", s.handleDeleteOne)
	mux.HandleFunc("GET /v0/bases/{base}/webhooks/{webhook}/payloads", s.handlePayloads)
	mux.HandleFunc("POST /v0/bases/{base}/webhooks/{webhook}/refresh", s.handleRefresh)
	mux.HandleFunc("GET /v0/bases/{base}/webhooks", s.handleListWebhooks)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeNotFound(w) })

	s.OAuth = sim.NewOAuth(base, sim.OAuthOptions{TTL: cmp.Or(o.OAuthTTL, DefaultOAuthTTL), Rotate: true,
		RefreshTokens: o.OAuthRefreshTokens, ClientID: o.OAuthClientID, ClientSecret: o.OAuthClientSecret})
	s.oauthSecret = o.OAuthClientSecret != ""
	api := s.guard(mux)
	s.handler = base.Handler(sim.Platform{
		Control: func(mux *http.ServeMux) { s.OAuth.Mount(mux); s.Hooks.Mount(mux) },
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == TokenPath {
				s.handleToken(w, r)
				return
			}
			api.ServeHTTP(w, r)
			// Each request's changes are one base transaction: one payload
			// per webhook of the base, and a notification.
			s.commitTransaction()
		}),
		WriteError: s.writeFault,
		Records:    s.records,
		Reset:      s.reset,
	})
	return s, nil
}

// ServeHTTP serves the API and the control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Reset clears records, added select options, limiter windows, penalties,
// stats and faults (the Go form of POST /_sim/reset).
func (s *Server) Reset() {
	s.reset()
	s.Base.Reset()
}

func (s *Server) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq = 0
	s.pending, s.payloads, s.txn = nil, map[string][]payload{}, 0
	s.Hooks.Reset()
	s.penalties = map[string]time.Time{}
	s.bases = map[string]*baseState{}
	fresh, _ := cloneBases(s.schema) // validated in New
	for _, b := range fresh {
		bs := &baseState{id: b.ID}
		for _, t := range b.Tables {
			bs.tables = append(bs.tables, &tableState{baseID: b.ID, def: t, recs: map[string]*record{}})
		}
		s.bases[b.ID] = bs
	}
	s.baseWin.Reset()
	s.tokenWin.Reset()
}

// guard checks the URL length, authenticates, resolves the base and applies
// the token's and the base's rate limits before routing.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RequestURI()) > MaxURLLength {
			writeError(w, http.StatusRequestURITooLong, "URL_TOO_LONG",
				fmt.Sprintf("The request URL is longer than %d characters; use POST …/listRecords to list with long parameters", MaxURLLength))
			return
		}
		token, ok := bearer(r)
		issued, expiredFor := s.OAuth.Check(token)
		if expiredFor > 0 || !issued && (!ok || (len(s.tokens) > 0 && !s.tokens[token])) {
			s.writeFault(w, r, http.StatusUnauthorized)
			return
		}
		if !s.admit("token:"+token, s.tokenWin) {
			writeRateLimited(w)
			return
		}
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/v0/"), "/", 3)
		if parts[0] == "bases" && len(parts) == 3 {
			// /v0/bases/{baseId}/webhooks/...: the base is the second part.
			parts = parts[1:]
		}
		if !strings.HasPrefix(r.URL.Path, "/v0/") || len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			writeNotFound(w)
			return
		}
		s.mu.Lock()
		_, known := s.bases[parts[0]]
		s.mu.Unlock()
		if !known {
			s.writeFault(w, r, http.StatusForbidden)
			return
		}
		if !s.admit("base:"+parts[0], s.baseWin) {
			writeRateLimited(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// admit counts one request for key unless key is in its penalty; the
// request that exceeds the window starts the penalty.
func (s *Server) admit(key string, win *sim.Window) bool {
	now := s.Now()
	s.mu.Lock()
	until := s.penalties[key]
	s.mu.Unlock()
	if now.Before(until) {
		return false
	}
	if win.Take(key).Allowed {
		return true
	}
	if s.penalty > 0 {
		s.mu.Lock()
		if s.penalties[key].Before(now.Add(s.penalty)) {
			s.penalties[key] = now.Add(s.penalty)
		}
		s.mu.Unlock()
	}
	return false
}

// PenaltyUntil is when the rate-limit penalty of a base ends; the zero time
// when it has none.
func (s *Server) PenaltyUntil(baseID string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	until := s.penalties["base:"+baseID]
	if !s.Now().Before(until) {
		return time.Time{}
	}
	return until
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

// table resolves the {base} and {table} path values; it writes the 403
// Airtable answers for a model it cannot find. s.mu must be held.
func (s *Server) table(r *http.Request) *tableState {
	b := s.bases[r.PathValue("base")]
	if b == nil {
		return nil
	}
	name := r.PathValue("table")
	for _, t := range b.tables {
		if t.def.ID == name || t.def.Name == name {
			return t
		}
	}
	return nil
}

// apiError is Airtable's error body.
type apiError struct {
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, typ, message string) {
	var e apiError
	e.Error.Type, e.Error.Message = typ, message
	sim.WriteJSON(w, status, e)
}

func writeNotFound(w http.ResponseWriter) {
	sim.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "NOT_FOUND"})
}

func writeRateLimited(w http.ResponseWriter) {
	writeError(w, http.StatusTooManyRequests, "RATE_LIMIT_REACHED", "Rate limit exceeded. Please try again later")
}

func writeModelNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusForbidden, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
		"Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.")
}

// writeFault writes the body Airtable sends for status; it is the
// sim.Platform's WriteError for injected errors and revoked tokens.
func (s *Server) writeFault(w http.ResponseWriter, _ *http.Request, status int) {
	switch status {
	case http.StatusUnauthorized:
		writeError(w, status, "AUTHENTICATION_REQUIRED", "Authentication required")
	case http.StatusForbidden:
		writeModelNotFound(w)
	case http.StatusNotFound:
		writeNotFound(w)
	case http.StatusRequestEntityTooLarge:
		writeError(w, status, "REQUEST_TOO_LARGE", "Request body exceeded the maximum allowed payload size")
	case http.StatusUnprocessableEntity:
		writeError(w, status, "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data.")
	case http.StatusTooManyRequests:
		writeRateLimited(w)
	case http.StatusServiceUnavailable:
		writeError(w, status, "RETRIABLE_ERROR", "The service is temporarily unavailable. Please retry shortly.")
	default:
		msg := http.StatusText(status)
		if msg == "" {
			msg = fmt.Sprintf("HTTP %d", status)
		}
		typ := "SERVER_ERROR"
		if status < 500 {
			typ = "INVALID_REQUEST_UNKNOWN"
		}
		writeError(w, status, typ, msg)
	}
}

// Record is one stored record as tests see it: fields by name, empty
// values left out, as the API returns them.
type Record struct {
	ID          string         `json:"id"`
	CreatedTime string         `json:"createdTime"`
	Fields      map[string]any `json:"fields"`
}

// Records returns the records of one table (by name or ID) in creation
// order, for tests. It is nil for an unknown base or table.
func (s *Server) Records(baseID, table string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bases[baseID]
	if b == nil {
		return nil
	}
	for _, t := range b.tables {
		if t.def.ID == table || t.def.Name == table {
			out := []Record{}
			for _, rec := range t.sorted() {
				out = append(out, t.toJSON(rec, nil, false))
			}
			return out
		}
	}
	return nil
}

// Choices returns a select field's options, including those typecast
// added, for tests.
func (s *Server) Choices(baseID, table, field string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bases[baseID]
	if b == nil {
		return nil
	}
	for _, t := range b.tables {
		if t.def.ID == table || t.def.Name == table {
			if f := t.def.field(field); f != nil {
				return slices.Clone(f.Choices)
			}
		}
	}
	return nil
}

// records is GET /_sim/records: base ID -> table name -> records.
func (s *Server) records() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string][]Record{}
	for id, b := range s.bases {
		out[id] = map[string][]Record{}
		for _, t := range b.tables {
			list := []Record{}
			for _, rec := range t.sorted() {
				list = append(list, t.toJSON(rec, nil, false))
			}
			out[id][t.def.Name] = list
		}
	}
	return out
}

// sorted lists the table's records in creation order.
func (t *tableState) sorted() []*record {
	out := make([]*record, 0, len(t.recs))
	for _, r := range t.recs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *record) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return out
}

// value is a cell as stored or computed.
func (t *tableState) value(rec *record, f *Field) any {
	switch f.Type {
	case TypeCreatedTime:
		return formatTime(rec.created)
	case TypeLastModifiedTime:
		return formatTime(rec.modified)
	case TypeAutoNumber:
		return float64(rec.seq)
	}
	return rec.cells[f.ID]
}

// toJSON renders rec with the fields in want (nil: all), keyed by name or
// by field ID.
func (t *tableState) toJSON(rec *record, want []*Field, byID bool) Record {
	out := Record{ID: rec.id, CreatedTime: formatTime(rec.created), Fields: map[string]any{}}
	fields := want
	if fields == nil {
		for i := range t.def.Fields {
			fields = append(fields, &t.def.Fields[i])
		}
	}
	for _, f := range fields {
		v := t.value(rec, f)
		if v == nil {
			continue
		}
		k := f.Name
		if byID {
			k = f.ID
		}
		out.Fields[k] = render(v)
	}
	return out
}

// dedupeKey is rec's business key for the duplicate count ("" for none).
func (t *tableState) dedupeKey(rec *record) string {
	if t.def.DedupeField == "" {
		return ""
	}
	f := t.def.field(t.def.DedupeField)
	v := keyString(t.value(rec, f))
	if v == "" {
		return ""
	}
	return t.baseID + "/" + t.def.ID + ":" + v
}
