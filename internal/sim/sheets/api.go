package sheets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/sluicehq/sluice/internal/sim"
)

const apiPrefix = "/v4/spreadsheets"

// route dispatches by hand: ranges contain ':' and '!' and the custom
// methods (":append", ":batchUpdate") end path segments, which
// http.ServeMux patterns cannot express.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	notFound := func() {
		writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path), nil)
	}
	if !strings.HasPrefix(p, apiPrefix) {
		notFound()
		return
	}
	rest := strings.TrimPrefix(p, apiPrefix)
	if rest == "" || rest == "/" {
		if r.Method == http.MethodPost {
			s.handleCreate(w, r)
			return
		}
		notFound()
		return
	}
	if rest[0] != '/' {
		notFound()
		return
	}
	idPart, sub, hasSub := strings.Cut(rest[1:], "/")
	id, err := url.PathUnescape(idPart)
	if err != nil {
		notFound()
		return
	}
	if !hasSub {
		switch {
		case strings.HasSuffix(id, ":batchUpdate") && r.Method == http.MethodPost:
			s.handleStructure(w, r, strings.TrimSuffix(id, ":batchUpdate"))
		case r.Method == http.MethodGet:
			s.handleMetadata(w, r, id)
		default:
			notFound()
		}
		return
	}
	switch {
	case sub == "values:batchGet" && r.Method == http.MethodGet:
		s.handleBatchGet(w, r, id)
	case sub == "values:batchUpdate" && r.Method == http.MethodPost:
		s.handleBatchUpdate(w, r, id)
	case strings.HasPrefix(sub, "values/"):
		rng, err := url.PathUnescape(strings.TrimPrefix(sub, "values/"))
		if err != nil {
			notFound()
			return
		}
		switch {
		case strings.HasSuffix(rng, ":append") && r.Method == http.MethodPost:
			s.handleAppend(w, r, id, strings.TrimSuffix(rng, ":append"))
		case strings.HasSuffix(rng, ":clear") && r.Method == http.MethodPost:
			s.handleClear(w, r, id, strings.TrimSuffix(rng, ":clear"))
		case r.Method == http.MethodGet:
			s.handleGet(w, r, id, rng)
		case r.Method == http.MethodPut:
			s.handleUpdate(w, r, id, rng)
		default:
			notFound()
		}
	default:
		notFound()
	}
}

// systemParams are the query parameters every Google API accepts.
var systemParams = map[string]bool{
	"alt": true, "key": true, "fields": true, "prettyPrint": true, "quotaUser": true,
	"access_token": true, "oauth_token": true, "$.xgafv": true, "callback": true,
	"upload_protocol": true, "uploadType": true,
}

// checkQuery refuses unknown query parameters the way Google does.
func checkQuery(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for name := range r.URL.Query() {
		if systemParams[name] || contains(allowed, name) {
			continue
		}
		badRequest(w, fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot bind query parameter. Field %q could not be found in request message.", name, name))
		return false
	}
	return true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// enum checks an enum parameter; "" is allowed (the default) unless
// required.
func enum(w http.ResponseWriter, value, field, typ string, required bool, allowed ...string) bool {
	if value == "" {
		if required {
			badRequest(w, fmt.Sprintf("'%s' is required but not specified", camel(field)))
			return false
		}
		return true
	}
	if !contains(allowed, value) {
		badRequest(w, fmt.Sprintf("Invalid value at '%s' (type.googleapis.com/google.apps.sheets.v4.%s), %q", field, typ, value))
		return false
	}
	return true
}

// camel turns value_input_option into valueInputOption.
func camel(snake string) string {
	parts := strings.Split(snake, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

var unknownField = regexp.MustCompile(`json: unknown field "([^"]*)"`)

// decode reads a JSON body strictly: unknown fields are refused as Google
// refuses them.
func decode(w http.ResponseWriter, r *http.Request, into any) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			badRequest(w, fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", MaxBodyBytes))
			return false
		}
		badRequest(w, "Invalid JSON payload received. "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
			badRequest(w, fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", m[1]))
			return false
		}
		badRequest(w, "Invalid JSON payload received. "+strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	return true
}

func entityNotFound(w http.ResponseWriter) {
	writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.", nil)
}

// unparsable is the answer for a range Sheets cannot resolve: an unknown
// sheet or bad A1 notation.
type unparsable struct{ rng string }

func (e *unparsable) Error() string { return "Unable to parse range: " + e.rng }

// resolve finds the sheet and bounds a1 names in b. s.mu must be held.
func (s *Server) resolve(b *book, a1 string) (view, bounds, error) {
	pr, ok := splitRange(a1, func(t string) bool { return b.sheet(t) != nil })
	if !ok || len(b.sheets) == 0 {
		return view{}, bounds{}, &unparsable{a1}
	}
	sh := b.sheets[0]
	if pr.hasTitle {
		sh = b.sheet(pr.title)
	}
	if sh == nil {
		return view{}, bounds{}, &unparsable{a1}
	}
	bd, ok := parseCells(pr.cells)
	if !ok {
		return view{}, bounds{}, &unparsable{a1}
	}
	return s.view(sh), bd, nil
}

// valueRange is Google's ValueRange.
type valueRange struct {
	Range          string  `json:"range,omitempty"`
	MajorDimension string  `json:"majorDimension,omitempty"`
	Values         [][]any `json:"values,omitempty"`
}

// updateResponse is Google's UpdateValuesResponse.
type updateResponse struct {
	SpreadsheetID  string `json:"spreadsheetId"`
	UpdatedRange   string `json:"updatedRange,omitempty"`
	UpdatedRows    int    `json:"updatedRows,omitempty"`
	UpdatedColumns int    `json:"updatedColumns,omitempty"`
	UpdatedCells   int    `json:"updatedCells,omitempty"`
}

// read renders bd of v.
func read(v view, bd bounds, major, render string) valueRange {
	bd = bd.clip(v.sh.rowCount, v.colCount())
	out := valueRange{Range: formatRange(v.sh.title, bd), MajorDimension: "ROWS"}
	if major == "COLUMNS" {
		out.MajorDimension = "COLUMNS"
	}
	outer0, outer1, inner0, inner1 := bd.r0, bd.r1, bd.c0, bd.c1
	at := func(o, i int) cell { return v.get(o, i) }
	if out.MajorDimension == "COLUMNS" {
		outer0, outer1, inner0, inner1 = bd.c0, bd.c1, bd.r0, bd.r1
		at = func(o, i int) cell { return v.get(i, o) }
		// Stored rows end early: no need to scan the grid's empty tail.
		inner1 = min(inner1, len(v.sh.rows))
	} else {
		outer1 = min(outer1, len(v.sh.rows))
	}
	var rows [][]any
	lastNonEmpty := -1
	for o := outer0; o < outer1; o++ {
		end := inner0
		for i := inner0; i < inner1; i++ {
			if !at(o, i).empty() {
				end = i + 1
			}
		}
		line := make([]any, 0, end-inner0)
		for i := inner0; i < end; i++ {
			line = append(line, at(o, i).render(render))
		}
		rows = append(rows, line)
		if len(line) > 0 {
			lastNonEmpty = len(rows) - 1
		}
	}
	if lastNonEmpty >= 0 {
		out.Values = rows[:lastNonEmpty+1]
	}
	return out
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, id, rng string) {
	q := r.URL.Query()
	if !checkQuery(w, r, "majorDimension", "valueRenderOption", "dateTimeRenderOption") ||
		!enum(w, q.Get("majorDimension"), "major_dimension", "Dimension", false, "ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED") ||
		!enum(w, q.Get("valueRenderOption"), "value_render_option", "ValueRenderOption", false, renderFormatted, renderRaw, renderFormula) ||
		!enum(w, q.Get("dateTimeRenderOption"), "date_time_render_option", "DateTimeRenderOption", false, "SERIAL_NUMBER", "FORMATTED_STRING") {
		return
	}
	s.mu.Lock()
	b := s.books[id]
	if b == nil {
		s.mu.Unlock()
		entityNotFound(w)
		return
	}
	v, bd, err := s.resolve(b, rng)
	var out valueRange
	if err == nil {
		out = read(v, bd, q.Get("majorDimension"), renderOr(q.Get("valueRenderOption")))
	}
	s.mu.Unlock()
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

func renderOr(v string) string {
	if v == "" {
		return renderFormatted
	}
	return v
}

func (s *Server) handleBatchGet(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	if !checkQuery(w, r, "ranges", "majorDimension", "valueRenderOption", "dateTimeRenderOption") ||
		!enum(w, q.Get("majorDimension"), "major_dimension", "Dimension", false, "ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED") ||
		!enum(w, q.Get("valueRenderOption"), "value_render_option", "ValueRenderOption", false, renderFormatted, renderRaw, renderFormula) ||
		!enum(w, q.Get("dateTimeRenderOption"), "date_time_render_option", "DateTimeRenderOption", false, "SERIAL_NUMBER", "FORMATTED_STRING") {
		return
	}
	s.mu.Lock()
	b := s.books[id]
	if b == nil {
		s.mu.Unlock()
		entityNotFound(w)
		return
	}
	out := struct {
		SpreadsheetID string       `json:"spreadsheetId"`
		ValueRanges   []valueRange `json:"valueRanges,omitempty"`
	}{SpreadsheetID: id}
	var err error
	for _, rng := range q["ranges"] {
		var v view
		var bd bounds
		if v, bd, err = s.resolve(b, rng); err != nil {
			break
		}
		out.ValueRanges = append(out.ValueRanges, read(v, bd, q.Get("majorDimension"), renderOr(q.Get("valueRenderOption"))))
	}
	s.mu.Unlock()
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

// plannedWrite is a validated write, applied later so that a batch is
// all-or-nothing.
type plannedWrite struct {
	v      view
	r0, c0 int
	cells  [][]plannedCell
	nrows  int
	ncols  int
}

type plannedCell struct {
	c    cell
	skip bool
}

// parseValues validates values (already in row-major order) for option.
func parseValues(values [][]any, option string) ([][]plannedCell, int, error) {
	out := make([][]plannedCell, len(values))
	ncols := 0
	for i, line := range values {
		out[i] = make([]plannedCell, len(line))
		ncols = max(ncols, len(line))
		for j, x := range line {
			c, skip, err := parseValue(x, option, fmt.Sprintf("[%d][%d]", i, j))
			if err != nil {
				return nil, 0, err
			}
			out[i][j] = plannedCell{c: c, skip: skip}
		}
	}
	return out, ncols, nil
}

// transpose turns COLUMNS-major values into rows.
func transpose(values [][]any) [][]any {
	n := 0
	for _, col := range values {
		n = max(n, len(col))
	}
	out := make([][]any, n)
	for j, col := range values {
		for i, x := range col {
			for len(out[i]) < j {
				out[i] = append(out[i], nil)
			}
			out[i] = append(out[i], x)
		}
	}
	return out
}

func rowMajor(vr valueRange) ([][]any, error) {
	switch vr.MajorDimension {
	case "", "ROWS", "DIMENSION_UNSPECIFIED":
		return vr.Values, nil
	case "COLUMNS":
		return transpose(vr.Values), nil
	}
	return nil, &inputError{fmt.Sprintf("Invalid value at 'data.major_dimension' (type.googleapis.com/google.apps.sheets.v4.Dimension), %q", vr.MajorDimension)}
}

// plan validates an update of vr at rng (the URL's range, or the entry's
// own in a batch). s.mu must be held.
func (s *Server) plan(b *book, rng string, vr valueRange, option string) (*plannedWrite, error) {
	v, bd, err := s.resolve(b, rng)
	if err != nil {
		return nil, err
	}
	if vr.Range != "" && vr.Range != rng {
		v2, bd2, err := s.resolve(b, vr.Range)
		if err != nil {
			return nil, err
		}
		if v2.sh != v.sh || bd2 != bd {
			return nil, &inputError{fmt.Sprintf("Requested entity range [%s] does not match the range in the URL [%s].", vr.Range, rng)}
		}
	}
	values, err := rowMajor(vr)
	if err != nil {
		return nil, err
	}
	cells, ncols, err := parseValues(values, option)
	if err != nil {
		return nil, err
	}
	pw := &plannedWrite{v: v, r0: bd.r0, c0: bd.c0, cells: cells, nrows: len(cells), ncols: ncols}
	if !bd.single() {
		if bd.r1 >= 0 && bd.r0+pw.nrows > bd.r1 {
			return nil, &inputError{fmt.Sprintf("Requested writing within range [%s], but tried writing to row [%d]", rng, bd.r1+1)}
		}
		if bd.c1 >= 0 && bd.c0+pw.ncols > bd.c1 {
			return nil, &inputError{fmt.Sprintf("Requested writing within range [%s], but tried writing to column [%s]", rng, columnName(bd.c1))}
		}
	}
	rows, cols := v.sh.rowCount, v.colCount()
	if pw.nrows > 0 && (pw.r0+pw.nrows > rows || pw.c0+pw.ncols > cols) {
		r, c := pw.r0, pw.c0
		if pw.r0+pw.nrows > rows {
			r = max(rows, pw.r0)
		}
		if pw.c0+pw.ncols > cols {
			c = max(cols, pw.c0)
		}
		return nil, &inputError{fmt.Sprintf("Range (%s!%s%d) exceeds grid limits. Max rows: %d, max columns: %d",
			quoteTitle(v.sh.title), columnName(c), r+1, rows, cols)}
	}
	return pw, nil
}

// apply writes pw and keeps the duplicate statistics. s.mu must be held.
func (s *Server) apply(id string, pw *plannedWrite) updateResponse {
	out := updateResponse{SpreadsheetID: id}
	if pw.nrows == 0 {
		return out
	}
	rowsTouched := map[int]bool{}
	colsTouched := map[int]bool{}
	for i, line := range pw.cells {
		for j, pc := range line {
			if pc.skip {
				continue
			}
			pw.v.set(pw.r0+i, pw.c0+j, pc.c)
			rowsTouched[i] = true
			colsTouched[j] = true
			out.UpdatedCells++
		}
	}
	out.UpdatedRows, out.UpdatedColumns = len(rowsTouched), len(colsTouched)
	out.UpdatedRange = formatRange(pw.v.sh.title, bounds{pw.r0, pw.r0 + pw.nrows, pw.c0, pw.c0 + pw.ncols})
	if pw.r0 == 0 && rowsTouched[0] {
		s.rekeyAll(pw.v.sh)
	} else {
		for i := range rowsTouched {
			s.rekey(pw.v.sh, pw.r0+i)
		}
	}
	return out
}

// writeErr answers a failed plan.
func writeErr(w http.ResponseWriter, err error) {
	badRequest(w, err.Error())
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, id, rng string) {
	q := r.URL.Query()
	if !checkQuery(w, r, "valueInputOption", "includeValuesInResponse", "responseValueRenderOption", "responseDateTimeRenderOption") ||
		!enum(w, q.Get("valueInputOption"), "value_input_option", "ValueInputOption", true, inputRaw, inputUserEntered) {
		return
	}
	var vr valueRange
	if !decode(w, r, &vr) {
		return
	}
	s.mu.Lock()
	b := s.books[id]
	if b == nil {
		s.mu.Unlock()
		entityNotFound(w)
		return
	}
	pw, err := s.plan(b, rng, vr, q.Get("valueInputOption"))
	var out updateResponse
	if err == nil {
		out = s.apply(id, pw)
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		writeErr(w, err)
	case s.TimedOut(r):
	default:
		sim.WriteJSON(w, http.StatusOK, out)
	}
}

type batchUpdateRequest struct {
	ValueInputOption             string       `json:"valueInputOption"`
	Data                         []valueRange `json:"data"`
	IncludeValuesInResponse      bool         `json:"includeValuesInResponse"`
	ResponseValueRenderOption    string       `json:"responseValueRenderOption"`
	ResponseDateTimeRenderOption string       `json:"responseDateTimeRenderOption"`
}

type batchUpdateResponse struct {
	SpreadsheetID       string           `json:"spreadsheetId"`
	TotalUpdatedRows    int              `json:"totalUpdatedRows,omitempty"`
	TotalUpdatedColumns int              `json:"totalUpdatedColumns,omitempty"`
	TotalUpdatedCells   int              `json:"totalUpdatedCells,omitempty"`
	TotalUpdatedSheets  int              `json:"totalUpdatedSheets,omitempty"`
	Responses           []updateResponse `json:"responses,omitempty"`
}

// unavailable is the answer of a request failed by the partial_batch
// fault: Sheets applies a request atomically, so the whole request fails.
func unavailable(w http.ResponseWriter) {
	writeGoogleError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The service is currently unavailable.", nil)
}

func (s *Server) handleBatchUpdate(w http.ResponseWriter, r *http.Request, id string) {
	if !checkQuery(w, r) {
		return
	}
	var req batchUpdateRequest
	if !decode(w, r, &req) {
		return
	}
	if !enum(w, req.ValueInputOption, "value_input_option", "ValueInputOption", true, inputRaw, inputUserEntered) {
		return
	}
	s.mu.Lock()
	b := s.books[id]
	if b == nil {
		s.mu.Unlock()
		entityNotFound(w)
		return
	}
	plans := make([]*plannedWrite, len(req.Data))
	var err error
	for i, vr := range req.Data {
		if vr.Range == "" {
			err = &inputError{fmt.Sprintf("Invalid data[%d]: range is required", i)}
			break
		}
		if plans[i], err = s.plan(b, vr.Range, vr, req.ValueInputOption); err != nil {
			break
		}
	}
	failed := err == nil && len(plans) > 0 && s.FailItem()
	out := batchUpdateResponse{SpreadsheetID: id}
	if err == nil && !failed {
		sheetsTouched := map[*sheet]bool{}
		for _, pw := range plans {
			u := s.apply(id, pw)
			out.Responses = append(out.Responses, u)
			out.TotalUpdatedRows += u.UpdatedRows
			out.TotalUpdatedColumns += u.UpdatedColumns
			out.TotalUpdatedCells += u.UpdatedCells
			if u.UpdatedCells > 0 {
				sheetsTouched[pw.v.sh] = true
			}
		}
		out.TotalUpdatedSheets = len(sheetsTouched)
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		writeErr(w, err)
	case failed:
		unavailable(w)
	case s.TimedOut(r):
	default:
		sim.WriteJSON(w, http.StatusOK, out)
	}
}

type appendResponse struct {
	SpreadsheetID string         `json:"spreadsheetId"`
	TableRange    string         `json:"tableRange,omitempty"`
	Updates       updateResponse `json:"updates"`
}

// findTable locates the table an append extends: the first non-empty row
// at or below bd's first row within its columns (to the grid's right edge
// when bd is one cell), and the rows contiguous with it.
func findTable(v view, bd bounds) (bounds, bool) {
	c0, c1 := bd.c0, bd.c1
	if bd.single() || c1 < 0 || c1 > v.colCount() {
		c1 = v.colCount()
	}
	last := len(v.sh.rows)
	first := -1
	for r := bd.r0; r < last; r++ {
		if !v.rowEmpty(r, c0, c1) {
			first = r
			break
		}
	}
	if first < 0 {
		return bounds{}, false
	}
	end := first + 1
	for end < last && !v.rowEmpty(end, c0, c1) {
		end++
	}
	t := bounds{r0: first, r1: end, c0: c1, c1: c0}
	for r := first; r < end; r++ {
		for c := c0; c < c1; c++ {
			if !v.get(r, c).empty() {
				t.c0, t.c1 = min(t.c0, c), max(t.c1, c+1)
			}
		}
	}
	return t, true
}

func (s *Server) handleAppend(w http.ResponseWriter, r *http.Request, id, rng string) {
	q := r.URL.Query()
	if !checkQuery(w, r, "valueInputOption", "insertDataOption", "includeValuesInResponse", "responseValueRenderOption", "responseDateTimeRenderOption") ||
		!enum(w, q.Get("valueInputOption"), "value_input_option", "ValueInputOption", true, inputRaw, inputUserEntered) ||
		!enum(w, q.Get("insertDataOption"), "insert_data_option", "InsertDataOption", false, "OVERWRITE", "INSERT_ROWS") {
		return
	}
	var vr valueRange
	if !decode(w, r, &vr) {
		return
	}
	s.mu.Lock()
	b := s.books[id]
	if b == nil {
		s.mu.Unlock()
		entityNotFound(w)
		return
	}
	out, failed, err := s.appendLocked(b, rng, vr, q.Get("valueInputOption"), q.Get("insertDataOption"))
	s.mu.Unlock()
	switch {
	case err != nil:
		writeErr(w, err)
	case failed:
		unavailable(w)
	case s.TimedOut(r):
	default:
		sim.WriteJSON(w, http.StatusOK, out)
	}
}

// appendLocked validates and applies an append. s.mu must be held.
func (s *Server) appendLocked(b *book, rng string, vr valueRange, option, insert string) (appendResponse, bool, error) {
	out := appendResponse{SpreadsheetID: b.id, Updates: updateResponse{SpreadsheetID: b.id}}
	v, bd, err := s.resolve(b, rng)
	if err != nil {
		return out, false, err
	}
	values, err := rowMajor(vr)
	if err != nil {
		return out, false, err
	}
	cells, ncols, err := parseValues(values, option)
	if err != nil {
		return out, false, err
	}
	start, startCol := bd.r0, bd.c0
	if t, ok := findTable(v, bd); ok {
		out.TableRange = formatRange(v.sh.title, t)
		start, startCol = t.r1, t.c0
	}
	n := len(cells)
	if n == 0 {
		return out, false, nil
	}
	addRows := 0
	switch {
	case insert == "INSERT_ROWS":
		addRows = n
	case start+n > v.sh.rowCount:
		addRows = start + n - v.sh.rowCount
	}
	addCols := max(0, startCol+ncols-v.colCount())
	grown := (v.sh.rowCount+addRows)*(v.sh.colCount+addCols) - v.sh.rowCount*v.sh.colCount
	if b.cells()+grown > MaxCells {
		return out, false, &inputError{fmt.Sprintf("This action would increase the number of cells in the workbook above the limit of %d cells.", MaxCells)}
	}
	if v.sh.colCount+addCols > MaxColumns {
		return out, false, &inputError{fmt.Sprintf("Range (%s!%s%d) exceeds grid limits. Max rows: %d, max columns: %d",
			quoteTitle(v.sh.title), columnName(MaxColumns), start+1, v.sh.rowCount, v.colCount())}
	}
	if n > 1 && s.FailItem() {
		return out, true, nil
	}
	if insert == "INSERT_ROWS" {
		v.sh.insertRows(start, n)
	} else {
		v.sh.rowCount += addRows
	}
	for i := 0; i < addCols; i++ {
		v.cols = append(v.cols, v.sh.colCount)
		v.sh.colCount++
	}
	out.Updates = s.apply(b.id, &plannedWrite{v: v, r0: start, c0: startCol, cells: cells, nrows: n, ncols: ncols})
	return out, false, nil
}

func (s *Server) handleClear(w http.ResponseWriter, r *http.Request, id, rng string) {
	if !checkQuery(w, r) {
		return
	}
	var body struct{}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	b := s.books[id]
	if b == nil {
		s.mu.Unlock()
		entityNotFound(w)
		return
	}
	v, bd, err := s.resolve(b, rng)
	out := struct {
		SpreadsheetID string `json:"spreadsheetId"`
		ClearedRange  string `json:"clearedRange"`
	}{SpreadsheetID: id}
	if err == nil {
		bd = bd.clip(v.sh.rowCount, v.colCount())
		for r := bd.r0; r < min(bd.r1, len(v.sh.rows)); r++ {
			for c := bd.c0; c < bd.c1; c++ {
				if !v.get(r, c).empty() {
					v.set(r, c, cell{})
				}
			}
		}
		if bd.r0 == 0 {
			s.rekeyAll(v.sh)
		} else {
			for r := bd.r0; r < min(bd.r1, len(v.sh.rows)); r++ {
				s.rekey(v.sh, r)
			}
		}
		out.ClearedRange = formatRange(v.sh.title, bd)
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		writeErr(w, err)
	case s.TimedOut(r):
	default:
		sim.WriteJSON(w, http.StatusOK, out)
	}
}

// Spreadsheet metadata, as spreadsheets.get returns it (without grid data).
type gridProperties struct {
	RowCount    int `json:"rowCount"`
	ColumnCount int `json:"columnCount"`
}

type sheetProperties struct {
	SheetID        int64          `json:"sheetId"`
	Title          string         `json:"title"`
	Index          int            `json:"index"`
	SheetType      string         `json:"sheetType"`
	GridProperties gridProperties `json:"gridProperties"`
}

type sheetJSON struct {
	Properties sheetProperties `json:"properties"`
}

type spreadsheetJSON struct {
	SpreadsheetID string `json:"spreadsheetId"`
	Properties    struct {
		Title    string `json:"title"`
		Locale   string `json:"locale"`
		TimeZone string `json:"timeZone"`
	} `json:"properties"`
	Sheets         []sheetJSON `json:"sheets"`
	SpreadsheetURL string      `json:"spreadsheetUrl"`
}

// metadata renders b. s.mu must be held.
func (s *Server) metadata(b *book) spreadsheetJSON {
	out := spreadsheetJSON{SpreadsheetID: b.id, SpreadsheetURL: "https://docs.google.com/spreadsheets/d/" + b.id + "/edit"}
	out.Properties.Title = b.title
	out.Properties.Locale = "en_US"
	out.Properties.TimeZone = "Etc/GMT"
	for i, sh := range b.sheets {
		out.Sheets = append(out.Sheets, sheetJSON{Properties: sheetProperties{
			SheetID: sh.id, Title: sh.title, Index: i, SheetType: "GRID",
			GridProperties: gridProperties{RowCount: sh.rowCount, ColumnCount: s.view(sh).colCount()},
		}})
	}
	return out
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request, id string) {
	if !checkQuery(w, r, "ranges", "includeGridData", "excludeTablesInBandedRanges") {
		return
	}
	s.mu.Lock()
	b := s.books[id]
	var out spreadsheetJSON
	if b != nil {
		out = s.metadata(b)
	}
	s.mu.Unlock()
	if b == nil {
		entityNotFound(w)
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

type newSheetProperties struct {
	SheetID        *int64          `json:"sheetId"`
	Title          string          `json:"title"`
	Index          *int            `json:"index"`
	SheetType      string          `json:"sheetType"`
	GridProperties *gridProperties `json:"gridProperties"`
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	if !checkQuery(w, r) {
		return
	}
	var req struct {
		SpreadsheetID string `json:"spreadsheetId"`
		Properties    struct {
			Title    string `json:"title"`
			Locale   string `json:"locale"`
			TimeZone string `json:"timeZone"`
		} `json:"properties"`
		Sheets []struct {
			Properties newSheetProperties `json:"properties"`
		} `json:"sheets"`
	}
	if !decode(w, r, &req) {
		return
	}
	sp := Spreadsheet{Title: req.Properties.Title}
	for i, t := range req.Sheets {
		st := Sheet{Title: t.Properties.Title}
		if st.Title == "" {
			st.Title = fmt.Sprintf("Sheet%d", i+1)
		}
		if g := t.Properties.GridProperties; g != nil {
			st.RowCount, st.ColumnCount = g.RowCount, g.ColumnCount
		}
		sp.Sheets = append(sp.Sheets, st)
	}
	s.mu.Lock()
	s.nextID++
	// Google ignores a spreadsheetId in the request and makes its own.
	sp.ID = fmt.Sprintf("1sim%040d", s.nextID)
	err := s.addBook(sp)
	var out spreadsheetJSON
	if err == nil {
		out = s.metadata(s.books[sp.ID])
	}
	s.mu.Unlock()
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	sim.WriteJSON(w, http.StatusOK, out)
}

// dimensionRange is Google's DimensionRange.
type dimensionRange struct {
	SheetID    int64  `json:"sheetId"`
	Dimension  string `json:"dimension"`
	StartIndex *int   `json:"startIndex"`
	EndIndex   *int   `json:"endIndex"`
}

type structureRequest struct {
	InsertDimension *struct {
		Range             dimensionRange `json:"range"`
		InheritFromBefore bool           `json:"inheritFromBefore"`
	} `json:"insertDimension,omitempty"`
	DeleteDimension *struct {
		Range dimensionRange `json:"range"`
	} `json:"deleteDimension,omitempty"`
	AddSheet *struct {
		Properties newSheetProperties `json:"properties"`
	} `json:"addSheet,omitempty"`
}

// handleStructure is spreadsheets.batchUpdate for the requests that move
// rows and columns or add tabs. Every request is validated before any is
// applied.
func (s *Server) handleStructure(w http.ResponseWriter, r *http.Request, id string) {
	if !checkQuery(w, r) {
		return
	}
	var req struct {
		Requests                     []json.RawMessage `json:"requests"`
		IncludeSpreadsheetInResponse bool              `json:"includeSpreadsheetInResponse"`
		ResponseRanges               []string          `json:"responseRanges"`
		ResponseIncludeGridData      bool              `json:"responseIncludeGridData"`
	}
	if !decode(w, r, &req) {
		return
	}
	reqs := make([]structureRequest, len(req.Requests))
	for i, raw := range req.Requests {
		var kinds map[string]json.RawMessage
		if err := json.Unmarshal(raw, &kinds); err != nil || len(kinds) != 1 {
			badRequest(w, fmt.Sprintf("Invalid requests[%d]: exactly one kind of request must be set", i))
			return
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&reqs[i]); err != nil {
			for k := range kinds {
				badRequest(w, fmt.Sprintf("Invalid requests[%d]: %s is not supported by the simulator (it supports addSheet, insertDimension and deleteDimension)", i, k))
			}
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.books[id]
	if b == nil {
		entityNotFound(w)
		return
	}
	added := map[string]bool{}
	for i, q := range reqs {
		if err := s.checkStructure(b, q, added); err != nil {
			badRequest(w, fmt.Sprintf("Invalid requests[%d].%s", i, err))
			return
		}
	}
	replies := make([]any, len(reqs))
	for i, q := range reqs {
		replies[i] = map[string]any{}
		switch {
		case q.AddSheet != nil:
			p := q.AddSheet.Properties
			st := Sheet{Title: p.Title}
			if p.GridProperties != nil {
				st.RowCount, st.ColumnCount = p.GridProperties.RowCount, p.GridProperties.ColumnCount
			}
			sh, _ := s.addSheet(b, st) // checked above
			replies[i] = map[string]any{"addSheet": sheetJSON{Properties: sheetProperties{
				SheetID: sh.id, Title: sh.title, Index: len(b.sheets) - 1, SheetType: "GRID",
				GridProperties: gridProperties{RowCount: sh.rowCount, ColumnCount: sh.colCount},
			}}}
		case q.InsertDimension != nil:
			dr := q.InsertDimension.Range
			sh := b.sheetByID(dr.SheetID)
			from, to := *dr.StartIndex, *dr.EndIndex
			if dr.Dimension == "ROWS" {
				sh.insertRows(from, to-from)
			} else {
				s.insertColumns(sh, from, to-from)
			}
		case q.DeleteDimension != nil:
			dr := q.DeleteDimension.Range
			sh := b.sheetByID(dr.SheetID)
			from, to := *dr.StartIndex, *dr.EndIndex
			if dr.Dimension == "ROWS" {
				gone := sh.deleteRows(from, to)
				s.dropKeys(gone)
				if from == 0 {
					s.rekeyAll(sh)
				}
			} else {
				s.deleteColumns(sh, from, to)
			}
		}
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"spreadsheetId": id, "replies": replies})
}

// checkStructure validates one structural request; titles lists the tabs
// added by earlier requests of the batch. s.mu must be held.
func (s *Server) checkStructure(b *book, q structureRequest, titles map[string]bool) error {
	switch {
	case q.AddSheet != nil:
		t := q.AddSheet.Properties.Title
		if t == "" {
			t = fmt.Sprintf("Sheet%d", len(b.sheets)+len(titles)+1)
			q.AddSheet.Properties.Title = t
		}
		if b.sheet(t) != nil || titles[t] {
			return fmt.Errorf("addSheet: A sheet with the name %q already exists. Please enter another name.", t)
		}
		titles[t] = true
		return nil
	case q.InsertDimension != nil:
		return s.checkDimension(b, "insertDimension", q.InsertDimension.Range, true)
	case q.DeleteDimension != nil:
		return s.checkDimension(b, "deleteDimension", q.DeleteDimension.Range, false)
	}
	return errors.New("request: no request kind set")
}

func (s *Server) checkDimension(b *book, kind string, dr dimensionRange, insert bool) error {
	sh := b.sheetByID(dr.SheetID)
	if sh == nil {
		return fmt.Errorf("%s: No grid with id: %d", kind, dr.SheetID)
	}
	if dr.Dimension != "ROWS" && dr.Dimension != "COLUMNS" {
		return fmt.Errorf("%s: range.dimension must be ROWS or COLUMNS", kind)
	}
	if dr.StartIndex == nil || dr.EndIndex == nil {
		return fmt.Errorf("%s: range.startIndex and range.endIndex are required", kind)
	}
	from, to := *dr.StartIndex, *dr.EndIndex
	size := sh.rowCount
	if dr.Dimension == "COLUMNS" {
		size = sh.colCount
	}
	switch {
	case from < 0 || to <= from:
		return fmt.Errorf("%s: range.endIndex must be greater than range.startIndex", kind)
	case insert && from > size:
		return fmt.Errorf("%s: range.startIndex (%d) is beyond the grid's %d", kind, from, size)
	case !insert && to > size:
		return fmt.Errorf("%s: range.endIndex (%d) is beyond the grid's %d", kind, to, size)
	case !insert && from == 0 && to == size:
		return fmt.Errorf("%s: You can't delete all the rows on the sheet.", kind)
	}
	if insert {
		grown := (to - from) * sh.colCount
		if dr.Dimension == "COLUMNS" {
			grown = (to - from) * sh.rowCount
		}
		if b.cells()+grown > MaxCells {
			return fmt.Errorf("%s: This action would increase the number of cells in the workbook above the limit of %d cells.", kind, MaxCells)
		}
	}
	return nil
}

// insertColumns inserts n empty stored columns before column at. s.mu must
// be held.
func (s *Server) insertColumns(sh *sheet, at, n int) {
	for _, rw := range sh.rows {
		if rw == nil || at >= len(rw.cells) {
			continue
		}
		rw.cells = append(rw.cells[:at], append(make([]cell, n), rw.cells[at:]...)...)
	}
	sh.colCount += n
}

// deleteColumns removes stored columns [from, to). s.mu must be held.
func (s *Server) deleteColumns(sh *sheet, from, to int) {
	for _, rw := range sh.rows {
		if rw == nil || from >= len(rw.cells) {
			continue
		}
		end := min(to, len(rw.cells))
		rw.cells = append(rw.cells[:from], rw.cells[end:]...)
	}
	sh.colCount -= to - from
	s.rekeyAll(sh)
}
