package sheets

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// columnName is the letters of a 0-based column index ("A", "AA").
func columnName(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append([]byte{byte('A' + (i-1)%26)}, b...)
	}
	return string(b)
}

var (
	plainTitle = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	cellLike   = regexp.MustCompile(`^[A-Za-z]{1,3}[0-9]+$|^[Rr][0-9]*[Cc][0-9]*$`)
	rowRef     = regexp.MustCompile(`^[A-Za-z]{0,3}([0-9]+)$`)
)

// quoteTitle writes a sheet title as Sheets does in A1 ranges: bare when
// it is a plain identifier that cannot be read as a cell, else quoted.
func quoteTitle(t string) string {
	if plainTitle.MatchString(t) && !cellLike.MatchString(t) {
		return t
	}
	return "'" + strings.ReplaceAll(t, "'", "''") + "'"
}

// splitA1 separates the sheet title from the cell part of "Sheet!A1:B2" or
// "'My Sheet'!7:7".
func splitA1(a1 string) (title, cells string, ok bool) {
	i := strings.LastIndexByte(a1, '!')
	if i < 0 {
		return "", "", false
	}
	title, cells = a1[:i], a1[i+1:]
	if strings.HasPrefix(title, "'") {
		if len(title) < 2 || !strings.HasSuffix(title, "'") {
			return "", "", false
		}
		title = strings.ReplaceAll(title[1:len(title)-1], "''", "'")
	}
	return title, cells, true
}

// rowSpan reads the first and last row numbers of a cell part ("A8:C10",
// "A8", "7:7").
func rowSpan(cells string) (first, last int, ok bool) {
	from, to, pair := strings.Cut(cells, ":")
	if !pair {
		to = from
	}
	m1, m2 := rowRef.FindStringSubmatch(from), rowRef.FindStringSubmatch(to)
	if m1 == nil || m2 == nil {
		return 0, 0, false
	}
	first, err1 := strconv.Atoi(m1[1])
	last, err2 := strconv.Atoi(m2[1])
	if err1 != nil || err2 != nil || first < 1 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// rowID is the external ID of row n: the row as an A1 range ("Leads!7:7").
func (c *Conn) rowID(n int) string { return fmt.Sprintf("%s!%d:%d", quoteTitle(c.sheet), n, n) }

// rowOf reads the row number of an external ID this destination made; 0
// when the ID names another sheet or is not a row range.
func (c *Conn) rowOf(externalID string) int {
	title, cells, ok := splitA1(externalID)
	if !ok || title != c.sheet {
		return 0
	}
	first, last, ok := rowSpan(cells)
	if !ok || first != last {
		return 0
	}
	return first
}

// sheetRange is cells on the configured sheet, escaped for a URL path.
func (c *Conn) sheetRange(cells string) string { return quoteTitle(c.sheet) + "!" + cells }

func (c *Conn) valuesPath(a1 string) string {
	return "/v4/spreadsheets/" + url.PathEscape(c.spreadsheetID) + "/values/" + url.PathEscape(a1)
}

// table is what one read told about the sheet: its header and where each
// key is.
type table struct {
	// header holds the trimmed header cells, in column order.
	header []string
	// keyCol is the key column's index in header.
	keyCol int
	// rows maps a key to the 1-based rows holding it.
	rows map[string][]int
}

// keyText is a cell's value as a key: strings as they are, numbers in
// plain notation, booleans as Sheets shows them.
func keyText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return formatNumber(f)
		}
		return v.String()
	case float64:
		return formatNumber(v)
	case bool:
		if v {
			return "TRUE"
		}
		return "FALSE"
	}
	return fmt.Sprint(v)
}

func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// headerOf turns a read header row into trimmed names.
func headerOf(row []any) []string {
	out := make([]string, len(row))
	for i, v := range row {
		out[i] = strings.TrimSpace(keyText(v))
	}
	return out
}

// column finds name in header; it fails as Drift when the column is
// missing or named twice, because either way Sluice cannot know where the
// value goes.
func (c *Conn) column(header []string, name string) (int, error) {
	at := -1
	for i, h := range header {
		if h != name {
			continue
		}
		if at >= 0 {
			return 0, &connector.Error{Class: connector.Drift, Code: "DUPLICATE_COLUMN",
				Message: c.trim(fmt.Sprintf("column %q appears more than once in the header row of sheet %q (columns %s and %s)", name, c.sheet, columnName(at), columnName(i)))}
		}
		at = i
	}
	if at < 0 {
		return 0, &connector.Error{Class: connector.Drift, Code: "MISSING_COLUMN",
			Message: c.trim(fmt.Sprintf("column %q is not in the header row of sheet %q (header: %s)", name, c.sheet, strings.Join(nonEmpty(header), ", ")))}
	}
	return at, nil
}

func nonEmpty(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

type valueRange struct {
	Range          string  `json:"range"`
	MajorDimension string  `json:"majorDimension"`
	Values         [][]any `json:"values"`
}

// batchGet reads ranges of the configured sheet in one read request, rows
// major, values unformatted.
func (c *Conn) batchGet(ctx context.Context, ranges ...string) ([]valueRange, error) {
	q := url.Values{"valueRenderOption": {"UNFORMATTED_VALUE"}, "majorDimension": {"ROWS"}}
	for _, r := range ranges {
		q.Add("ranges", r)
	}
	req := request{method: http.MethodGet, path: "/v4/spreadsheets/" + url.PathEscape(c.spreadsheetID) + "/values:batchGet", query: q}
	resp, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, c.statusError(req, resp)
	}
	var ans struct {
		ValueRanges []valueRange `json:"valueRanges"`
	}
	if err := decodeJSON(resp.body, &ans); err != nil || len(ans.ValueRanges) != len(ranges) {
		return nil, &connector.Error{Class: connector.Retryable, Status: resp.status,
			Message: fmt.Sprintf("%s: Sheets' answer is not the batchGet shape", req.describe())}
	}
	return ans.ValueRanges, nil
}

func firstRow(vr valueRange) []any {
	if len(vr.Values) == 0 {
		return nil
	}
	return vr.Values[0]
}

// readIndex reads the header and the key column in one request (two when
// the key column's position is not known yet or has moved) and remembers
// the result in the cache.
func (c *Conn) readIndex(ctx context.Context) (*table, error) {
	gen := c.cache.generation()
	for attempt := 0; attempt < 3; attempt++ {
		guess := c.cache.keyColumnGuess()
		ranges := []string{c.sheetRange("1:1")}
		if guess >= 0 {
			col := columnName(guess)
			ranges = append(ranges, c.sheetRange(col+":"+col))
		}
		vrs, err := c.batchGet(ctx, ranges...)
		if err != nil {
			return nil, err
		}
		header := headerOf(firstRow(vrs[0]))
		keyCol, err := c.column(header, c.keyColumn)
		if err != nil {
			return nil, err
		}
		c.cache.sawHeader(keyCol)
		if keyCol != guess {
			continue // read the column where the key now is
		}
		t := &table{header: header, keyCol: keyCol, rows: map[string][]int{}}
		for i, line := range vrs[1].Values {
			if i == 0 || len(line) == 0 {
				continue
			}
			if k := keyText(line[0]); k != "" {
				t.rows[k] = append(t.rows[k], i+1)
			}
		}
		c.cache.store(t, gen)
		return t, nil
	}
	return nil, &connector.Error{Class: connector.Retryable,
		Message: fmt.Sprintf("the key column %q of sheet %q kept moving while it was read", c.keyColumn, c.sheet)}
}

// readRow reads the header and row n in one request.
func (c *Conn) readRow(ctx context.Context, n int) (header []string, row []any, err error) {
	vrs, err := c.batchGet(ctx, c.sheetRange("1:1"), c.sheetRange(fmt.Sprintf("%d:%d", n, n)))
	if err != nil {
		return nil, nil, err
	}
	header = headerOf(firstRow(vrs[0]))
	if keyCol, err := c.column(header, c.keyColumn); err == nil {
		c.cache.sawHeader(keyCol)
	}
	return header, firstRow(vrs[1]), nil
}

// keyIn is the key held by row, read with header.
func (c *Conn) keyIn(header []string, row []any) (string, error) {
	kc, err := c.column(header, c.keyColumn)
	if err != nil {
		return "", err
	}
	if kc >= len(row) {
		return "", nil
	}
	return keyText(row[kc]), nil
}

// indexCache remembers the last key-column read for a short while. Every
// write (even a failed one) invalidates it, and a read started before a
// write is never stored, so a stale index can only come from someone else
// editing the sheet within the TTL; every row found through it is checked
// again before it is written.
type indexCache struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	gen    uint64
	t      *table
	at     time.Time
	keyCol int // last seen position of the key column, -1 unknown
}

func newIndexCache(ttl time.Duration, now func() time.Time) *indexCache {
	return &indexCache{ttl: ttl, now: now, keyCol: -1}
}

func (c *indexCache) lock()   { c.mu.Lock() }
func (c *indexCache) unlock() { c.mu.Unlock() }

func (c *indexCache) generation() uint64 {
	c.lock()
	defer c.unlock()
	return c.gen
}

// store keeps t unless a write happened since the read began.
func (c *indexCache) store(t *table, gen uint64) {
	c.lock()
	defer c.unlock()
	if c.gen == gen && c.ttl > 0 {
		c.t, c.at = t, c.now()
	}
}

// invalidate forgets the index; called around every write.
func (c *indexCache) invalidate() {
	c.lock()
	defer c.unlock()
	c.gen++
	c.t = nil
}

// fresh returns the cached index while it is younger than the TTL.
func (c *indexCache) fresh() *table {
	c.lock()
	defer c.unlock()
	if c.t == nil || c.now().Sub(c.at) >= c.ttl {
		return nil
	}
	return c.t
}

func (c *indexCache) sawHeader(keyCol int) {
	c.lock()
	c.keyCol = keyCol
	c.unlock()
}

func (c *indexCache) keyColumnGuess() int {
	c.lock()
	defer c.unlock()
	return c.keyCol
}
