package notion

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
)

// readLimit bounds how much of an oversized body is read to report its
// size.
const readLimit = 8 << 20

// decode reads a JSON body into into, enforcing the payload limit. It
// writes the error answer and returns false on failure.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, into any) bool {
	raw, err := io.ReadAll(io.LimitReader(r.Body, readLimit))
	if err != nil {
		s.writeError(w, &apiError{status: 400, code: "invalid_json", message: "Error parsing JSON body."})
		return false
	}
	if len(raw) > MaxBodyBytes {
		s.writeError(w, validation("body failed validation: request body size should be ≤ `%d` bytes, instead was `%d`.", MaxBodyBytes, len(raw)))
		return false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, into); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			s.writeError(w, bodyFailed("body."+te.Field, "an "+jsonKind(te.Type.Kind().String()), te.Value))
			return false
		}
		s.writeError(w, &apiError{status: 400, code: "invalid_json", message: "Error parsing JSON body."})
		return false
	}
	return true
}

func jsonKind(k string) string {
	switch k {
	case "map", "struct":
		return "object"
	case "slice":
		return "array"
	}
	return k
}

func (s *Server) database(id string) *container { return s.dbs[normID(id)] }

// source finds a data source by its ID or, for tests, by its database's ID
// (the first data source). s.mu must be held.
func (s *Server) source(id string) *db {
	if d := s.sources[normID(id)]; d != nil {
		return d
	}
	if c := s.dbs[normID(id)]; c != nil {
		return c.sources[0]
	}
	return nil
}

// single is the one data source of c for the database-level calls (create
// under a database_id parent, and before 2025-09-03 database read and
// query). Notion's upgrade guide: once a database has a second data source
// those calls fail. The error text is the simulator's [U].
func single(c *container) (*db, *apiError) {
	if len(c.sources) == 1 {
		return c.sources[0], nil
	}
	return nil, validation("Databases with multiple data sources are not supported by this request: database %s has %d data sources. Use Notion-Version %s and a data_source_id.", c.id, len(c.sources), DataSourcesVersion)
}

func sourceNotFound(id string) *apiError {
	return &apiError{status: 404, code: "object_not_found",
		message: fmt.Sprintf("Could not find data_source with ID: %s. Make sure the relevant pages and databases are shared with your integration.", id)}
}

func dbNotFound(id string) *apiError {
	return &apiError{status: 404, code: "object_not_found",
		message: fmt.Sprintf("Could not find database with ID: %s. Make sure the relevant pages and databases are shared with your integration.", id)}
}

func pageNotFound(id string) *apiError {
	return &apiError{status: 404, code: "object_not_found",
		message: fmt.Sprintf("Could not find page with ID: %s. Make sure the relevant pages and databases are shared with your integration.", id)}
}

type pageBody struct {
	Parent     map[string]json.RawMessage `json:"parent"`
	Properties map[string]json.RawMessage `json:"properties"`
	Children   []json.RawMessage          `json:"children"`
	Archived   *bool                      `json:"archived"`
	InTrash    *bool                      `json:"in_trash"`
}

// properties validates every property value of body against d; nothing is
// stored until all are valid. s.mu must be held.
func (s *Server) properties(d *db, props map[string]json.RawMessage) (map[string]any, *apiError) {
	removed := func(name string) bool { return s.removedProp(d, name) }
	out := make(map[string]any, len(props))
	for _, key := range sortedKeys(props) {
		p, v, err := s.value(d, key, props[key], removed)
		if err != nil {
			return nil, err
		}
		out[p.name] = v
	}
	return out, nil
}

// countBlocks checks the children of a new page: at most 100 per array
// and 1000 in all. Their content is not stored.
func countBlocks(path string, children []json.RawMessage, total *int) *apiError {
	if len(children) > MaxArray {
		return validation("body failed validation: %s.length should be ≤ `%d`, instead was `%d`.", path, MaxArray, len(children))
	}
	for i, c := range children {
		*total++
		if *total > MaxBlocks {
			return validation("body failed validation: the request has more than %d block elements.", MaxBlocks)
		}
		var b map[string]json.RawMessage
		if err := json.Unmarshal(c, &b); err != nil {
			return bodyFailed(fmt.Sprintf("%s[%d]", path, i), "an object", show(c))
		}
		var typ string
		_ = json.Unmarshal(b["type"], &typ)
		var inner struct {
			Children []json.RawMessage `json:"children"`
		}
		if typ != "" {
			_ = json.Unmarshal(b[typ], &inner)
		}
		if err := countBlocks(fmt.Sprintf("%s[%d].%s.children", path, i, typ), inner.Children, total); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var body pageBody
	if !s.decode(w, r, &body) {
		return
	}
	if body.Parent == nil {
		s.writeError(w, bodyFailed("body.parent", "defined", "undefined"))
		return
	}
	var dbID, srcID string
	sources := dataSources(r)
	if raw, ok := body.Parent["data_source_id"]; ok && sources {
		if json.Unmarshal(raw, &srcID) != nil || srcID == "" {
			s.writeError(w, bodyFailed("body.parent.data_source_id", "a string", show(raw)))
			return
		}
	} else if raw, ok := body.Parent["database_id"]; !ok || json.Unmarshal(raw, &dbID) != nil || dbID == "" {
		if _, ok := body.Parent["page_id"]; ok {
			s.writeError(w, &apiError{status: 400, code: "validation_error",
				message: "The simulator serves database pages only: use a data_source_id or database_id parent."})
			return
		}
		want := "body.parent.database_id"
		if sources {
			want = "body.parent.data_source_id"
		}
		s.writeError(w, bodyFailed(want, "defined", "undefined"))
		return
	}
	if body.Properties == nil {
		s.writeError(w, bodyFailed("body.properties", "defined", "undefined"))
		return
	}
	total := 0
	if err := countBlocks("body.children", body.Children, &total); err != nil {
		s.writeError(w, err)
		return
	}
	s.mu.Lock()
	var d *db
	if srcID != "" {
		if d = s.sources[normID(srcID)]; d == nil {
			s.mu.Unlock()
			s.writeError(w, sourceNotFound(srcID))
			return
		}
	} else {
		c := s.database(dbID)
		if c == nil {
			s.mu.Unlock()
			s.writeError(w, dbNotFound(dbID))
			return
		}
		var aerr *apiError
		if d, aerr = single(c); aerr != nil {
			s.mu.Unlock()
			s.writeError(w, aerr)
			return
		}
	}
	values, aerr := s.properties(d, body.Properties)
	if aerr != nil {
		s.mu.Unlock()
		s.writeError(w, aerr)
		return
	}
	now := s.Now()
	s.seq++
	p := &page{id: s.newUUID(), seq: s.seq, db: d, values: map[string]any{}, created: now, edited: now}
	for k, v := range values {
		p.values[k] = v
	}
	s.pages[normID(p.id)] = p
	s.KeyAdded(s.keyOf(p))
	s.emit("page.created", p)
	out := s.pageJSON(p, sources)
	s.mu.Unlock()
	if s.TimedOut(r) {
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	p := s.pages[normID(id)]
	var out map[string]any
	if p != nil {
		out = s.pageJSON(p, dataSources(r))
	}
	s.mu.Unlock()
	if p == nil {
		s.writeError(w, pageNotFound(id))
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body pageBody
	if !s.decode(w, r, &body) {
		return
	}
	trash := body.InTrash
	if trash == nil {
		trash = body.Archived
	}
	s.mu.Lock()
	p := s.pages[normID(id)]
	if p == nil {
		s.mu.Unlock()
		s.writeError(w, pageNotFound(id))
		return
	}
	if p.archived && (trash == nil || *trash) {
		s.mu.Unlock()
		s.writeError(w, validation("Can't edit block that is archived. You must unarchive the block before editing."))
		return
	}
	values, aerr := s.properties(p.db, body.Properties)
	if aerr != nil {
		s.mu.Unlock()
		s.writeError(w, aerr)
		return
	}
	old := s.keyOf(p)
	for k, v := range values {
		p.values[k] = v
	}
	wasTrashed := p.archived
	if trash != nil {
		p.archived = *trash
	}
	p.edited = s.Now()
	if cur := s.keyOf(p); cur != old {
		s.KeyRemoved(old)
		s.KeyAdded(cur)
	}
	switch {
	case p.archived && !wasTrashed:
		s.emit("page.deleted", p)
	case !p.archived && wasTrashed:
		s.emit("page.undeleted", p)
	default:
		s.emit("page.properties_updated", p)
	}
	out := s.pageJSON(p, dataSources(r))
	s.mu.Unlock()
	if s.TimedOut(r) {
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

// keyOf is p's business key for the duplicate count: its database's
// KeyProperty value, "" when the page is in the trash or has none. s.mu
// must be held.
func (s *Server) keyOf(p *page) string {
	if p.archived || p.db.key == "" {
		return ""
	}
	v := plain(p.values[p.db.key])
	if v == "" {
		return ""
	}
	return p.db.id + "/" + v
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// pageJSON renders a page object; every property of the database is
// present, empty ones as Notion returns them (null, [] or false). From
// 2025-09-03 (sources) the parent is the data source. s.mu must be held.
func (s *Server) pageJSON(p *page, sources bool) map[string]any {
	props := map[string]any{}
	for _, sp := range p.db.props {
		if s.removedProp(p.db, sp.name) {
			continue
		}
		props[sp.name] = map[string]any{"id": sp.id, "type": sp.typ, sp.typ: valueJSON(sp.typ, p.values[sp.name])}
	}
	user := map[string]any{"object": "user", "id": "00000000-0000-4000-8000-0000000051c3"}
	return map[string]any{
		"object":           "page",
		"id":               p.id,
		"created_time":     formatTime(p.created.Truncate(time.Minute)),
		"last_edited_time": formatTime(p.edited.Truncate(time.Minute)),
		"created_by":       user,
		"last_edited_by":   user,
		"cover":            nil,
		"icon":             nil,
		"parent":           pageParent(p.db, sources),
		"archived":         p.archived,
		"in_trash":         p.archived,
		"properties":       props,
		"url":              "https://www.notion.so/" + normID(p.id),
		"public_url":       nil,
	}
}

func pageParent(d *db, sources bool) map[string]any {
	if sources {
		return map[string]any{"type": "data_source_id", "data_source_id": d.id, "database_id": d.parent.id}
	}
	return map[string]any{"type": "database_id", "database_id": d.parent.id}
}

func (s *Server) handleGetDatabase(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	sources := dataSources(r)
	s.mu.Lock()
	c := s.database(id)
	var out map[string]any
	var aerr *apiError
	switch {
	case c == nil:
		aerr = dbNotFound(id)
	case sources:
		out = s.databaseJSON(c)
	default:
		var d *db
		if d, aerr = single(c); aerr == nil {
			out = s.databaseJSON(c)
			out["properties"] = s.schemaJSON(d)
		}
	}
	s.mu.Unlock()
	if aerr != nil {
		s.writeError(w, aerr)
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetDataSource(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !dataSources(r) {
		s.writeError(w, &apiError{status: 400, code: "invalid_request_url", message: "Invalid request URL."})
		return
	}
	s.mu.Lock()
	d := s.sources[normID(id)]
	var out map[string]any
	if d != nil {
		out = map[string]any{
			"object":           "data_source",
			"id":               d.id,
			"created_time":     formatTime(d.created),
			"last_edited_time": formatTime(d.edited),
			"title":            richTextJSON([]textRun{{Content: d.title}}),
			"description":      []any{},
			"icon":             nil,
			"cover":            nil,
			"parent":           map[string]any{"type": "database_id", "database_id": d.parent.id},
			"database_parent":  map[string]any{"type": "workspace", "workspace": true},
			"url":              "https://www.notion.so/" + normID(d.id),
			"archived":         false,
			"in_trash":         false,
			"is_inline":        false,
			"public_url":       nil,
			"properties":       s.schemaJSON(d),
		}
	}
	s.mu.Unlock()
	if d == nil {
		s.writeError(w, sourceNotFound(id))
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

// databaseJSON renders a database object; from 2025-09-03 it lists its
// data sources and holds no schema. s.mu must be held.
func (s *Server) databaseJSON(c *container) map[string]any {
	list := make([]any, 0, len(c.sources))
	for _, d := range c.sources {
		list = append(list, map[string]any{"id": d.id, "name": d.title})
	}
	return map[string]any{
		"object":           "database",
		"id":               c.id,
		"created_time":     formatTime(c.created),
		"last_edited_time": formatTime(c.edited),
		"title":            richTextJSON([]textRun{{Content: c.title}}),
		"description":      []any{},
		"icon":             nil,
		"cover":            nil,
		"parent":           map[string]any{"type": "workspace", "workspace": true},
		"url":              "https://www.notion.so/" + normID(c.id),
		"archived":         false,
		"in_trash":         false,
		"is_inline":        false,
		"public_url":       nil,
		"data_sources":     list,
	}
}

// schemaJSON is a data source's property schema. s.mu must be held.
func (s *Server) schemaJSON(d *db) map[string]any {
	props := map[string]any{}
	for _, p := range d.props {
		if !s.removedProp(d, p.name) {
			props[p.name] = p.schemaJSON()
		}
	}
	return props
}

type queryBody struct {
	Filter      json.RawMessage `json:"filter"`
	Sorts       []querySort     `json:"sorts"`
	InTrash     *bool           `json:"in_trash"`
	StartCursor *string         `json:"start_cursor"`
	PageSize    *int            `json:"page_size"`
}

func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request) {
	if dataSources(r) {
		s.writeError(w, &apiError{status: 400, code: "invalid_request_url", message: "Invalid request URL."})
		return
	}
	s.query(w, r, false)
}

func (s *Server) handleQuerySource(w http.ResponseWriter, r *http.Request) {
	if !dataSources(r) {
		s.writeError(w, &apiError{status: 400, code: "invalid_request_url", message: "Invalid request URL."})
		return
	}
	s.query(w, r, true)
}

// query serves a database query (before 2025-09-03) or a data source query.
func (s *Server) query(w http.ResponseWriter, r *http.Request, bySource bool) {
	id := r.PathValue("id")
	var body queryBody
	if !s.decode(w, r, &body) {
		return
	}
	size := 100
	if body.PageSize != nil {
		size = *body.PageSize
		if size < 1 || size > 100 {
			s.writeError(w, validation("body failed validation: body.page_size should be ≤ `100` and ≥ `1`, instead was `%d`.", size))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var d *db
	if bySource {
		if d = s.sources[normID(id)]; d == nil {
			s.writeErrorLocked(w, sourceNotFound(id))
			return
		}
	} else {
		c := s.database(id)
		if c == nil {
			s.writeErrorLocked(w, dbNotFound(id))
			return
		}
		var aerr *apiError
		if d, aerr = single(c); aerr != nil {
			s.writeErrorLocked(w, aerr)
			return
		}
	}
	var match func(*page) bool = func(*page) bool { return true }
	if body.Filter != nil && !isNull(body.Filter) {
		m, aerr := s.compileFilter(d, "body.filter", body.Filter, 0)
		if aerr != nil {
			s.writeErrorLocked(w, aerr)
			return
		}
		match = m
	}
	trashed := body.InTrash != nil && *body.InTrash
	var hits []*page
	for _, p := range s.pages {
		if p.db == d && p.archived == trashed && match(p) {
			hits = append(hits, p)
		}
	}
	less, aerr := sortPages(body.Sorts)
	if aerr != nil {
		s.writeErrorLocked(w, aerr)
		return
	}
	sort.Slice(hits, func(i, j int) bool { return less(hits[i], hits[j]) })
	start := 0
	if body.StartCursor != nil {
		start = -1
		for i, p := range hits {
			if normID(p.id) == normID(*body.StartCursor) {
				start = i
				break
			}
		}
		if start < 0 {
			s.writeErrorLocked(w, validation("start_cursor provided is invalid: %s", *body.StartCursor))
			return
		}
	}
	end := min(start+size, len(hits))
	results := make([]any, 0, end-start)
	for _, p := range hits[start:end] {
		results = append(results, s.pageJSON(p, bySource))
	}
	var next any
	if end < len(hits) {
		next = hits[end].id
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{
		"object": "list", "results": results, "next_cursor": next, "has_more": end < len(hits),
		"type": "page_or_database", "page_or_database": map[string]any{},
	})
}

// writeErrorLocked is writeError for callers holding s.mu.
func (s *Server) writeErrorLocked(w http.ResponseWriter, e *apiError) {
	sim.WriteJSON(w, e.status, errorJSON{Object: "error", Status: e.status, Code: e.code, Message: e.message, RequestID: s.newUUID()})
}

// Filter conditions by the filter object's type key.
var (
	textConds     = []string{"equals", "does_not_equal", "contains", "does_not_contain", "starts_with", "ends_with", "is_empty", "is_not_empty"}
	numberConds   = []string{"equals", "does_not_equal", "greater_than", "less_than", "greater_than_or_equal_to", "less_than_or_equal_to", "is_empty", "is_not_empty"}
	checkboxConds = []string{"equals", "does_not_equal"}
	selectConds   = []string{"equals", "does_not_equal", "is_empty", "is_not_empty"}
	multiConds    = []string{"contains", "does_not_contain", "is_empty", "is_not_empty"}
	dateConds     = []string{"equals", "before", "after", "on_or_before", "on_or_after", "is_empty", "is_not_empty"}
	textTypes     = []string{TypeTitle, TypeRichText, TypeEmail, TypePhoneNumber, TypeURL}
)

// compileFilter turns a filter object into a predicate. depth counts
// compound levels: Notion allows two. s.mu must be held.
func (s *Server) compileFilter(d *db, path string, raw json.RawMessage, depth int) (func(*page) bool, *apiError) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, bodyFailed(path, "an object", show(raw))
	}
	for _, op := range []string{"and", "or"} {
		list, ok := obj[op]
		if !ok {
			continue
		}
		if depth >= 2 {
			return nil, validation("body failed validation: %s.%s: compound filters can be nested at most two levels deep.", path, op)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(list, &items); err != nil {
			return nil, bodyFailed(path+"."+op, "an array", show(list))
		}
		if len(items) > MaxArray {
			return nil, validation("body failed validation: %s.%s.length should be ≤ `%d`, instead was `%d`.", path, op, MaxArray, len(items))
		}
		preds := make([]func(*page) bool, len(items))
		for i, it := range items {
			p, err := s.compileFilter(d, fmt.Sprintf("%s.%s[%d]", path, op, i), it, depth+1)
			if err != nil {
				return nil, err
			}
			preds[i] = p
		}
		and := op == "and"
		return func(p *page) bool {
			for _, f := range preds {
				if f(p) != and {
					return !and
				}
			}
			return and
		}, nil
	}
	if ts, ok := obj["timestamp"]; ok {
		return timestampFilter(path, ts, obj)
	}
	var name string
	if err := json.Unmarshal(obj["property"], &name); err != nil || name == "" {
		return nil, bodyFailed(path+".property", "defined", "undefined")
	}
	sp := d.byKey(name)
	if sp == nil || s.removedProp(d, sp.name) {
		return nil, validation("Could not find property with name or id: %s", name)
	}
	var key string
	var cond map[string]json.RawMessage
	for k, v := range obj {
		if k == "property" || k == "type" {
			continue
		}
		key = k
		if err := json.Unmarshal(v, &cond); err != nil || len(cond) != 1 {
			return nil, bodyFailed(path+"."+k, "an object with one condition", show(v))
		}
	}
	if key == "" {
		return nil, bodyFailed(path+"."+sp.typ, "defined", "undefined")
	}
	allowed := map[string][]string{
		"rich_text": textConds, TypeTitle: textConds, TypeEmail: textConds, TypePhoneNumber: textConds, TypeURL: textConds,
		TypeNumber: numberConds, TypeCheckbox: checkboxConds, TypeSelect: selectConds, TypeMultiSelect: multiConds, TypeDate: dateConds,
	}
	conds, known := allowed[key]
	fits := key == sp.typ || (key == "rich_text" && contains(textTypes, sp.typ))
	if !known || !fits {
		return nil, validation("body failed validation: %s.%s is not a filter for property %s of type %s.", path, key, sp.name, sp.typ)
	}
	var op string
	var arg json.RawMessage
	for k, v := range cond {
		op, arg = k, v
	}
	if !contains(conds, op) {
		return nil, validation("body failed validation: %s.%s.%s is not a %s filter condition.", path, key, op, key)
	}
	at := path + "." + key + "." + op
	pname := sp.name
	if op == "is_empty" || op == "is_not_empty" {
		var b bool
		if err := json.Unmarshal(arg, &b); err != nil || !b {
			return nil, bodyFailed(at, "`true`", show(arg))
		}
		empty := op == "is_empty"
		return func(p *page) bool { return isEmpty(p.values[pname]) == empty }, nil
	}
	switch key {
	case TypeNumber:
		var n float64
		if err := json.Unmarshal(arg, &n); err != nil {
			return nil, bodyFailed(at, "a number", show(arg))
		}
		return func(p *page) bool {
			v, ok := p.values[pname].(float64)
			if !ok {
				return op == "does_not_equal"
			}
			switch op {
			case "equals":
				return v == n
			case "does_not_equal":
				return v != n
			case "greater_than":
				return v > n
			case "less_than":
				return v < n
			case "greater_than_or_equal_to":
				return v >= n
			default:
				return v <= n
			}
		}, nil
	case TypeCheckbox:
		var b bool
		if err := json.Unmarshal(arg, &b); err != nil {
			return nil, bodyFailed(at, "a boolean", show(arg))
		}
		return func(p *page) bool {
			v, _ := p.values[pname].(bool)
			return (v == b) == (op == "equals")
		}, nil
	case TypeDate:
		var str string
		if err := json.Unmarshal(arg, &str); err != nil {
			return nil, bodyFailed(at, "a date string", show(arg))
		}
		dv, aerr := parseDate(at, json.RawMessage(`{"start":`+strconv.Quote(str)+`}`))
		if aerr != nil {
			return nil, aerr
		}
		want := dv.startTime()
		return func(p *page) bool {
			v, ok := p.values[pname].(*dateValue)
			if !ok {
				return false
			}
			return timeMatches(op, v.startTime(), want)
		}, nil
	}
	var want string
	if err := json.Unmarshal(arg, &want); err != nil {
		return nil, bodyFailed(at, "a string", show(arg))
	}
	if key == TypeMultiSelect {
		return func(p *page) bool {
			opts, _ := p.values[pname].([]option)
			has := false
			for _, o := range opts {
				has = has || o.Name == want
			}
			return has == (op == "contains")
		}, nil
	}
	return func(p *page) bool {
		v := plain(p.values[pname])
		lv, lw := strings.ToLower(v), strings.ToLower(want)
		switch op {
		case "equals":
			return v == want
		case "does_not_equal":
			return v != want
		case "contains":
			return strings.Contains(lv, lw)
		case "does_not_contain":
			return !strings.Contains(lv, lw)
		case "starts_with":
			return strings.HasPrefix(lv, lw)
		default:
			return strings.HasSuffix(lv, lw)
		}
	}, nil
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case []textRun:
		return plain(v) == ""
	case []option:
		return len(v) == 0
	case string:
		return v == ""
	case bool:
		return !v
	case *dateValue:
		return v == nil
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// records is GET /_sim/records: every database's pages (in the trash too,
// flagged), in creation order, as page objects.
func (s *Server) records() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]map[string]any{}
	for _, c := range s.dbs {
		out[c.id] = []map[string]any{}
	}
	for _, p := range s.sorted("") {
		out[p.db.parent.id] = append(out[p.db.parent.id], s.pageJSON(p, len(p.db.parent.sources) > 1))
	}
	return out
}

// sorted lists the pages of the database with normalized ID dbID ("" for
// all) in creation order. s.mu must be held.
func (s *Server) sorted(dbID string) []*page {
	var out []*page
	for _, p := range s.pages {
		if dbID == "" || normID(p.db.id) == dbID || normID(p.db.parent.id) == dbID {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// Page is a stored page as Pages returns it, for tests.
type Page struct {
	ID string
	// Properties holds every property's value in plain form: title and
	// rich_text as one string, number as float64 or nil, select as the
	// option name or nil, multi_select as []string, date as its start or
	// nil, email, phone_number and url as string or nil, checkbox as bool.
	Properties map[string]any
	// Runs is how many rich text objects each title and rich_text property
	// holds.
	Runs     map[string]int
	Archived bool
	Created  time.Time
}

// Pages returns the pages of a database (every data source) or of one data
// source that are not in the trash, in creation order.
func (s *Server) Pages(databaseID string) []Page {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Page
	for _, p := range s.sorted(normID(databaseID)) {
		if p.archived {
			continue
		}
		pg := Page{ID: p.id, Properties: map[string]any{}, Runs: map[string]int{}, Created: p.created}
		for _, sp := range p.db.props {
			v := p.values[sp.name]
			pg.Properties[sp.name] = flat(sp.typ, v)
			if runs, ok := v.([]textRun); ok {
				pg.Runs[sp.name] = len(runs)
			}
		}
		out = append(out, pg)
	}
	return out
}

// SelectOptions returns the option names of a select or multi_select
// property as they stand (including options added by writes).
func (s *Server) SelectOptions(databaseID, property string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.source(databaseID)
	if d == nil {
		return nil
	}
	p := d.byName(property)
	if p == nil {
		return nil
	}
	names := make([]string, len(p.options))
	for i, o := range p.options {
		names[i] = o.Name
	}
	return names
}

// querySort is one entry of a query's sorts: by a timestamp
// (created_time, last_edited_time) or by a property (accepted, and
// ignored: results then keep creation order).
type querySort struct {
	Timestamp string `json:"timestamp"`
	Property  string `json:"property"`
	Direction string `json:"direction"`
}

// sortPages orders query results: by the first timestamp sort (on the
// minute-rounded time Notion shows, ties in creation order), else in
// creation order.
func sortPages(sorts []querySort) (func(a, b *page) bool, *apiError) {
	bySeq := func(a, b *page) bool { return a.seq < b.seq }
	for i, so := range sorts {
		if so.Direction != "" && so.Direction != "ascending" && so.Direction != "descending" {
			return nil, validation("body failed validation: body.sorts[%d].direction should be `\"ascending\"` or `\"descending\"`, instead was `%q`.", i, so.Direction)
		}
		if so.Timestamp == "" {
			continue
		}
		if so.Timestamp != "created_time" && so.Timestamp != "last_edited_time" {
			return nil, validation("body failed validation: body.sorts[%d].timestamp should be `\"created_time\"` or `\"last_edited_time\"`, instead was `%q`.", i, so.Timestamp)
		}
		stamp := func(p *page) time.Time { return p.edited.Truncate(time.Minute) }
		if so.Timestamp == "created_time" {
			stamp = func(p *page) time.Time { return p.created.Truncate(time.Minute) }
		}
		desc := so.Direction == "descending"
		return func(a, b *page) bool {
			ta, tb := stamp(a), stamp(b)
			if !ta.Equal(tb) {
				return ta.Before(tb) != desc
			}
			return a.seq < b.seq
		}, nil
	}
	return bySeq, nil
}

// timestampFilter compiles {"timestamp": "last_edited_time",
// "last_edited_time": {"on_or_after": "..."}} (or created_time). Notion
// keeps these times to the minute, so they are compared rounded down to
// the minute, as the API shows them.
func timestampFilter(path string, ts json.RawMessage, obj map[string]json.RawMessage) (func(*page) bool, *apiError) {
	var name string
	if err := json.Unmarshal(ts, &name); err != nil || (name != "last_edited_time" && name != "created_time") {
		return nil, validation("body failed validation: %s.timestamp should be `\"created_time\"` or `\"last_edited_time\"`, instead was `%s`.", path, show(ts))
	}
	var cond map[string]json.RawMessage
	if err := json.Unmarshal(obj[name], &cond); err != nil || len(cond) != 1 {
		return nil, bodyFailed(path+"."+name, "an object with one condition", show(obj[name]))
	}
	var op string
	var arg json.RawMessage
	for k, v := range cond {
		op, arg = k, v
	}
	at := path + "." + name + "." + op
	if !contains([]string{"equals", "before", "after", "on_or_before", "on_or_after"}, op) {
		return nil, validation("body failed validation: %s is not a timestamp filter condition.", at)
	}
	var str string
	if err := json.Unmarshal(arg, &str); err != nil {
		return nil, bodyFailed(at, "a date string", show(arg))
	}
	dv, aerr := parseDate(at, json.RawMessage(`{"start":`+strconv.Quote(str)+`}`))
	if aerr != nil {
		return nil, aerr
	}
	want := dv.startTime()
	return func(p *page) bool {
		t := p.edited
		if name == "created_time" {
			t = p.created
		}
		return timeMatches(op, t.Truncate(time.Minute), want)
	}, nil
}

// timeMatches is a date filter's condition (equals, before, after,
// on_or_before, on_or_after) on t against want.
func timeMatches(op string, t, want time.Time) bool {
	switch op {
	case "equals":
		return t.Equal(want)
	case "before":
		return t.Before(want)
	case "after":
		return t.After(want)
	case "on_or_before":
		return !t.After(want)
	default:
		return !t.Before(want)
	}
}
