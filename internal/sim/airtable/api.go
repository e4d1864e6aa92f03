package airtable

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/sim"
)

// idMix spreads record sequence numbers over the ID space; it is odd, so
// multiplying by it is a bijection on uint64.
const idMix = 0x9E3779B97F4A7C15

// decode reads a JSON body, keeping numbers exact. It answers 413 for a
// body over the limit, 400 for one that is not JSON and 422 for unknown
// keys or wrong types.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, into any) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.maxBody)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeFault(w, r, http.StatusRequestEntityTooLarge)
			return false
		}
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST_BODY", "Could not read the request body")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST_BODY", "Could not parse the request body as JSON: "+err.Error())
			return false
		}
		writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data.")
		return false
	}
	return true
}

// cellChange is one validated cell write; v nil clears the cell.
type cellChange struct {
	f *Field
	v any
}

// choiceUndo remembers select options typecast added, so a failed request
// can take them back.
type choiceUndo struct {
	added []struct {
		f *Field
		s string
	}
}

func (u *choiceUndo) rollback() {
	for i := len(u.added) - 1; i >= 0; i-- {
		a := u.added[i]
		a.f.Choices = slices.DeleteFunc(a.f.Choices, func(c string) bool { return c == a.s })
	}
	u.added = nil
}

// cells validates one record's fields. Fields are checked in name order, and
// the first error is the request's. s.mu must be held.
func (s *Server) cells(t *tableState, fields map[string]any, typecast bool, undo *choiceUndo) ([]cellChange, *valueError) {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	addChoice := func(f *Field, c string) bool {
		if s.editorOnly {
			return false
		}
		f.Choices = append(f.Choices, c)
		undo.added = append(undo.added, struct {
			f *Field
			s string
		}{f, c})
		return true
	}
	out := make([]cellChange, 0, len(names))
	for _, n := range names {
		f := s.liveField(t, n)
		if f == nil {
			return nil, &valueError{"UNKNOWN_FIELD_NAME", fmt.Sprintf("Unknown field name: %q", n)}
		}
		v, verr := normalize(f, fields[n], typecast, addChoice)
		if verr != nil {
			return nil, verr
		}
		out = append(out, cellChange{f: f, v: v})
	}
	return out, nil
}

// liveField finds a field by name or ID unless the removed_fields fault
// dropped it. s.mu must be held.
func (s *Server) liveField(t *tableState, nameOrID string) *Field {
	f := t.def.field(nameOrID)
	if f == nil {
		return nil
	}
	for _, obj := range []string{t.def.Name, t.def.ID} {
		if s.Removed(obj, f.Name) || s.Removed(obj, f.ID) {
			return nil
		}
	}
	return f
}

// create stores a new record. s.mu must be held.
func (s *Server) create(t *tableState, cs []cellChange) *record {
	s.seq++
	rec := &record{id: encodeID("rec", s.seq*idMix+s.Seed()), seq: s.seq, created: s.Now(), cells: map[string]any{}}
	t.recs[rec.id] = rec
	s.apply(t, rec, cs, false)
	if n := len(s.pending); n > 0 && s.pending[n-1].id == rec.id {
		s.pending[n-1].created = true
	}
	return rec
}

// apply writes validated cells; destructive (PUT) clears every cell not
// written. s.mu must be held.
func (s *Server) apply(t *tableState, rec *record, cs []cellChange, destructive bool) {
	oldKey := t.dedupeKey(rec)
	if destructive {
		keep := map[string]bool{}
		for _, c := range cs {
			keep[c.f.ID] = true
		}
		for id := range rec.cells {
			if !keep[id] {
				delete(rec.cells, id)
			}
		}
	}
	for _, c := range cs {
		if c.v == nil {
			delete(rec.cells, c.f.ID)
		} else {
			rec.cells[c.f.ID] = c.v
		}
	}
	rec.modified = s.Now()
	s.recordChange(t, rec, false)
	if cur := t.dedupeKey(rec); cur != oldKey {
		s.KeyRemoved(oldKey)
		s.KeyAdded(cur)
	}
}

func (s *Server) remove(t *tableState, rec *record) {
	s.KeyRemoved(t.dedupeKey(rec))
	delete(t.recs, rec.id)
	s.recordChange(t, rec, true)
}

type recordInput struct {
	ID     string         `json:"id"`
	Fields map[string]any `json:"fields"`
}

type writeBody struct {
	Records               []recordInput  `json:"records"`
	Fields                map[string]any `json:"fields"`
	Typecast              bool           `json:"typecast"`
	ReturnFieldsByFieldID bool           `json:"returnFieldsByFieldId"`
	PerformUpsert         *struct {
		FieldsToMergeOn []string `json:"fieldsToMergeOn"`
	} `json:"performUpsert"`
}

func missingFields(w http.ResponseWriter) {
	writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_MISSING_FIELDS", `Could not find field "fields" in the request body`)
}

func tooMany(w http.ResponseWriter, verb string, n int) {
	writeError(w, http.StatusUnprocessableEntity, "INVALID_RECORDS",
		fmt.Sprintf("A maximum of %d records can be %s per request but you have provided %d.", MaxRecordsPerRequest, verb, n))
}

func writeValueError(w http.ResponseWriter, e *valueError) {
	writeError(w, http.StatusUnprocessableEntity, e.typ, e.message)
}

type recordsAnswer struct {
	Records        []Record `json:"records"`
	CreatedRecords []string `json:"createdRecords,omitempty"`
	UpdatedRecords []string `json:"updatedRecords,omitempty"`
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var body writeBody
	if !s.decode(w, r, &body) {
		return
	}
	if body.PerformUpsert != nil {
		writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "performUpsert is only accepted by PATCH and PUT (update records)")
		return
	}
	single := body.Records == nil
	inputs := body.Records
	if single {
		if body.Fields == nil {
			missingFields(w)
			return
		}
		inputs = []recordInput{{Fields: body.Fields}}
	}
	if n := len(inputs); n == 0 || n > MaxRecordsPerRequest {
		tooMany(w, "created", n)
		return
	}
	s.mu.Lock()
	t := s.table(r)
	if t == nil {
		s.mu.Unlock()
		writeModelNotFound(w)
		return
	}
	var undo choiceUndo
	plans := make([][]cellChange, len(inputs))
	for i, in := range inputs {
		if in.Fields == nil || in.ID != "" {
			undo.rollback()
			s.mu.Unlock()
			if in.ID != "" {
				writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "Invalid request: a record to create cannot have an id")
				return
			}
			missingFields(w)
			return
		}
		cs, verr := s.cells(t, in.Fields, body.Typecast, &undo)
		if verr != nil {
			undo.rollback()
			s.mu.Unlock()
			writeValueError(w, verr)
			return
		}
		plans[i] = cs
	}
	ans := recordsAnswer{Records: []Record{}}
	for _, cs := range plans {
		if !single && s.FailItem() {
			continue
		}
		rec := s.create(t, cs)
		ans.Records = append(ans.Records, t.toJSON(rec, nil, body.ReturnFieldsByFieldID))
	}
	s.mu.Unlock()
	if s.TimedOut(r) {
		return
	}
	if single {
		sim.WriteJSON(w, http.StatusOK, ans.Records[0])
		return
	}
	sim.WriteJSON(w, http.StatusOK, ans)
}

// plan is what one record of an update or upsert will do.
type plan struct {
	cs     []cellChange
	rec    *record // an existing record to update
	sameAs int     // >= 0: update the record plan sameAs creates
	vals   string  // the merge values of a record to create
}

func (s *Server) handleUpdateMany(w http.ResponseWriter, r *http.Request) {
	var body writeBody
	if !s.decode(w, r, &body) {
		return
	}
	if body.Records == nil {
		writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_MISSING_FIELDS", `Could not find field "records" in the request body`)
		return
	}
	if n := len(body.Records); n == 0 || n > MaxRecordsPerRequest {
		tooMany(w, "updated", n)
		return
	}
	destructive := r.Method == http.MethodPut
	upsert := body.PerformUpsert != nil

	s.mu.Lock()
	t := s.table(r)
	if t == nil {
		s.mu.Unlock()
		writeModelNotFound(w)
		return
	}
	fail := func(status int, typ, msg string, undo *choiceUndo) {
		undo.rollback()
		s.mu.Unlock()
		writeError(w, status, typ, msg)
	}
	var merge []*Field
	var undo choiceUndo
	if upsert {
		names := body.PerformUpsert.FieldsToMergeOn
		if len(names) < 1 || len(names) > 3 {
			fail(http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "performUpsert.fieldsToMergeOn must name 1 to 3 fields", &undo)
			return
		}
		for _, n := range names {
			f := s.liveField(t, n)
			if f == nil {
				fail(http.StatusUnprocessableEntity, "UNKNOWN_FIELD_NAME", fmt.Sprintf("Unknown field name: %q", n), &undo)
				return
			}
			if !f.mergeable() {
				fail(http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN",
					fmt.Sprintf("Field %q cannot be used in fieldsToMergeOn: it is of type %s (allowed: number, text, long text, single select, multiple select, date)", f.Name, f.Type), &undo)
				return
			}
			merge = append(merge, f)
		}
	}

	plans := make([]plan, len(body.Records))
	for i, in := range body.Records {
		if in.Fields == nil {
			undo.rollback()
			s.mu.Unlock()
			missingFields(w)
			return
		}
		cs, verr := s.cells(t, in.Fields, body.Typecast, &undo)
		if verr != nil {
			fail(http.StatusUnprocessableEntity, verr.typ, verr.message, &undo)
			return
		}
		p := plan{cs: cs, sameAs: -1}
		switch {
		case in.ID != "":
			if p.rec = t.recs[in.ID]; p.rec == nil {
				fail(http.StatusUnprocessableEntity, "ROW_DOES_NOT_EXIST", fmt.Sprintf("Record ID %s does not exist in this table", in.ID), &undo)
				return
			}
		case !upsert:
			fail(http.StatusUnprocessableEntity, "INVALID_RECORDS", fmt.Sprintf(`Record at index %d is missing an "id"; only an upsert (performUpsert) takes records without one`, i), &undo)
			return
		default:
			vals, ok := mergeValues(merge, cs)
			if !ok {
				fail(http.StatusUnprocessableEntity, "INVALID_RECORDS",
					fmt.Sprintf("Record at index %d has no value for every field in fieldsToMergeOn (%s)", i, fieldNames(merge)), &undo)
				return
			}
			var ids []string
			for _, rec := range t.sorted() {
				if recordMergeValues(t, merge, rec) == vals {
					p.rec = rec
					ids = append(ids, rec.id)
				}
			}
			for j := range plans[:i] {
				if plans[j].rec == nil && plans[j].sameAs < 0 && plans[j].vals == vals {
					p.sameAs = j
					ids = append(ids, fmt.Sprintf("(record at index %d)", j))
				}
			}
			if len(ids) > 1 {
				fail(http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN",
					fmt.Sprintf("Record at index %d matches %d records on fieldsToMergeOn (%s): %s; an upsert must match at most one", i, len(ids), fieldNames(merge), strings.Join(ids, ", ")), &undo)
				return
			}
			p.vals = vals
		}
		plans[i] = p
	}

	ans := recordsAnswer{Records: []Record{}}
	if upsert {
		ans.CreatedRecords, ans.UpdatedRecords = []string{}, []string{}
	}
	made := make([]*record, len(plans))
	for i, p := range plans {
		if s.FailItem() {
			continue
		}
		rec := p.rec
		if rec == nil && p.sameAs >= 0 {
			rec = made[p.sameAs]
		}
		if rec == nil {
			rec = s.create(t, p.cs)
			made[i] = rec
			ans.CreatedRecords = append(ans.CreatedRecords, rec.id)
		} else {
			s.apply(t, rec, p.cs, destructive)
			if upsert && !slices.Contains(ans.UpdatedRecords, rec.id) && !slices.Contains(ans.CreatedRecords, rec.id) {
				ans.UpdatedRecords = append(ans.UpdatedRecords, rec.id)
			}
		}
		ans.Records = append(ans.Records, t.toJSON(rec, nil, body.ReturnFieldsByFieldID))
	}
	if !upsert {
		ans.CreatedRecords = nil
	}
	s.mu.Unlock()
	if s.TimedOut(r) {
		return
	}
	if upsert {
		// Empty lists are part of an upsert answer.
		sim.WriteJSON(w, http.StatusOK, struct {
			Records        []Record `json:"records"`
			CreatedRecords []string `json:"createdRecords"`
			UpdatedRecords []string `json:"updatedRecords"`
		}{ans.Records, ans.CreatedRecords, ans.UpdatedRecords})
		return
	}
	sim.WriteJSON(w, http.StatusOK, ans)
}

func fieldNames(fs []*Field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = strconv.Quote(f.Name)
	}
	return strings.Join(names, ", ")
}

// mergeValues is the key an upsert matches on, from the cells written; ok is
// false when a merge field is missing or empty.
func mergeValues(merge []*Field, cs []cellChange) (string, bool) {
	parts := make([]string, len(merge))
	for i, f := range merge {
		found := false
		for _, c := range cs {
			if c.f == f && c.v != nil {
				parts[i], found = keyString(c.v), true
			}
		}
		if !found {
			return "", false
		}
	}
	return strings.Join(parts, "\x00"), true
}

func recordMergeValues(t *tableState, merge []*Field, rec *record) string {
	parts := make([]string, len(merge))
	for i, f := range merge {
		parts[i] = keyString(t.value(rec, f))
	}
	return strings.Join(parts, "\x00")
}

func (s *Server) handleUpdateOne(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Fields                map[string]any `json:"fields"`
		Typecast              bool           `json:"typecast"`
		ReturnFieldsByFieldID bool           `json:"returnFieldsByFieldId"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if body.Fields == nil {
		missingFields(w)
		return
	}
	s.mu.Lock()
	t := s.table(r)
	if t == nil {
		s.mu.Unlock()
		writeModelNotFound(w)
		return
	}
	rec := t.recs[r.PathValue("id")]
	if rec == nil {
		s.mu.Unlock()
		writeNotFound(w)
		return
	}
	var undo choiceUndo
	cs, verr := s.cells(t, body.Fields, body.Typecast, &undo)
	if verr != nil {
		undo.rollback()
		s.mu.Unlock()
		writeValueError(w, verr)
		return
	}
	s.apply(t, rec, cs, r.Method == http.MethodPut)
	out := t.toJSON(rec, nil, body.ReturnFieldsByFieldID)
	s.mu.Unlock()
	if s.TimedOut(r) {
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	byID := r.URL.Query().Get("returnFieldsByFieldId") == "true"
	s.mu.Lock()
	t := s.table(r)
	if t == nil {
		s.mu.Unlock()
		writeModelNotFound(w)
		return
	}
	rec := t.recs[r.PathValue("id")]
	var out Record
	if rec != nil {
		out = t.toJSON(rec, s.visibleFields(t), byID)
	}
	s.mu.Unlock()
	if rec == nil {
		writeNotFound(w)
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

// visibleFields are the table's fields less those the drift fault removed.
// s.mu must be held.
func (s *Server) visibleFields(t *tableState) []*Field {
	var out []*Field
	for i := range t.def.Fields {
		if f := s.liveField(t, t.def.Fields[i].ID); f != nil {
			out = append(out, f)
		}
	}
	return out
}

type deleted struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func (s *Server) handleDeleteMany(w http.ResponseWriter, r *http.Request) {
	ids := r.URL.Query()["records[]"]
	if len(ids) == 0 {
		ids = r.URL.Query()["records"]
	}
	if len(ids) == 0 || len(ids) > MaxRecordsPerRequest {
		writeError(w, http.StatusUnprocessableEntity, "INVALID_RECORDS", `"records" must be an array of up to 10 record IDs.`)
		return
	}
	s.mu.Lock()
	t := s.table(r)
	if t == nil {
		s.mu.Unlock()
		writeModelNotFound(w)
		return
	}
	for _, id := range ids {
		if t.recs[id] == nil {
			s.mu.Unlock()
			writeError(w, http.StatusUnprocessableEntity, "ROW_DOES_NOT_EXIST", fmt.Sprintf("Record ID %s does not exist in this table", id))
			return
		}
	}
	out := struct {
		Records []deleted `json:"records"`
	}{Records: []deleted{}}
	for _, id := range ids {
		if rec := t.recs[id]; rec != nil {
			s.remove(t, rec)
		}
		out.Records = append(out.Records, deleted{ID: id, Deleted: true})
	}
	s.mu.Unlock()
	sim.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) handleDeleteOne(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	t := s.table(r)
	if t == nil {
		s.mu.Unlock()
		writeModelNotFound(w)
		return
	}
	rec := t.recs[r.PathValue("id")]
	if rec != nil {
		s.remove(t, rec)
	}
	s.mu.Unlock()
	if rec == nil {
		writeNotFound(w)
		return
	}
	sim.WriteJSON(w, http.StatusOK, deleted{ID: rec.id, Deleted: true})
}

// listParams are list records' parameters, from the query or a body.
type listParams struct {
	PageSize              int       `json:"pageSize"`
	MaxRecords            int       `json:"maxRecords"`
	Offset                string    `json:"offset"`
	FilterByFormula       string    `json:"filterByFormula"`
	Fields                []string  `json:"fields"`
	ReturnFieldsByFieldID bool      `json:"returnFieldsByFieldId"`
	Sort                  []sortKey `json:"sort"`
	// Method is what airtable.js puts in the body when select({method:
	// "post"}) forced the POST form; Airtable accepts and ignores it.
	Method string `json:"method"`
	// Accepted and ignored by the simulator.
	View       string `json:"view"`
	CellFormat string `json:"cellFormat"`
	TimeZone   string `json:"timeZone"`
	UserLocale string `json:"userLocale"`
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var p listParams
	for _, c := range []struct {
		name string
		into *int
	}{{"pageSize", &p.PageSize}, {"maxRecords", &p.MaxRecords}} {
		if v := q.Get(c.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data.")
				return
			}
			*c.into = n
		}
	}
	if p.PageSize == 0 {
		// "limit" is the deprecated name airtable.js still sends on GET.
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed. Check your request data.")
				return
			}
			p.PageSize = n
		}
	}
	sorts, ok := sortFromQuery(q)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "INVALID_SORT", "Invalid sort: each sort[i] needs a field and a direction of asc or desc")
		return
	}
	p.Sort = sorts
	p.Offset = q.Get("offset")
	p.FilterByFormula = q.Get("filterByFormula")
	p.Fields = append(q["fields[]"], q["fields"]...)
	p.ReturnFieldsByFieldID = q.Get("returnFieldsByFieldId") == "true" || q.Get("returnFieldsByFieldId") == "1"
	s.list(w, r, p)
}

func (s *Server) handleListPost(w http.ResponseWriter, r *http.Request) {
	var p listParams
	if !s.decode(w, r, &p) {
		return
	}
	s.list(w, r, p)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, p listParams) {
	if p.PageSize == 0 {
		p.PageSize = MaxPageSize
	}
	if p.PageSize < 0 || p.PageSize > MaxPageSize || p.MaxRecords < 0 {
		writeError(w, http.StatusUnprocessableEntity, "INVALID_REQUEST_UNKNOWN",
			fmt.Sprintf("pageSize must be between 1 and %d and maxRecords must not be negative", MaxPageSize))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(r)
	if t == nil {
		writeModelNotFound(w)
		return
	}
	var want []*Field
	if len(p.Fields) > 0 {
		for _, n := range p.Fields {
			f := s.liveField(t, n)
			if f == nil {
				writeError(w, http.StatusUnprocessableEntity, "UNKNOWN_FIELD_NAME", fmt.Sprintf("Unknown field name: %q", n))
				return
			}
			want = append(want, f)
		}
	} else {
		want = s.visibleFields(t)
	}
	var keep formula
	if strings.TrimSpace(p.FilterByFormula) != "" {
		f, err := parseFormula(p.FilterByFormula, func(n string) bool { return s.liveField(t, n) != nil })
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "INVALID_FILTER_BY_FORMULA", "The formula for filtering records is invalid: "+err.Error())
			return
		}
		keep = f
	}
	order := t.sorted()
	if len(p.Sort) > 0 {
		var keys []sortField
		for _, k := range p.Sort {
			f := s.liveField(t, k.Field)
			if f == nil {
				writeError(w, http.StatusUnprocessableEntity, "UNKNOWN_FIELD_NAME", fmt.Sprintf("Unknown field name: %q", k.Field))
				return
			}
			if k.Direction != "" && k.Direction != "asc" && k.Direction != "desc" {
				writeError(w, http.StatusUnprocessableEntity, "INVALID_SORT", fmt.Sprintf("Invalid sort direction %q: use asc or desc", k.Direction))
				return
			}
			keys = append(keys, sortField{f: f, desc: k.Direction == "desc"})
		}
		sortRecords(t, order, keys)
	}
	var matched []*record
	for _, rec := range order {
		if keep == nil || truthy(keep(formulaEnv{recordID: rec.id, field: func(n string) any {
			return formulaValue(t.value(rec, t.def.field(n)))
		}})) {
			matched = append(matched, rec)
		}
	}
	start, returned := 0, 0
	if p.Offset != "" {
		var ok bool
		start, returned, ok = parseOffset(p.Offset, matched)
		if !ok {
			writeError(w, http.StatusUnprocessableEntity, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
				"The offset does not continue a listing any more (its next record is gone); list again from the start")
			return
		}
	}
	end := min(start+p.PageSize, len(matched))
	if p.MaxRecords > 0 {
		end = min(end, start+p.MaxRecords-returned)
	}
	out := struct {
		Records []Record `json:"records"`
		Offset  string   `json:"offset,omitempty"`
	}{Records: []Record{}}
	for _, rec := range matched[start:max(end, start)] {
		out.Records = append(out.Records, t.toJSON(rec, want, p.ReturnFieldsByFieldID))
	}
	more := end < len(matched) && (p.MaxRecords == 0 || returned+(end-start) < p.MaxRecords)
	if more {
		out.Offset = "itr" + encodeID("", uint64(returned+end-start)) + "/" + matched[end].id
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

// parseOffset reads "itr<count>/<next record ID>" and finds the next
// record among matched.
func parseOffset(offset string, matched []*record) (start, returned int, ok bool) {
	rest, found := strings.CutPrefix(offset, "itr")
	count, next, found2 := strings.Cut(rest, "/")
	if !found || !found2 || len(count) != 14 {
		return 0, 0, false
	}
	var n uint64
	for _, c := range count {
		i := strings.IndexRune(idAlphabet, c)
		if i < 0 {
			return 0, 0, false
		}
		n = n*62 + uint64(i)
	}
	for i, rec := range matched {
		if rec.id == next {
			return i, int(n), true
		}
	}
	return 0, 0, false
}

// formulaValue is a cell as formulas see it: multiple selects as one
// comma-separated string.
func formulaValue(v any) any {
	if l, ok := v.([]string); ok {
		return strings.Join(l, ", ")
	}
	return v
}

// sortKey is one entry of list records' sort parameter.
type sortKey struct {
	Field     string `json:"field"`
	Direction string `json:"direction"`
}

type sortField struct {
	f    *Field
	desc bool
}

// sortFromQuery reads sort[0][field]=…&sort[0][direction]=… as airtable.js
// encodes it on a GET; ok is false when an entry has no field.
func sortFromQuery(q map[string][]string) ([]sortKey, bool) {
	byIndex := map[int]*sortKey{}
	for k, v := range q {
		rest, found := strings.CutPrefix(k, "sort[")
		if !found || len(v) == 0 {
			continue
		}
		idx, attr, found := strings.Cut(rest, "][")
		n, err := strconv.Atoi(idx)
		if !found || err != nil || n < 0 || n > 100 {
			return nil, false
		}
		e := byIndex[n]
		if e == nil {
			e = &sortKey{}
			byIndex[n] = e
		}
		switch strings.TrimSuffix(attr, "]") {
		case "field":
			e.Field = v[0]
		case "direction":
			e.Direction = v[0]
		default:
			return nil, false
		}
	}
	idx := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]sortKey, 0, len(idx))
	for _, i := range idx {
		if byIndex[i].Field == "" {
			return nil, false
		}
		out = append(out, *byIndex[i])
	}
	return out, true
}

// sortRecords orders recs by keys, stably, so ties keep creation order.
// Empty cells sort first ascending (last descending), as in Airtable's grid.
func sortRecords(t *tableState, recs []*record, keys []sortField) {
	slices.SortStableFunc(recs, func(a, b *record) int {
		for _, k := range keys {
			c := compareCells(formulaValue(t.value(a, k.f)), formulaValue(t.value(b, k.f)))
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

func compareCells(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if x, ok := a.(float64); ok {
		if y, ok := b.(float64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	if x, ok := a.(bool); ok {
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	}
	return strings.Compare(strings.ToLower(fmt.Sprint(a)), strings.ToLower(fmt.Sprint(b)))
}
