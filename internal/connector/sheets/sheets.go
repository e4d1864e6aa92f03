// Package sheets is the Google Sheets destination, registered as type
// "sheets": it keeps one row per record key in one tab of one spreadsheet
// through the Sheets API v4 values endpoints. The tab's header row (row 1)
// names the columns; a payload field goes to the column whose header cell
// is the field's name, and the key_column holds the record key. It owns the
// upsert by key that Sheets lacks, staying under Sheets' per-minute
// quotas, the atomic batch writes, and the classification of Google's
// answers into connector.Error, with the token kept out of everything it
// reports.
//
// Rows and external IDs: the external ID of a record is its row as an A1
// row range, "Leads!7:7" ("'My Leads'!7:7" when the title needs quotes),
// which a person can paste into the Name box. It is a hint, not an
// identity: rows move when someone inserts, deletes or sorts rows, and an
// append into a sheet with an empty row inside its data inserts rows in
// the middle. So before every update the connector reads the header and
// that row in one request and checks that the key cell still holds the
// record's key; if not, it reads the key column afresh and writes to the
// row that holds the key now (whose range becomes the new external ID),
// or appends when no row does. A row number alone would be as good a hint;
// the A1 form also names the tab, so IDs made for another tab are ignored.
//
// Writes:
//   - Deliver reads, then writes once: with a row to check (the external
//     ID, or a fresh cache hit) it reads the header and that row; otherwise
//     the header and the key column. It updates the key's row with PUT
//     values/{range} or, when no row holds the key, appends with
//     values:append (INSERT_ROWS). Two rows holding the key are a
//     Conflict for a person.
//   - DeliverBatch reads the header and the key column once, updates every
//     known key in one values:batchUpdate and appends every new key in one
//     values:append. Each request is atomic on Google's side, so every item
//     of a request shares its outcome: all written, or all failed with the
//     same error. A Permanent failure of a request of several items is
//     retried item by item, so that one bad record does not fail the
//     others. A key that appears twice in a batch is written in a second
//     round.
//   - Values are written with value_input_option RAW by default, so data
//     can never become a formula. With USER_ENTERED the key is written with
//     a leading apostrophe, which Sheets stores as text, so that a key like
//     "00123" or "TRUE" reads back as written; so is every string that
//     Sheets would read as a formula (starting with =, +, -, @; numbers
//     excepted) unless its column is one of formula_columns.
//   - Checks that need no request fail before one: a value longer than
//     50,000 characters (Permanent, with Google's message), a list or
//     object value (Permanent), a payload key column disagreeing with the
//     record key (Permanent).
//   - A payload field without a header column, a key column missing or
//     named twice in the header, a tab that no longer exists ("Unable to
//     parse range") and a spreadsheet that is gone or no longer shared
//     (404) are Drift: the destination is paused.
//
// Reads and the cache: every read uses Sheets' read quota, every write its
// write quota; the connector keeps its own rolling window of each so it
// never provokes a 429 on its own. The last key-column read is cached for
// cache_ttl and invalidated by every write; it only chooses which row to
// check, never decides that a key is absent.
//
// One write sequence (read, check, write) runs at a time, and Constraints
// asks the engine for one request in flight, so Sluice's own appends never
// move a row between its check and its update. Someone else can still
// insert rows in that instant: the Values API has no conditional write.
package sheets

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/egress"
)

// Kind is the destination type this package registers.
const Kind = "sheets"

func init() { connector.Register(Kind, Open) }

const (
	// DefaultBaseURL is Google's Sheets API host.
	DefaultBaseURL = "https://sheets.googleapis.com"
	// DefaultPerMinute is Sheets' per-user quota of read and of write
	// requests per minute.
	DefaultPerMinute = 60
	// DefaultTimeout bounds one request when Options.Timeout is empty.
	DefaultTimeout = 15 * time.Second
	// DefaultCacheTTL is how long a key-column read is reused.
	DefaultCacheTTL = 5 * time.Second
	// MaxBatch is the most records one DeliverBatch request carries; Sheets
	// has no fixed count, only the payload advice below.
	MaxBatch = 100
	// MaxPayloadBytes is Google's recommended largest request (2 MB).
	MaxPayloadBytes = 2_000_000
	// MaxCellChars is the most characters one cell holds.
	MaxCellChars = 50_000

	quotaInterval = time.Minute
)

// Options configure one Sheets destination.
type Options struct {
	// BaseURL is the API origin; default https://sheets.googleapis.com.
	// Point it at a simulator to try a config.
	BaseURL string `json:"base_url"`
	// Token is an OAuth 2.0 access token with the spreadsheets (or drive)
	// scope; required. It is never shown in errors, logs or String.
	Token string `json:"token"`
	// SpreadsheetID is the ID in the spreadsheet's URL; required.
	SpreadsheetID string `json:"spreadsheet_id"`
	// Sheet is the tab's title; required.
	Sheet string `json:"sheet"`
	// KeyColumn is the header of the column holding the record key;
	// required.
	KeyColumn string `json:"key_column"`
	// ValueInputOption is RAW (default: values are stored as given) or
	// USER_ENTERED (parsed as if typed: numbers, dates, formulas). With
	// USER_ENTERED a string starting with =, +, -, @, a tab, a carriage
	// return or an apostrophe is written as text (with the leading
	// apostrophe Sheets documents), so data from a webhook can never become
	// a formula (=IMPORTXML, =HYPERLINK): only in FormulaColumns. Numbers
	// such as "-5" or "+3.2" stay numbers.
	ValueInputOption string `json:"value_input_option"`
	// FormulaColumns are the columns whose values may be formulas, written
	// as given with USER_ENTERED. Only for values the mapping builds, never
	// for text copied from a sender.
	FormulaColumns []string `json:"formula_columns"`
	// WritesPerMinute is the account's write quota per minute; default 60.
	WritesPerMinute int `json:"writes_per_minute"`
	// ReadsPerMinute is the account's read quota per minute; default 60.
	ReadsPerMinute int `json:"reads_per_minute"`
	// Timeout bounds one request, as a Go duration; default 15s.
	Timeout string `json:"timeout"`
	// CacheTTL is how long a key-column read is reused to find rows, as a
	// Go duration; default 5s, "0s" disables the cache.
	CacheTTL string `json:"cache_ttl"`
	// Egress guards every connection to the destination; Open sets it
	// from the destination's allow_private_network. Configs cannot set it
	// here.
	Egress egress.Policy `json:"-"`
}

// Conn is a Sheets destination. It is safe for concurrent use.
type Conn struct {
	name          string
	baseURL       string
	token         string
	spreadsheetID string
	sheet         string
	keyColumn     string
	input         string
	formulas      map[string]bool
	timeout       time.Duration
	constraints   connector.Constraints
	reads         *connector.Window
	writes        *connector.Window
	cache         *indexCache
	rt            *connector.RoundTrip
	transport     *http.Transport
	client        *http.Client

	// seq makes each read-check-write sequence exclusive.
	seq sync.Mutex
}

var (
	_ connector.Connector = (*Conn)(nil)
	_ connector.Batcher   = (*Conn)(nil)
	_ connector.Looker    = (*Conn)(nil)
	_ fmt.Stringer        = (*Conn)(nil)
	_ fmt.GoStringer      = (*Conn)(nil)
)

// Open is the connector.Factory for type "sheets".
func Open(p connector.Params) (connector.Connector, error) {
	var o Options
	if err := Spec.Decode(p, &o); err != nil {
		return nil, err
	}
	o.Egress = p.Egress()
	if p.Credential != nil && o.Token == "" {
		o.Token = connector.CredentialToken
	}
	c, err := New(p.Name, o)
	if err != nil {
		return nil, err
	}
	if p.Credential != nil {
		// An expiring token, refreshed by package credential.
		connector.UseCredential(c.rt, c.client, p.Credential)
	}
	return c, nil
}

// New validates o and builds the destination.
func New(name string, o Options) (*Conn, error) {
	c := &Conn{name: name, token: o.Token, spreadsheetID: o.SpreadsheetID, sheet: o.Sheet, keyColumn: o.KeyColumn}

	base := cmp.Or(o.BaseURL, DefaultBaseURL)
	u, err := url.Parse(base)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("options.base_url: %q is not an absolute http(s) URL", base)
	case u.User != nil:
		return nil, errors.New("options.base_url: must not contain credentials; use options.token")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("options.base_url: must not have a query or fragment")
	}
	c.baseURL = strings.TrimRight(u.String(), "/")

	switch {
	case o.Token == "":
		return nil, errors.New("options.token: required")
	case strings.ContainsFunc(o.Token, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return nil, errors.New("options.token: contains a control character")
	case strings.TrimSpace(o.SpreadsheetID) == "":
		return nil, errors.New("options.spreadsheet_id: required (the ID in the spreadsheet's URL)")
	case strings.ContainsAny(o.SpreadsheetID, "/?#: "):
		return nil, fmt.Errorf("options.spreadsheet_id: %q is not a spreadsheet ID (use the part of the URL after /d/)", o.SpreadsheetID)
	case strings.TrimSpace(o.Sheet) == "":
		return nil, errors.New("options.sheet: required (the tab's title)")
	case strings.TrimSpace(o.KeyColumn) == "":
		return nil, errors.New("options.key_column: required (the header of the column holding the record key)")
	case o.KeyColumn != strings.TrimSpace(o.KeyColumn):
		return nil, fmt.Errorf("options.key_column: %q has surrounding spaces; header cells are compared trimmed", o.KeyColumn)
	}
	c.input = cmp.Or(o.ValueInputOption, "RAW")
	if c.input != "RAW" && c.input != "USER_ENTERED" {
		return nil, fmt.Errorf("options.value_input_option: %q is not RAW or USER_ENTERED", o.ValueInputOption)
	}
	if len(o.FormulaColumns) > 0 && c.input != "USER_ENTERED" {
		return nil, errors.New("options.formula_columns: formulas are only parsed with value_input_option: USER_ENTERED")
	}
	c.formulas = map[string]bool{}
	for i, col := range o.FormulaColumns {
		switch {
		case strings.TrimSpace(col) == "":
			return nil, fmt.Errorf("options.formula_columns[%d]: empty column name", i)
		case col == o.KeyColumn:
			return nil, fmt.Errorf("options.formula_columns[%d]: %q is the key column, which is always text", i, col)
		}
		c.formulas[col] = true
	}
	writes, reads := o.WritesPerMinute, o.ReadsPerMinute
	switch {
	case writes < 0:
		return nil, errors.New("options.writes_per_minute: must not be negative")
	case reads < 0:
		return nil, errors.New("options.reads_per_minute: must not be negative")
	}
	writes, reads = cmp.Or(writes, DefaultPerMinute), cmp.Or(reads, DefaultPerMinute)
	c.timeout = DefaultTimeout
	if o.Timeout != "" {
		if c.timeout, err = time.ParseDuration(o.Timeout); err != nil || c.timeout <= 0 {
			return nil, fmt.Errorf("options.timeout: %q is not a positive Go duration", o.Timeout)
		}
	}
	ttl := DefaultCacheTTL
	if o.CacheTTL != "" {
		if ttl, err = time.ParseDuration(o.CacheTTL); err != nil || ttl < 0 {
			return nil, fmt.Errorf("options.cache_ttl: %q is not a Go duration of 0s or more", o.CacheTTL)
		}
	}
	c.cache = newIndexCache(ttl, time.Now)
	c.setQuotas(reads, writes, quotaInterval)
	c.constraints = connector.Constraints{
		// A delivery costs one read and one write; each quota is per
		// minute.
		RatePerSecond:   float64(min(reads, writes)) / 60,
		Burst:           1,
		BatchSize:       MaxBatch,
		MaxPayloadBytes: MaxPayloadBytes,
		Timeout:         c.timeout,
		Concurrency:     1,
	}
	c.client, c.transport = connector.HTTPClient(name, o.Egress)
	c.rt = &connector.RoundTrip{Client: c.client, Header: connector.Bearer(c.token), MaxBody: maxBodyRead, Redact: c.redact}
	c.transport.MaxIdleConnsPerHost = 4
	return c, nil
}

// setQuotas sizes the connector's own quota windows.
func (c *Conn) setQuotas(reads, writes int, interval time.Duration) {
	c.reads = connector.NewWindow(reads, interval)
	c.writes = connector.NewWindow(writes, interval)
}

// Constraints reports Sheets' limits: one delivery (a read and a write) per
// quota slot, batches of 100 under the 2 MB advice, one request in flight
// (see the package comment), no upsert of its own.
func (c *Conn) Constraints() connector.Constraints { return c.constraints }

// Close releases idle connections.
func (c *Conn) Close(context.Context) error {
	c.transport.CloseIdleConnections()
	return nil
}

// String describes the destination without the token.
func (c *Conn) String() string {
	return fmt.Sprintf("sheets destination %q: %s spreadsheet %s sheet %q by %q, token %s",
		c.name, c.baseURL, c.spreadsheetID, c.sheet, c.keyColumn, redacted)
}

// GoString keeps %#v from printing the token.
func (c *Conn) GoString() string { return c.String() }

// Deliver writes one record: an update of the row holding its key, else an
// append.
func (c *Conn) Deliver(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	cells, err := c.cells(d)
	if err != nil {
		return connector.Result{}, err
	}
	c.seq.Lock()
	defer c.seq.Unlock()
	return c.deliver(ctx, d, cells)
}

// deliver runs one read-check-write sequence; c.seq must be held.
func (c *Conn) deliver(ctx context.Context, d connector.Delivery, cells map[string]any) (connector.Result, error) {
	row := c.rowOf(d.ExternalID)
	if row == 0 && !d.Ambiguous {
		if t := c.cache.fresh(); t != nil && len(t.rows[d.RecordKey]) == 1 {
			row = t.rows[d.RecordKey][0]
		}
	}
	if row > 0 {
		header, vals, err := c.readRow(ctx, row)
		if err != nil {
			return connector.Result{}, err
		}
		key, err := c.keyIn(header, vals)
		if err != nil {
			return connector.Result{}, err
		}
		if key == d.RecordKey {
			return c.update(ctx, row, header, cells)
		}
		// The row moved (rows were inserted or deleted above it) or was
		// deleted: find the key afresh.
	}
	t, err := c.readIndex(ctx)
	if err != nil {
		return connector.Result{}, err
	}
	switch rows := t.rows[d.RecordKey]; len(rows) {
	case 0:
		vals, err := c.rowValues(t.header, cells)
		if err != nil {
			return connector.Result{}, err
		}
		rs, err := c.append(ctx, t.header, [][]any{vals})
		if err != nil {
			return connector.Result{}, err
		}
		return rs[0], nil
	case 1:
		return c.update(ctx, rows[0], t.header, cells)
	default:
		return connector.Result{}, c.duplicateKey(d.RecordKey, rows)
	}
}

func (c *Conn) duplicateKey(key string, rows []int) *connector.Error {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = fmt.Sprint(r)
	}
	return &connector.Error{Class: connector.Conflict, Code: "DUPLICATE_KEY",
		Message: c.trim(fmt.Sprintf("rows %s of sheet %q all hold %s %q: a person must delete or merge the extra rows",
			strings.Join(ids, ", "), c.sheet, c.keyColumn, key))}
}

// rowValues lays cells out in header order; columns the payload does not
// name are null, which Sheets leaves untouched. A field without a column
// is Drift.
func (c *Conn) rowValues(header []string, cells map[string]any) ([]any, error) {
	names := make([]string, 0, len(cells))
	for n := range cells {
		names = append(names, n)
	}
	sort.Strings(names)
	at := make(map[string]int, len(names))
	width := 0
	for _, n := range names {
		i, err := c.column(header, n)
		if err != nil {
			return nil, err
		}
		at[n] = i
		width = max(width, i+1)
	}
	vals := make([]any, width)
	for n, i := range at {
		vals[i] = cells[n]
	}
	return vals, nil
}

// writeRange is a ValueRange sent to Sheets.
type writeRange struct {
	Range          string  `json:"range,omitempty"`
	MajorDimension string  `json:"majorDimension"`
	Values         [][]any `json:"values"`
}

// update writes cells to row, laid out by header (read together with the
// check of the row). c.seq must be held.
func (c *Conn) update(ctx context.Context, row int, header []string, cells map[string]any) (connector.Result, error) {
	vals, err := c.rowValues(header, cells)
	if err != nil {
		return connector.Result{}, err
	}
	rng := c.sheetRange(fmt.Sprintf("A%d:%s%d", row, columnName(len(vals)-1), row))
	req := request{
		method: http.MethodPut, path: c.valuesPath(rng), write: true,
		query: url.Values{"valueInputOption": {c.input}},
		body:  writeRange{Range: rng, MajorDimension: "ROWS", Values: [][]any{vals}},
	}
	c.cache.invalidate()
	defer c.cache.invalidate()
	resp, err := c.call(ctx, req)
	if err != nil {
		return connector.Result{}, err
	}
	if resp.status != http.StatusOK {
		return connector.Result{}, c.statusError(req, resp)
	}
	return connector.Result{ExternalID: c.rowID(row), Status: http.StatusOK, Message: fmt.Sprintf("updated row %d", row)}, nil
}

// append adds rows (laid out by header) after the sheet's data, inserting
// rows, and returns one result per row. c.seq must be held.
func (c *Conn) append(ctx context.Context, header []string, rows [][]any) ([]connector.Result, error) {
	// Sheets appends from the first column of the table it finds, so the
	// range and the values start at the header's first named column.
	lo, hi := -1, -1
	for i, h := range header {
		if h != "" {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	body := make([][]any, len(rows))
	for i, r := range rows {
		if len(r) <= lo {
			body[i] = []any{}
			continue
		}
		body[i] = r[lo:]
	}
	rng := c.sheetRange(columnName(lo) + ":" + columnName(hi))
	req := request{
		method: http.MethodPost, path: c.valuesPath(rng) + ":append", write: true,
		query: url.Values{"valueInputOption": {c.input}, "insertDataOption": {"INSERT_ROWS"}},
		body:  writeRange{MajorDimension: "ROWS", Values: body},
	}
	c.cache.invalidate()
	defer c.cache.invalidate()
	resp, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, c.statusError(req, resp)
	}
	var ans struct {
		Updates struct {
			UpdatedRange string `json:"updatedRange"`
		} `json:"updates"`
	}
	_ = decodeJSON(resp.body, &ans)
	title, cells, ok := splitA1(ans.Updates.UpdatedRange)
	first, last, spanOK := rowSpan(cells)
	if !ok || !spanOK || title != c.sheet || last-first+1 != len(rows) {
		// Written, but Sheets did not say where: the next attempt finds
		// the rows by key.
		return nil, &connector.Error{Class: connector.Retryable, Status: resp.status, Sent: true,
			Message: c.trim(fmt.Sprintf("%s: appended, but the answer's updatedRange %q does not name %d rows of sheet %q",
				req.describe(), ans.Updates.UpdatedRange, len(rows), c.sheet))}
	}
	out := make([]connector.Result, len(rows))
	for i := range rows {
		n := first + i
		out[i] = connector.Result{ExternalID: c.rowID(n), Status: http.StatusCreated, Message: fmt.Sprintf("appended row %d", n)}
	}
	return out, nil
}

// DeliverBatch writes the records with one read, one values:batchUpdate
// for the keys the sheet has and one values:append for the others (more
// when the 2 MB advice or a repeated key asks for it). Each request's items
// share its outcome.
func (c *Conn) DeliverBatch(ctx context.Context, ds []connector.Delivery) ([]connector.BatchResult, error) {
	out := make([]connector.BatchResult, len(ds))
	cells := make([]map[string]any, len(ds))
	var pending []int
	for i, d := range ds {
		var err error
		if cells[i], err = c.cells(d); err != nil {
			out[i].Err = err
			continue
		}
		pending = append(pending, i)
	}
	c.seq.Lock()
	defer c.seq.Unlock()
	for len(pending) > 0 {
		seen := map[string]bool{}
		var round, later []int
		for _, i := range pending {
			if seen[ds[i].RecordKey] {
				later = append(later, i)
				continue
			}
			seen[ds[i].RecordKey] = true
			round = append(round, i)
		}
		c.batchRound(ctx, ds, cells, round, out)
		pending = later
	}
	return out, nil
}

// batchRound writes items whose keys are distinct. c.seq must be held.
func (c *Conn) batchRound(ctx context.Context, ds []connector.Delivery, cells []map[string]any, round []int, out []connector.BatchResult) {
	t, err := c.readIndex(ctx)
	if err != nil {
		for _, i := range round {
			out[i].Err = cloneErr(err)
		}
		return
	}
	var updates, appends []pendingRow
	for _, i := range round {
		vals, err := c.rowValues(t.header, cells[i])
		if err != nil {
			out[i].Err = err
			continue
		}
		switch rows := t.rows[ds[i].RecordKey]; len(rows) {
		case 0:
			appends = append(appends, pendingRow{item: i, vals: vals})
		case 1:
			updates = append(updates, pendingRow{item: i, row: rows[0], vals: vals})
		default:
			out[i].Err = c.duplicateKey(ds[i].RecordKey, rows)
		}
	}
	for _, chunk := range chunks(updates) {
		err := c.batchUpdate(ctx, chunk)
		for _, p := range chunk {
			if err == nil {
				out[p.item].Result = connector.Result{ExternalID: c.rowID(p.row), Status: http.StatusOK, Message: fmt.Sprintf("updated row %d", p.row)}
			}
		}
		c.settleChunk(ctx, ds, cells, chunk, err, out)
	}
	for _, chunk := range chunks(appends) {
		rows := make([][]any, len(chunk))
		for j, p := range chunk {
			rows[j] = p.vals
		}
		rs, err := c.append(ctx, t.header, rows)
		for j, p := range chunk {
			if err == nil {
				out[p.item].Result = rs[j]
			}
		}
		c.settleChunk(ctx, ds, cells, chunk, err, out)
	}
}

// settleChunk records a failed request's error for each of its items; a
// Permanent failure of several items is retried one item at a time to find
// the item at fault. c.seq must be held.
func (c *Conn) settleChunk(ctx context.Context, ds []connector.Delivery, cells []map[string]any, chunk []pendingRow, err error, out []connector.BatchResult) {
	if err == nil {
		return
	}
	if ce := connector.Classify(err); ce.Class == connector.Permanent && len(chunk) > 1 {
		for _, p := range chunk {
			d := ds[p.item]
			if p.row > 0 {
				d.ExternalID = c.rowID(p.row)
			}
			res, err := c.deliver(ctx, d, cells[p.item])
			out[p.item] = connector.BatchResult{Result: res, Err: err}
		}
		return
	}
	for _, p := range chunk {
		out[p.item].Err = cloneErr(err)
	}
}

// pendingRow is one batch item on its way: its index in the batch, its row
// (0 for an append) and its values in header order.
type pendingRow struct {
	item int
	row  int
	vals []any
}

// chunks splits rows into requests of at most MaxBatch rows and about
// MaxPayloadBytes.
func chunks(rows []pendingRow) [][]pendingRow {
	var out [][]pendingRow
	var cur []pendingRow
	size := 0
	for _, r := range rows {
		b, _ := json.Marshal(r.vals)
		n := len(b) + 64 // the range and the JSON around it
		if len(cur) > 0 && (len(cur) == MaxBatch || size+n > MaxPayloadBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, r)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// batchUpdate writes rows in one values:batchUpdate. c.seq must be held.
func (c *Conn) batchUpdate(ctx context.Context, rows []pendingRow) error {
	data := make([]writeRange, len(rows))
	for i, p := range rows {
		rng := c.sheetRange(fmt.Sprintf("A%d:%s%d", p.row, columnName(len(p.vals)-1), p.row))
		data[i] = writeRange{Range: rng, MajorDimension: "ROWS", Values: [][]any{p.vals}}
	}
	req := request{
		method: http.MethodPost, write: true,
		path: "/v4/spreadsheets/" + url.PathEscape(c.spreadsheetID) + "/values:batchUpdate",
		body: map[string]any{"valueInputOption": c.input, "data": data},
	}
	c.cache.invalidate()
	defer c.cache.invalidate()
	resp, err := c.call(ctx, req)
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK {
		return c.statusError(req, resp)
	}
	return nil
}

// cloneErr gives each batch item its own copy of a shared error.
func cloneErr(err error) error {
	var ce *connector.Error
	if errors.As(err, &ce) {
		cp := *ce
		return &cp
	}
	return err
}

// Lookup finds the row holding recordKey and returns its external ID and
// its cells keyed by header (numbers as float64, booleans as bool, empty
// cells as ""). A cached index only picks the row to read; absence is
// always decided by a fresh read of the key column.
func (c *Conn) Lookup(ctx context.Context, recordKey string) (string, map[string]any, bool, error) {
	if recordKey == "" {
		return "", nil, false, nil
	}
	if t := c.cache.fresh(); t != nil && len(t.rows[recordKey]) == 1 {
		row := t.rows[recordKey][0]
		header, vals, err := c.readRow(ctx, row)
		if err != nil {
			return "", nil, false, err
		}
		if k, err := c.keyIn(header, vals); err == nil && k == recordKey {
			return c.rowID(row), fields(header, vals), true, nil
		}
	}
	t, err := c.readIndex(ctx)
	if err != nil {
		return "", nil, false, err
	}
	rows := t.rows[recordKey]
	switch len(rows) {
	case 0:
		return "", nil, false, nil
	case 1:
	default:
		return "", nil, false, c.duplicateKey(recordKey, rows)
	}
	header, vals, err := c.readRow(ctx, rows[0])
	if err != nil {
		return "", nil, false, err
	}
	k, err := c.keyIn(header, vals)
	if err != nil {
		return "", nil, false, err
	}
	if k != recordKey {
		return "", nil, false, &connector.Error{Class: connector.Retryable,
			Message: c.trim(fmt.Sprintf("row %d of sheet %q moved while it was read (rows are being inserted or deleted)", rows[0], c.sheet))}
	}
	return c.rowID(rows[0]), fields(header, vals), true, nil
}

// fields maps a read row to its header's names; the first of two columns
// with one name wins.
func fields(header []string, row []any) map[string]any {
	out := make(map[string]any, len(header))
	for i, h := range header {
		if h == "" {
			continue
		}
		if _, dup := out[h]; dup {
			continue
		}
		var v any = ""
		if i < len(row) {
			v = row[i]
		}
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				v = f
			} else {
				v = n.String()
			}
		}
		out[h] = v
	}
	return out
}
