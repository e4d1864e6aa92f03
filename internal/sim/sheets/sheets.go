// Package sheets is an in-memory simulator of the Google Sheets API v4
// (spreadsheets and their values), faithful to what
// shared/reference/saas-apis.md section 5 documents, so that the Sheets
// connector, the demo and the benchmarks run without Google.
//
// It serves, under /v4/spreadsheets:
//
//	POST /v4/spreadsheets                                   create a spreadsheet
//	GET  /v4/spreadsheets/{id}                              sheet metadata (titles, ids, grid sizes)
//	POST /v4/spreadsheets/{id}:batchUpdate                  addSheet, insertDimension, deleteDimension (ROWS)
//	GET  /v4/spreadsheets/{id}/values/{range}               read (majorDimension, valueRenderOption)
//	GET  /v4/spreadsheets/{id}/values:batchGet?ranges=...   read several ranges
//	PUT  /v4/spreadsheets/{id}/values/{range}               update (valueInputOption required)
//	POST /v4/spreadsheets/{id}/values/{range}:append        append (valueInputOption, insertDataOption)
//	POST /v4/spreadsheets/{id}/values/{range}:clear         clear
//	POST /v4/spreadsheets/{id}/values:batchUpdate           several updates, atomically
//
// and the control endpoints of package sim under /_sim/.
//
// Behaviour, documented facts first:
//   - Auth is "Authorization: Bearer <token>"; a missing, unknown or
//     revoked token is 401 {"error":{"code":401,"message":"Request had
//     invalid authentication credentials. ...","status":"UNAUTHENTICATED"}}
//     with a WWW-Authenticate header.
//   - Quotas are per minute: 60 read and 60 write requests per user (token)
//     and 300 of each per project (every token together). GET requests are
//     reads, everything else is a write. The request that would exceed a
//     quota gets 429 with status RESOURCE_EXHAUSTED and the "Quota exceeded
//     for quota metric 'Write requests' and limit 'Write requests per
//     minute per user' of service 'sheets.googleapis.com' ..." message and
//     an ErrorInfo detail (reason RATE_LIMIT_EXCEEDED, quota_limit,
//     quota_metric). There is no daily cap.
//   - Every request is atomic: values:batchUpdate validates every range and
//     value before applying any, and one invalid entry fails the whole
//     request with 400 INVALID_ARGUMENT.
//   - A range naming a sheet that does not exist, or that is not A1
//     notation, is 400 INVALID_ARGUMENT "Unable to parse range: <range>".
//     An unknown spreadsheet is 404 NOT_FOUND "Requested entity was not
//     found.".
//   - A string of more than 50,000 characters (UTF-16 code units) is 400
//     "Your input contains more than the maximum of 50000 characters in a
//     single cell.".
//   - valueInputOption is required on writes. RAW stores values as given
//     ("=1+2" stays text); USER_ENTERED parses strings as typed: a leading
//     apostrophe forces text, "=" makes a formula, numbers and TRUE/FALSE
//     are converted. null leaves a cell as it is; "" clears it.
//   - Append finds the "table" in its range: the first non-empty row within
//     the range's columns and the rows contiguous with it. New rows go
//     right after that table, from its first column, so an empty row inside
//     the data makes an append land (and, with INSERT_ROWS, insert rows)
//     in the middle of the sheet, as on Google. INSERT_ROWS inserts rows;
//     OVERWRITE (the API's default) writes over what is there; both grow
//     the grid when the data runs past its end. The answer carries
//     tableRange and updates.updatedRange.
//   - A write (update, batchUpdate) outside the sheet's grid is 400 "Range
//     ('Sheet1'!A1001) exceeds grid limits. Max rows: 1000, max columns:
//     26"; new sheets are 1000 x 26 unless the header is wider. A workbook
//     may hold 10,000,000 cells.
//   - Reads omit trailing empty rows and cells; FORMATTED_VALUE (the
//     default) returns strings, UNFORMATTED_VALUE numbers and booleans as
//     JSON numbers and booleans. Returned ranges are clipped to the grid and
//     quote sheet titles only when needed ("'My Sheet'!A1:C3").
//   - Unknown JSON fields are 400 "Invalid JSON payload received. Unknown
//     name "x": Cannot find field.".
//
// Choices where the reference is unconfirmed ([U]) or silent:
//   - The 429 body is Google's RESOURCE_EXHAUSTED shape as client libraries
//     report it, and carries no Retry-After header (Google sends none); the
//     quota is a rolling window of QuotaInterval (one minute), so waiting a
//     minute always succeeds, as documented. A refused request uses up no
//     quota.
//   - 401, 403 and 404 use Google's usual messages ("Request had invalid
//     authentication credentials...", "The caller does not have
//     permission", "Requested entity was not found."). An injected 502 is
//     Google's front end's HTML page, not JSON.
//   - Bodies over 10 MB are refused with 400 "Request payload size exceeds
//     the limit: 10485760 bytes." (the documented advice is only "2 MB
//     recommended").
//   - Formulas are stored but not evaluated: they read back as their text.
//     Numbers render in a plain "General" format.
//   - The removed_fields fault deletes header columns: a column whose
//     header cell names a removed field ("email", or "Sheet1.email") is
//     hidden from every request and the columns right of it shift left, as
//     if a person had deleted it; clearing the fault brings it back with its
//     data. Sheets has no unknown-field error, so the drift a client sees is
//     a header without the column.
//   - The partial_batch fault draws once per values:batchUpdate request and
//     once per append of more than one row (Sheets applies a request
//     atomically, so there are no per-item failures): a hit answers 503
//     UNAVAILABLE and applies nothing. timeout_after_write applies the whole
//     write, then drops the connection unanswered.
//   - Duplicates are counted by each sheet's KeyColumn (default: the first
//     header cell): a row whose key cell gets a value another row of the
//     sheet already holds counts one duplicate.
package sheets

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
)

// Defaults of Options.
const (
	DefaultPerUserPerMinute    = 60
	DefaultPerProjectPerMinute = 300
	DefaultQuotaInterval       = time.Minute
	DefaultRows                = 1000
	DefaultColumns             = 26
	// ProjectNumber names the simulated Cloud project in quota messages.
	ProjectNumber = "123456789012"
	// MaxBodyBytes is the largest request body the simulator reads.
	MaxBodyBytes = 10 << 20
)

// Options configure a Server.
type Options struct {
	// Seed makes injected faults repeatable (see sim.Options).
	Seed uint64
	// OAuthRefreshTokens are user OAuth refresh tokens the token endpoint
	// (/token) accepts, with OAuthClientID and OAuthClientSecret when set.
	// The service account of ServiceAccountJSON is always accepted. Access
	// tokens last OAuthTTL, default one hour.
	OAuthRefreshTokens               []string
	OAuthClientID, OAuthClientSecret string
	OAuthTTL                         time.Duration
	// Faults are injected from the start; PUT /_sim/faults changes them.
	Faults sim.Faults
	// Tokens are the accepted OAuth access tokens; empty accepts any
	// non-empty bearer token.
	Tokens []string
	// ReadsPerMinute and WritesPerMinute are the per-user (per-token)
	// quotas per QuotaInterval; 0 means 60, negative means unlimited.
	ReadsPerMinute  int
	WritesPerMinute int
	// ProjectReadsPerMinute and ProjectWritesPerMinute are the per-project
	// quotas (all tokens together); 0 means 300, negative means unlimited.
	ProjectReadsPerMinute  int
	ProjectWritesPerMinute int
	// QuotaInterval is the quota window; 0 means one minute. Tests shorten
	// it.
	QuotaInterval time.Duration
	// Spreadsheets exist from the start and after every reset.
	Spreadsheets []Spreadsheet
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Spreadsheet describes a spreadsheet to create.
type Spreadsheet struct {
	// ID is the spreadsheet ID used in URLs; required.
	ID string
	// Title defaults to "Untitled spreadsheet".
	Title string
	// Sheets are its tabs; none means one empty "Sheet1".
	Sheets []Sheet
}

// Sheet describes one tab.
type Sheet struct {
	// Title is the tab name; required, unique within the spreadsheet.
	Title string
	// Header is written to row 1.
	Header []string
	// Rows are written below the header, RAW.
	Rows [][]any
	// KeyColumn is the header whose values are the business key the
	// duplicate statistics count; default the first header cell.
	KeyColumn string
	// RowCount and ColumnCount size the grid; 0 means 1000 and 26 (or the
	// header's width when wider).
	RowCount    int
	ColumnCount int
}

// Server is the simulator. It is an http.Handler serving the API and the
// /_sim/ control endpoints, and embeds *sim.Base for faults and stats in Go.
type Server struct {
	*sim.Base
	handler http.Handler
	// OAuth issues expiring access tokens from /token.
	OAuth *sim.OAuth

	tokens   map[string]bool
	reads    quota
	writes   quota
	projRead quota
	projWrit quota
	initial  []Spreadsheet

	mu     sync.Mutex
	books  map[string]*book
	nextID int64
	// rekey is set by a reset: the Base forgets every key after the
	// platform reloaded its rows, so they are counted again on the next
	// request.
	recountPending bool
}

// quota is one rolling-window limit; limit <= 0 is unlimited.
type quota struct {
	win   *sim.Window
	limit int
}

func newQuota(n, def int, interval time.Duration, now func() time.Time) quota {
	if n == 0 {
		n = def
	}
	return quota{win: sim.NewWindow(n, interval, now), limit: n}
}

// book is one spreadsheet.
type book struct {
	id     string
	title  string
	sheets []*sheet
}

var _ http.Handler = (*Server)(nil)

// New builds a simulator.
func New(o Options) (*Server, error) {
	base, err := sim.New(sim.Options{Seed: o.Seed, Faults: o.Faults, Now: o.Now})
	if err != nil {
		return nil, err
	}
	interval := o.QuotaInterval
	if interval <= 0 {
		interval = DefaultQuotaInterval
	}
	s := &Server{
		Base:     base,
		tokens:   map[string]bool{},
		reads:    newQuota(o.ReadsPerMinute, DefaultPerUserPerMinute, interval, base.Now),
		writes:   newQuota(o.WritesPerMinute, DefaultPerUserPerMinute, interval, base.Now),
		projRead: newQuota(o.ProjectReadsPerMinute, DefaultPerProjectPerMinute, interval, base.Now),
		projWrit: newQuota(o.ProjectWritesPerMinute, DefaultPerProjectPerMinute, interval, base.Now),
		initial:  o.Spreadsheets,
	}
	for _, t := range o.Tokens {
		s.tokens[t] = true
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	ttl := o.OAuthTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	s.OAuth = sim.NewOAuth(base, sim.OAuthOptions{TTL: ttl, RefreshTokens: o.OAuthRefreshTokens,
		ClientID: o.OAuthClientID, ClientSecret: o.OAuthClientSecret, Prefix: "ya29.sim-"})
	api := s.guard(http.HandlerFunc(s.route))
	s.handler = base.Handler(sim.Platform{
		Control: s.mountOAuth,
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
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

// Reset restores the initial spreadsheets and clears quota windows, stats
// and faults (the Go form of POST /_sim/reset).
func (s *Server) Reset() {
	s.reset()
	s.Base.Reset()
}

func (s *Server) reset() {
	// The initial spreadsheets were validated by New.
	_ = s.load()
	s.mu.Lock()
	s.recountPending = true
	s.mu.Unlock()
}

// recount registers every row's key again after a reset. s.mu must be
// held.
func (s *Server) recount() {
	if !s.recountPending {
		return
	}
	s.recountPending = false
	for _, b := range s.books {
		for _, sh := range b.sheets {
			for _, rw := range sh.rows {
				if rw != nil {
					rw.key = ""
				}
			}
			s.rekeyAll(sh)
		}
	}
}

// load replaces every spreadsheet with the initial ones.
func (s *Server) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.books = map[string]*book{}
	s.nextID = 0
	for _, q := range []quota{s.reads, s.writes, s.projRead, s.projWrit} {
		q.win.Reset()
	}
	for i, sp := range s.initial {
		if err := s.addBook(sp); err != nil {
			return fmt.Errorf("spreadsheets[%d]: %w", i, err)
		}
	}
	return nil
}

// AddSpreadsheet creates a spreadsheet (the Go form of POST
// /v4/spreadsheets, with a chosen ID). It is gone after a reset unless it
// was in Options.Spreadsheets.
func (s *Server) AddSpreadsheet(sp Spreadsheet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addBook(sp)
}

// addBook creates sp; s.mu must be held.
func (s *Server) addBook(sp Spreadsheet) error {
	if sp.ID == "" {
		return fmt.Errorf("id: required")
	}
	if _, dup := s.books[sp.ID]; dup {
		return fmt.Errorf("id: %q already exists", sp.ID)
	}
	b := &book{id: sp.ID, title: sp.Title}
	if b.title == "" {
		b.title = "Untitled spreadsheet"
	}
	tabs := sp.Sheets
	if len(tabs) == 0 {
		tabs = []Sheet{{Title: "Sheet1"}}
	}
	for i, t := range tabs {
		if _, err := s.addSheet(b, t); err != nil {
			return fmt.Errorf("sheets[%d]: %w", i, err)
		}
	}
	s.books[sp.ID] = b
	return nil
}

// addSheet adds tab t to b; s.mu must be held.
func (s *Server) addSheet(b *book, t Sheet) (*sheet, error) {
	if strings.TrimSpace(t.Title) == "" {
		return nil, fmt.Errorf("title: required")
	}
	if b.sheet(t.Title) != nil {
		return nil, fmt.Errorf("title: A sheet with the name %q already exists. Please enter another name.", t.Title)
	}
	width := len(t.Header)
	for _, r := range t.Rows {
		width = max(width, len(r))
	}
	sh := &sheet{title: t.Title, keyColumn: t.KeyColumn, rowCount: t.RowCount, colCount: t.ColumnCount}
	if sh.keyColumn == "" && len(t.Header) > 0 {
		sh.keyColumn = strings.TrimSpace(t.Header[0])
	}
	if sh.rowCount <= 0 {
		sh.rowCount = DefaultRows
	}
	if sh.colCount <= 0 {
		sh.colCount = max(DefaultColumns, width)
	}
	switch {
	case sh.rowCount < len(t.Rows)+1 && len(t.Rows) > 0:
		return nil, fmt.Errorf("row_count: %d rows do not fit in %d", len(t.Rows)+1, sh.rowCount)
	case sh.colCount < width:
		return nil, fmt.Errorf("column_count: %d columns do not fit in %d", width, sh.colCount)
	case sh.colCount > MaxColumns:
		return nil, fmt.Errorf("column_count: at most %d", MaxColumns)
	case b.cells()+sh.rowCount*sh.colCount > MaxCells:
		return nil, fmt.Errorf("This action would increase the number of cells in the workbook above the limit of %d cells.", MaxCells)
	}
	s.nextID++
	if len(b.sheets) > 0 {
		sh.id = s.nextID * 1_000_003 // Sheets' ids are arbitrary; the first is 0.
	}
	for c, h := range t.Header {
		if h != "" {
			sh.set(0, c, cell{kind: 's', s: h})
		}
	}
	for i, r := range t.Rows {
		for c, v := range r {
			x, skip, err := parseValue(jsonValue(v), inputRaw, fmt.Sprintf("[%d][%d]", i, c))
			if err != nil {
				return nil, fmt.Errorf("rows[%d][%d]: %w", i, c, err)
			}
			if !skip {
				sh.set(i+1, c, x)
			}
		}
		s.rekey(sh, i+1)
	}
	b.sheets = append(b.sheets, sh)
	return sh, nil
}

// jsonValue makes a Go value look like what the JSON decoder produces.
func jsonValue(v any) any {
	switch v := v.(type) {
	case int:
		return json.Number(fmt.Sprint(v))
	case int64:
		return json.Number(fmt.Sprint(v))
	case float32:
		return float64(v)
	}
	return v
}

func (b *book) sheet(title string) *sheet {
	for _, sh := range b.sheets {
		if sh.title == title {
			return sh
		}
	}
	return nil
}

func (b *book) sheetByID(id int64) *sheet {
	for _, sh := range b.sheets {
		if sh.id == id {
			return sh
		}
	}
	return nil
}

func (b *book) cells() int {
	n := 0
	for _, sh := range b.sheets {
		n += sh.rowCount * sh.colCount
	}
	return n
}

// view is sh as requests see it, without the columns removed_fields
// deleted. s.mu must be held.
func (s *Server) view(sh *sheet) view {
	v := view{sh: sh, cols: make([]int, 0, sh.colCount)}
	for c := 0; c < sh.colCount; c++ {
		h := strings.TrimSpace(sh.get(0, c).formatted())
		if h != "" && s.Removed(sh.title, h) {
			continue
		}
		v.cols = append(v.cols, c)
	}
	return v
}

// rekey recounts the business key of stored row r for the duplicate
// statistics. s.mu must be held.
func (s *Server) rekey(sh *sheet, r int) {
	if r == 0 || r >= len(sh.rows) || sh.rows[r] == nil {
		return
	}
	rw := sh.rows[r]
	key := ""
	if kc := sh.keyColumnIndex(); kc >= 0 {
		if v := sh.get(r, kc).formatted(); v != "" {
			key = fmt.Sprintf("%d:%s", sh.id, v)
		}
	}
	if key == rw.key {
		return
	}
	s.KeyRemoved(rw.key)
	s.KeyAdded(key)
	rw.key = key
}

// rekeyAll recounts every row, after the header changed. s.mu must be
// held.
func (s *Server) rekeyAll(sh *sheet) {
	for r := 1; r < len(sh.rows); r++ {
		s.rekey(sh, r)
	}
}

// dropKeys forgets the keys of deleted rows. s.mu must be held.
func (s *Server) dropKeys(rows []*row) {
	for _, rw := range rows {
		if rw != nil {
			s.KeyRemoved(rw.key)
		}
	}
}

// guard authenticates and applies the quotas before routing.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
			writeGoogleError(w, http.StatusUnauthorized, "UNAUTHENTICATED",
				"Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", nil)
			return
		}
		issued, expiredFor := s.OAuth.Check(token)
		if issued && expiredFor > 0 || !issued && len(s.tokens) > 0 && !s.tokens[token] {
			s.writeFault(w, r, http.StatusUnauthorized)
			return
		}
		write := r.Method != http.MethodGet
		user, project, metric := s.reads, s.projRead, "Read"
		if write {
			user, project, metric = s.writes, s.projWrit, "Write"
		}
		// Check the project's quota first so that a refused request uses
		// up neither.
		if project.limit > 0 && project.win.Remaining("project") <= 0 {
			s.writeQuota(w, metric, false, project.limit)
			return
		}
		if d := user.win.Take(token); !d.Allowed {
			s.writeQuota(w, metric, true, user.limit)
			return
		}
		if d := project.win.Take("project"); !d.Allowed {
			s.writeQuota(w, metric, false, project.limit)
			return
		}
		s.mu.Lock()
		s.recount()
		s.mu.Unlock()
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

// googleError is Google's JSON error body.
type googleError struct {
	Error googleErrorBody `json:"error"`
}

type googleErrorBody struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Errors  []legacyError `json:"errors,omitempty"`
	Status  string        `json:"status"`
	Details []any         `json:"details,omitempty"`
}

type legacyError struct {
	Message string `json:"message"`
	Domain  string `json:"domain"`
	Reason  string `json:"reason"`
}

func writeGoogleError(w http.ResponseWriter, code int, status, message string, details []any) {
	body := googleErrorBody{Code: code, Message: message, Status: status, Details: details}
	if code == http.StatusBadRequest {
		body.Errors = []legacyError{{Message: message, Domain: "global", Reason: "badRequest"}}
	}
	sim.WriteJSON(w, code, googleError{Error: body})
}

// badRequest is the 400 INVALID_ARGUMENT every validation failure uses.
func badRequest(w http.ResponseWriter, message string) {
	writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", message, nil)
}

func (s *Server) writeQuota(w http.ResponseWriter, metric string, perUser bool, limitValue int) {
	limitName := metric + " requests per minute"
	quotaLimit := metric + "RequestsPerMinutePerProject"
	if perUser {
		limitName += " per user"
		quotaLimit = metric + "RequestsPerMinutePerUser"
	}
	msg := fmt.Sprintf("Quota exceeded for quota metric '%s requests' and limit '%s' of service 'sheets.googleapis.com' for consumer 'project_number:%s'.",
		metric, limitName, ProjectNumber)
	details := []any{
		map[string]any{
			"@type":  "type.googleapis.com/google.rpc.ErrorInfo",
			"reason": "RATE_LIMIT_EXCEEDED",
			"domain": "googleapis.com",
			"metadata": map[string]string{
				"service":           "sheets.googleapis.com",
				"consumer":          "projects/" + ProjectNumber,
				"quota_metric":      "sheets.googleapis.com/" + strings.ToLower(metric) + "_requests",
				"quota_limit":       quotaLimit,
				"quota_limit_value": fmt.Sprint(limitValue),
				"quota_location":    "global",
			},
		},
		map[string]any{
			"@type": "type.googleapis.com/google.rpc.Help",
			"links": []any{map[string]string{
				"description": "Request a higher quota limit.",
				"url":         "https://cloud.google.com/docs/quotas/help/request_increase",
			}},
		},
	}
	writeGoogleError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", msg, details)
}

// writeFault writes Google's answer for status; it is the sim.Platform's
// WriteError for injected errors and revoked tokens.
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, status int) {
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeGoogleError(w, status, "UNAUTHENTICATED",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", nil)
	case http.StatusForbidden:
		writeGoogleError(w, status, "PERMISSION_DENIED", "The caller does not have permission", nil)
	case http.StatusNotFound:
		writeGoogleError(w, status, "NOT_FOUND", "Requested entity was not found.", nil)
	case http.StatusTooManyRequests:
		// The quota named is the one the request counts against: a read
		// (GET) uses the read quota, everything else the write quota.
		if r != nil && r.Method == http.MethodGet {
			s.writeQuota(w, "Read", true, s.reads.limit)
		} else {
			s.writeQuota(w, "Write", true, s.writes.limit)
		}
	case http.StatusBadRequest:
		badRequest(w, "Request contains an invalid argument.")
	case http.StatusBadGateway:
		// Google's front end answers a 502 with an HTML page.
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<!DOCTYPE html>\n<html lang=en><title>Error 502 (Server Error)!!1</title><p><b>502.</b> <ins>That’s an error.</ins><p>The server encountered a temporary error and could not complete your request.<p>Please try again in 30 seconds. <ins>That’s all we know.</ins></html>\n"))
	case http.StatusServiceUnavailable:
		writeGoogleError(w, status, "UNAVAILABLE", "The service is currently unavailable.", nil)
	case http.StatusGatewayTimeout:
		writeGoogleError(w, status, "DEADLINE_EXCEEDED", "The service was not able to process your request.", nil)
	case http.StatusConflict:
		writeGoogleError(w, status, "ABORTED", "The operation was aborted.", nil)
	default:
		st := "INTERNAL"
		msg := "Internal error encountered."
		if status < 500 {
			st, msg = "FAILED_PRECONDITION", http.StatusText(status)
			if msg == "" {
				msg = fmt.Sprintf("HTTP %d", status)
			}
		}
		writeGoogleError(w, status, st, msg, nil)
	}
}
