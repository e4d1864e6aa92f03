package hubspot

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sluicehq/sluice/internal/sim"
)

const maxBody = 10 << 20

// Search limits (changelog "Breaking Change: Expanded Filtering…", search
// guide).
const (
	maxFilterGroups   = 5
	maxGroupFilters   = 10
	maxFilters        = 25
	maxSearchLimit    = 200
	maxSearchResults  = 10_000
	defaultSearchSize = 10
)

func (s *Server) objectType(w http.ResponseWriter, r *http.Request) (*ObjectType, bool) {
	name := r.PathValue("type")
	t, ok := s.types[name]
	if !ok {
		s.writeError(w, r, http.StatusBadRequest, "VALIDATION_ERROR", "Unable to infer object type from: "+name)
		return nil, false
	}
	return t, true
}

// decode reads a JSON body, keeping numbers exact, and rejects property
// values that are not scalars: HubSpot's properties are a string map, so an
// array or object fails the whole request.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, into any) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.writeError(w, r, http.StatusRequestEntityTooLarge, "VALIDATION_ERROR", "Request body too large")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		s.writeError(w, r, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON: "+err.Error())
		return false
	}
	return true
}

func (s *Server) scalarProps(w http.ResponseWriter, r *http.Request, props map[string]any) bool {
	for k, v := range props {
		switch v.(type) {
		case map[string]any, []any:
			s.writeError(w, r, http.StatusBadRequest, "VALIDATION_ERROR",
				fmt.Sprintf("Invalid input JSON: property %q must be a string, number, boolean or null", k))
			return false
		}
	}
	return true
}

func (s *Server) writeItemError(w http.ResponseWriter, r *http.Request, e *itemError) {
	sim.WriteJSON(w, e.status, apiError{
		Status: "error", Message: e.message, CorrelationID: s.correlationID(), Category: e.category, Context: e.context,
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, id string) {
	s.writeItemError(w, r, &itemError{status: http.StatusNotFound, category: "OBJECT_NOT_FOUND",
		message: "resource not found", context: map[string][]string{"id": {id}}})
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// queryList reads a list parameter the way HubSpot does: repeated
// (properties=a&properties=b, as the official clients send it),
// comma-separated, or both.
func queryList(vals []string) []string {
	var out []string
	for _, v := range vals {
		out = append(out, splitList(v)...)
	}
	return out
}

// Paging limits of GET /crm/v3/objects/{type}.
const (
	defaultListSize = 10
	maxListSize     = 100
)

// handleList is GET /crm/v3/objects/{type}: live (or, with archived=true,
// archived) records in creation order, limit per page (default 10, at most
// 100) and an opaque after cursor in paging.next.after.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	t, ok := s.objectType(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	bad := func(msg string) { s.writeError(w, r, http.StatusBadRequest, "VALIDATION_ERROR", msg) }
	limit := defaultListSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListSize {
			bad(fmt.Sprintf("limit must be between 1 and %d", maxListSize))
			return
		}
		limit = n
	}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			bad("after must be a paging cursor returned by an earlier list")
			return
		}
		after = n
	}
	archived := q.Get("archived") == "true"
	want := queryList(q["properties"])
	if want == nil {
		want = t.Defaults
	}
	s.mu.Lock()
	st := s.stores[t.Name]
	recs := make([]*record, 0, len(st.byID))
	for _, rec := range st.byID {
		if rec.archived == archived && rec.seq >= after {
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].seq < recs[j].seq })
	out := listResponse{Results: []objectJSON{}}
	for i := 0; i < len(recs) && i < limit; i++ {
		out.Results = append(out.Results, s.toJSON(t, recs[i], recs[i].props, want))
	}
	if len(recs) > limit {
		next := strconv.FormatInt(recs[limit].seq, 10)
		out.Paging = &paging{}
		out.Paging.Next.After = next
		out.Paging.Next.Link = "?after=" + next
	}
	s.mu.Unlock()
	sim.WriteJSON(w, http.StatusOK, out)
}

type listResponse struct {
	Results []objectJSON `json:"results"`
	Paging  *paging      `json:"paging,omitempty"`
}

type paging struct {
	Next struct {
		After string `json:"after"`
		Link  string `json:"link,omitempty"`
	} `json:"next"`
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	t, ok := s.objectType(w, r)
	if !ok {
		return
	}
	var body struct {
		Properties   map[string]any `json:"properties"`
		Associations []any          `json:"associations"`
	}
	if !s.decode(w, r, &body) || !s.scalarProps(w, r, body.Properties) {
		return
	}
	s.mu.Lock()
	rec, ierr := s.create(t, body.Properties)
	var out objectJSON
	if ierr == nil {
		out = s.toJSON(t, rec, rec.props, nil)
	}
	s.mu.Unlock()
	if ierr != nil {
		s.writeItemError(w, r, ierr)
		return
	}
	if s.TimedOut(r) {
		return
	}
	sim.WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	t, ok := s.objectType(w, r)
	if !ok {
		return
	}
	id, q := r.PathValue("id"), r.URL.Query()
	want := queryList(q["properties"])
	if want == nil {
		want = t.Defaults
	}
	s.mu.Lock()
	rec, ierr := s.lookup(t, id, q.Get("idProperty"))
	var out objectJSON
	if rec != nil {
		out = s.toJSON(t, rec, rec.props, want)
	}
	s.mu.Unlock()
	switch {
	case ierr != nil:
		s.writeItemError(w, r, ierr)
	case rec == nil:
		s.notFound(w, r, id)
	default:
		sim.WriteJSON(w, http.StatusOK, out)
	}
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	t, ok := s.objectType(w, r)
	if !ok {
		return
	}
	var body struct {
		Properties map[string]any `json:"properties"`
	}
	if !s.decode(w, r, &body) || !s.scalarProps(w, r, body.Properties) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	rec, ierr := s.lookup(t, id, r.URL.Query().Get("idProperty"))
	if ierr == nil && rec != nil {
		ierr = s.update(t, rec, body.Properties)
	}
	var out objectJSON
	if ierr == nil && rec != nil {
		out = s.toJSON(t, rec, rec.props, nil)
	}
	s.mu.Unlock()
	switch {
	case ierr != nil:
		s.writeItemError(w, r, ierr)
	case rec == nil:
		s.notFound(w, r, id)
	case s.TimedOut(r):
	default:
		sim.WriteJSON(w, http.StatusOK, out)
	}
}

func (s *Server) handleArchive(w http.ResponseWriter, r *http.Request) {
	t, ok := s.objectType(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	rec, _ := s.lookup(t, r.PathValue("id"), "")
	if rec != nil {
		s.archive(t, rec)
	}
	s.mu.Unlock()
	// HubSpot answers 204 whether or not the record existed.
	w.WriteHeader(http.StatusNoContent)
}

// flexString accepts a JSON string or number (ids are often sent as
// numbers).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("id must be a string or a number")
	}
	*f = flexString(n.String())
	return nil
}

type batchInput struct {
	ID                 flexString     `json:"id"`
	IDProperty         string         `json:"idProperty"`
	Properties         map[string]any `json:"properties"`
	ObjectWriteTraceID string         `json:"objectWriteTraceId"`
}

type batchError struct {
	Status   string              `json:"status"`
	Category string              `json:"category"`
	Message  string              `json:"message"`
	Context  map[string][]string `json:"context,omitempty"`
	Errors   []any               `json:"errors"`
}

type batchResponse struct {
	Status      string       `json:"status"`
	Results     []objectJSON `json:"results"`
	NumErrors   int          `json:"numErrors,omitempty"`
	Errors      []batchError `json:"errors,omitempty"`
	RequestedAt string       `json:"requestedAt"`
	StartedAt   string       `json:"startedAt"`
	CompletedAt string       `json:"completedAt"`
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	t, ok := s.objectType(w, r)
	if !ok {
		return
	}
	op := r.PathValue("op")
	switch op {
	case "create", "update", "upsert", "read":
	default:
		s.writeError(w, r, http.StatusNotFound, "", fmt.Sprintf("No route for %s %s", r.Method, r.URL.Path))
		return
	}
	started := formatTime(s.Now())
	var body struct {
		Inputs     []batchInput `json:"inputs"`
		Properties []string     `json:"properties"`
		IDProperty string       `json:"idProperty"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	for _, in := range body.Inputs {
		if !s.scalarProps(w, r, in.Properties) {
			return
		}
	}
	if n := len(body.Inputs); n < 1 || n > MaxBatchInputs {
		s.writeError(w, r, http.StatusBadRequest, "VALIDATION_ERROR",
			fmt.Sprintf("inputs: the number of inputs must be between 1 and %d, got %d", MaxBatchInputs, n))
		return
	}
	resp := batchResponse{Status: "COMPLETE", Results: []objectJSON{}, RequestedAt: started, StartedAt: started}
	var whole *itemError
	switch op {
	case "read":
		whole = s.batchRead(t, body.Inputs, body.Properties, body.IDProperty, &resp)
	case "create":
		whole = s.batchCreate(t, body.Inputs, &resp)
	default:
		whole = s.batchWrite(t, op, body.Inputs, &resp)
	}
	if whole != nil {
		s.writeItemError(w, r, whole)
		return
	}
	resp.NumErrors = len(resp.Errors)
	resp.CompletedAt = formatTime(s.Now())
	status := http.StatusOK
	if op == "create" {
		status = http.StatusCreated
	}
	if resp.NumErrors > 0 {
		status = http.StatusMultiStatus
	}
	if op != "read" && s.TimedOut(r) {
		return
	}
	sim.WriteJSON(w, status, resp)
}

func itemContext(in batchInput, withID bool) map[string][]string {
	ctx := map[string][]string{}
	if withID {
		ctx["id"] = []string{string(in.ID)}
	}
	if in.ObjectWriteTraceID != "" {
		ctx["objectWriteTraceId"] = []string{in.ObjectWriteTraceID}
	}
	if len(ctx) == 0 {
		return nil
	}
	return ctx
}

func toBatchError(e *itemError, ctx map[string][]string) batchError {
	if e.context != nil {
		if ctx == nil {
			ctx = map[string][]string{}
		}
		for k, v := range e.context {
			ctx[k] = v
		}
	}
	return batchError{Status: "error", Category: e.category, Message: e.message, Context: ctx, Errors: []any{}}
}

// partialFailure is the error of an item failed by the partial_batch fault.
func partialFailure() *itemError {
	return &itemError{status: http.StatusInternalServerError, category: "INTERNAL_ERROR",
		message: "This input could not be processed because of a temporary error; it was not applied. Retry it."}
}

// batchCreate is all-or-nothing unless every input has a unique
// objectWriteTraceId (the documented opt-in to 207 partial success).
func (s *Server) batchCreate(t *ObjectType, inputs []batchInput, resp *batchResponse) *itemError {
	traces := map[string]bool{}
	for _, in := range inputs {
		if in.ObjectWriteTraceID != "" {
			traces[in.ObjectWriteTraceID] = true
		}
	}
	partial := len(traces) == len(inputs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !partial {
		// Validate everything first so a failure writes nothing; only the
		// first error is reported.
		st := s.stores[t.Name]
		claimed := map[string]bool{}
		for _, in := range inputs {
			if s.FailItem() {
				return partialFailure()
			}
			cs, ierr := s.changes(t, in.Properties)
			if ierr == nil {
				ierr = s.conflict(t, st, nil, cs)
			}
			if ierr != nil {
				return ierr
			}
			for _, c := range cs {
				if p, _ := t.property(c.name); p.Unique && !c.clear {
					k := c.name + "\x00" + uniqueKey(c.name, c.value)
					if claimed[k] {
						return &itemError{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
							message: fmt.Sprintf("Duplicate value %q for unique property %s in batch input", c.value, c.name)}
					}
					claimed[k] = true
				}
			}
		}
	}
	for _, in := range inputs {
		if partial && s.FailItem() {
			resp.Errors = append(resp.Errors, toBatchError(partialFailure(), itemContext(in, false)))
			continue
		}
		rec, ierr := s.create(t, in.Properties)
		if ierr != nil {
			resp.Errors = append(resp.Errors, toBatchError(ierr, itemContext(in, false)))
			continue
		}
		j := s.toJSON(t, rec, rec.props, nil)
		j.ObjectWriteTraceID = in.ObjectWriteTraceID
		resp.Results = append(resp.Results, j)
	}
	return nil
}

// batchWrite is batch update and upsert: each item succeeds or fails on its
// own (200, or 207 with errors).
func (s *Server) batchWrite(t *ObjectType, op string, inputs []batchInput, resp *batchResponse) *itemError {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var dups []string
	for _, in := range inputs {
		if op == "upsert" {
			if in.IDProperty == "" {
				return &itemError{status: http.StatusBadRequest, category: "VALIDATION_ERROR", message: "idProperty is required for upsert"}
			}
			if _, ierr := s.lookup(t, "", in.IDProperty); ierr != nil {
				return ierr
			}
		}
		k := in.IDProperty + "\x00" + uniqueKey(in.IDProperty, string(in.ID))
		if seen[k] && !contains(dups, string(in.ID)) {
			dups = append(dups, string(in.ID))
		}
		seen[k] = true
	}
	if len(dups) > 0 {
		return &itemError{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
			message: "Duplicate IDs found in batch input: [" + strings.Join(dups, ", ") + "]"}
	}
	for _, in := range inputs {
		ctx := itemContext(in, true)
		if s.FailItem() {
			resp.Errors = append(resp.Errors, toBatchError(partialFailure(), ctx))
			continue
		}
		if in.ID == "" {
			resp.Errors = append(resp.Errors, toBatchError(&itemError{status: http.StatusBadRequest, category: "VALIDATION_ERROR", message: "id is required"}, ctx))
			continue
		}
		rec, ierr := s.lookup(t, string(in.ID), in.IDProperty)
		if ierr != nil {
			resp.Errors = append(resp.Errors, toBatchError(ierr, ctx))
			continue
		}
		isNew := false
		switch {
		case rec != nil:
			ierr = s.update(t, rec, in.Properties)
		case op == "update":
			ierr = &itemError{status: http.StatusNotFound, category: "OBJECT_NOT_FOUND",
				message: fmt.Sprintf("Could not find a %s with %s %s", strings.ToLower(t.Singular), cmpOr(in.IDProperty, "id"), in.ID)}
		default:
			idc, perr := normalize(t, in.IDProperty, string(in.ID), func(string) bool { return false })
			if perr != nil {
				ierr = validationError([]propError{*perr})
				break
			}
			rec, ierr = s.create(t, in.Properties, idc)
			isNew = true
		}
		if ierr != nil {
			resp.Errors = append(resp.Errors, toBatchError(ierr, ctx))
			continue
		}
		j := s.toJSON(t, rec, rec.props, nil)
		j.ObjectWriteTraceID = in.ObjectWriteTraceID
		if op == "upsert" {
			j.New = &isNew
		}
		resp.Results = append(resp.Results, j)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Server) batchRead(t *ObjectType, inputs []batchInput, props []string, idProperty string, resp *batchResponse) *itemError {
	want := props
	if len(want) == 0 {
		want = t.Defaults
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing []string
	for _, in := range inputs {
		rec, ierr := s.lookup(t, string(in.ID), idProperty)
		if ierr != nil {
			return ierr
		}
		if rec == nil {
			missing = append(missing, string(in.ID))
			continue
		}
		resp.Results = append(resp.Results, s.toJSON(t, rec, rec.props, want))
	}
	if len(missing) > 0 {
		resp.Errors = append(resp.Errors, batchError{
			Status: "error", Category: "OBJECT_NOT_FOUND", Errors: []any{},
			Message: fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", strings.ToUpper(t.Singular)),
			Context: map[string][]string{"ids": missing},
		})
	}
	return nil
}

type searchFilter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        any    `json:"value"`
	HighValue    any    `json:"highValue"`
	Values       []any  `json:"values"`
}

type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Properties []string `json:"properties"`
	Limit      int      `json:"limit"`
	After      string   `json:"after"`
	Sorts      []any    `json:"sorts"`
}

type searchResponse struct {
	Total   int          `json:"total"`
	Results []objectJSON `json:"results"`
	Paging  *struct {
		Next struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging,omitempty"`
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	t, ok := s.objectType(w, r)
	if !ok {
		return
	}
	var req searchRequest
	if !s.decode(w, r, &req) {
		return
	}
	bad := func(msg string) { s.writeError(w, r, http.StatusBadRequest, "VALIDATION_ERROR", msg) }
	total := 0
	if len(req.FilterGroups) > maxFilterGroups {
		bad(fmt.Sprintf("Too many filter groups: %d, at most %d are allowed", len(req.FilterGroups), maxFilterGroups))
		return
	}
	for _, g := range req.FilterGroups {
		if len(g.Filters) > maxGroupFilters {
			bad(fmt.Sprintf("Too many filters in a filter group: %d, at most %d are allowed", len(g.Filters), maxGroupFilters))
			return
		}
		total += len(g.Filters)
		for _, f := range g.Filters {
			if _, ok := t.property(f.PropertyName); !ok || s.Removed(t.Name, f.PropertyName) {
				s.writeItemError(w, r, validationError([]propError{newPropError(f.PropertyName, "PROPERTY_DOESNT_EXIST", "Property %q does not exist", f.PropertyName)}))
				return
			}
			switch f.Operator {
			case "EQ", "NEQ", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
			case "GT", "GTE", "LT", "LTE", "BETWEEN":
				p, _ := t.property(f.PropertyName)
				if _, ok := comparable(p, f.Value); !ok {
					bad(fmt.Sprintf("Invalid value %v for operator %s on property %q", f.Value, f.Operator, f.PropertyName))
					return
				}
				if _, ok := comparable(p, f.HighValue); f.Operator == "BETWEEN" && !ok {
					bad(fmt.Sprintf("BETWEEN on property %q needs a highValue", f.PropertyName))
					return
				}
			default:
				bad(fmt.Sprintf("Unsupported operator %q (the simulator supports EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN)", f.Operator))
				return
			}
		}
	}
	if total > maxFilters {
		bad(fmt.Sprintf("Too many filters: %d, at most %d are allowed", total, maxFilters))
		return
	}
	limit := req.Limit
	if limit == 0 {
		limit = defaultSearchSize
	}
	if limit < 0 || limit > maxSearchLimit {
		bad(fmt.Sprintf("limit must be between 1 and %d", maxSearchLimit))
		return
	}
	offset := 0
	if req.After != "" {
		n, err := strconv.Atoi(req.After)
		if err != nil || n < 0 {
			bad("after must be a paging cursor returned by an earlier search")
			return
		}
		offset = n
	}
	if offset+limit > maxSearchResults {
		bad(fmt.Sprintf("Search results are limited to %d; narrow the filters", maxSearchResults))
		return
	}
	want := req.Properties
	if len(want) == 0 {
		want = t.Defaults
	}

	s.mu.Lock()
	now := s.Now()
	st := s.stores[t.Name]
	type hit struct {
		rec   *record
		props map[string]string
	}
	var hits []hit
	for _, rec := range st.byID {
		view := s.searchView(rec, now)
		if view == nil || !matches(t, req.FilterGroups, withSystem(t, rec, view)) {
			continue
		}
		hits = append(hits, hit{rec, view})
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].rec.seq < hits[j].rec.seq })
	resp := searchResponse{Total: len(hits), Results: []objectJSON{}}
	for i := offset; i < len(hits) && i < offset+limit; i++ {
		resp.Results = append(resp.Results, s.toJSON(t, hits[i].rec, hits[i].props, want))
	}
	s.mu.Unlock()
	if offset+limit < len(hits) {
		resp.Paging = &struct {
			Next struct {
				After string `json:"after"`
			} `json:"next"`
		}{}
		resp.Paging.Next.After = strconv.Itoa(offset + limit)
	}
	sim.WriteJSON(w, http.StatusOK, resp)
}

// matches is true when any filter group has every filter true; no groups
// match everything.
func matches(t *ObjectType, groups []struct {
	Filters []searchFilter `json:"filters"`
}, props map[string]string) bool {
	if len(groups) == 0 {
		return true
	}
	for _, g := range groups {
		all := true
		for _, f := range g.Filters {
			if !matchFilter(t, f, props) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func matchFilter(t *ObjectType, f searchFilter, props map[string]string) bool {
	v, has := props[f.PropertyName]
	want, _ := scalar(f.Value)
	p, _ := t.property(f.PropertyName)
	switch f.Operator {
	case "GT", "GTE", "LT", "LTE", "BETWEEN":
		if !has {
			return false
		}
		c, ok := compareValues(p, v, f.Value)
		if !ok {
			return false
		}
		switch f.Operator {
		case "GT":
			return c > 0
		case "GTE":
			return c >= 0
		case "LT":
			return c < 0
		case "LTE":
			return c <= 0
		}
		hi, ok := compareValues(p, v, f.HighValue)
		return ok && c >= 0 && hi <= 0
	case "NOT_IN":
		for _, x := range f.Values {
			if xs, _ := scalar(x); has && strings.EqualFold(v, xs) {
				return false
			}
		}
		return true
	case "CONTAINS_TOKEN":
		return has && containsToken(v, want)
	case "NOT_CONTAINS_TOKEN":
		return !has || !containsToken(v, want)
	case "EQ":
		return has && strings.EqualFold(v, want)
	case "NEQ":
		return !has || !strings.EqualFold(v, want)
	case "IN":
		for _, x := range f.Values {
			if xs, _ := scalar(x); has && strings.EqualFold(v, xs) {
				return true
			}
		}
		return false
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	}
	return false
}

func (s *Server) handleProperties(w http.ResponseWriter, r *http.Request) {
	t, ok := s.objectType(w, r)
	if !ok {
		return
	}
	out := struct {
		Results []propertyJSON `json:"results"`
	}{Results: []propertyJSON{}}
	for _, p := range t.Properties {
		if !s.Removed(t.Name, p.Name) {
			out.Results = append(out.Results, p.toJSON())
		}
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

// withSystem adds the system properties (hs_object_id, createdate and the
// modified date under both its names) to a search view, so filters on them
// work as on HubSpot.
func withSystem(t *ObjectType, rec *record, view map[string]string) map[string]string {
	out := make(map[string]string, len(view)+4)
	for k, v := range view {
		out[k] = v
	}
	out["hs_object_id"] = rec.id
	out["createdate"] = formatTime(rec.created)
	out["hs_lastmodifieddate"] = formatTime(rec.updated)
	if t.Modified != "" {
		out[t.Modified] = formatTime(rec.updated)
	}
	return out
}

// comparable converts a filter value for an ordering operator on p: a
// number for number properties, epoch milliseconds for dates and datetimes
// (HubSpot takes milliseconds or ISO 8601), the string otherwise.
func comparable(p Property, raw any) (any, bool) {
	v, isNull := scalar(raw)
	if isNull || v == "" {
		return nil, false
	}
	switch p.Type {
	case TypeNumber:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	case TypeDate, TypeDateTime:
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			return ms, true
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
			if ts, err := time.Parse(layout, v); err == nil {
				return ts.UnixMilli(), true
			}
		}
		return nil, false
	}
	return strings.ToLower(v), true
}

// compareValues orders the stored value v against a filter value.
func compareValues(p Property, v string, filter any) (int, bool) {
	a, ok := comparable(p, v)
	if !ok {
		return 0, false
	}
	b, ok := comparable(p, filter)
	if !ok {
		return 0, false
	}
	switch x := a.(type) {
	case float64:
		return cmp.Compare(x, b.(float64)), true
	case int64:
		return cmp.Compare(x, b.(int64)), true
	}
	return strings.Compare(a.(string), b.(string)), true
}

// containsToken is CONTAINS_TOKEN: the value holds the token as a whole
// word (split on spaces and punctuation, case-insensitive); a token with
// "*" is a wildcard pattern matched against the whole value
// ("*@example.com").
func containsToken(v, token string) bool {
	v, token = strings.ToLower(v), strings.ToLower(strings.TrimSpace(token))
	if token == "" {
		return false
	}
	if strings.Contains(token, "*") {
		ok, err := path.Match(strings.ReplaceAll(token, "[", "\\["), v)
		return err == nil && ok
	}
	words := strings.FieldsFunc(v, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, w := range words {
		if w == token {
			return true
		}
	}
	return v == token
}
