package sheets

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Grid limits of one spreadsheet.
const (
	// MaxColumns is the widest a sheet can be (column ZZZ).
	MaxColumns = 18278
	// MaxCells is the most cells a spreadsheet may have, counted over every
	// sheet's grid.
	MaxCells = 10_000_000
)

// bounds is a rectangle of a sheet, 0-based; an end of -1 is unbounded
// (to the end of the grid). Ends are exclusive.
type bounds struct {
	r0, r1 int
	c0, c1 int
}

// single reports whether b names one cell, which Sheets treats as the
// anchor of a write rather than its extent.
func (b bounds) single() bool { return b.r1 == b.r0+1 && b.c1 == b.c0+1 }

// clip bounds b to a grid of rows x cols.
func (b bounds) clip(rows, cols int) bounds {
	if b.r1 < 0 || b.r1 > rows {
		b.r1 = rows
	}
	if b.c1 < 0 || b.c1 > cols {
		b.c1 = cols
	}
	b.r0, b.c0 = min(b.r0, b.r1), min(b.c0, b.c1)
	return b
}

// parsedRange is an A1 range split into its sheet title ("" when the range
// names none) and its cell part ("" for a whole sheet).
type parsedRange struct {
	title    string
	hasTitle bool
	cells    string
}

// splitRange separates "Sheet 1!A1:B2", "'It”s'!A:A", "Sheet1" or "A1:B2".
// A range without "!" is a sheet title when such a sheet exists, else a cell
// part on the first sheet; isTitle answers that question.
func splitRange(a1 string, isTitle func(string) bool) (parsedRange, bool) {
	s := strings.TrimSpace(a1)
	if s == "" {
		return parsedRange{}, false
	}
	if s[0] == '\'' {
		var b strings.Builder
		i := 1
		for {
			if i >= len(s) {
				return parsedRange{}, false // unterminated quote
			}
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				i++
				break
			}
			b.WriteByte(s[i])
			i++
		}
		rest := s[i:]
		switch {
		case rest == "":
			return parsedRange{title: b.String(), hasTitle: true}, true
		case rest[0] == '!':
			return parsedRange{title: b.String(), hasTitle: true, cells: rest[1:]}, true
		}
		return parsedRange{}, false
	}
	if i := strings.LastIndexByte(s, '!'); i >= 0 {
		return parsedRange{title: s[:i], hasTitle: true, cells: s[i+1:]}, true
	}
	if isTitle(s) {
		return parsedRange{title: s, hasTitle: true}, true
	}
	return parsedRange{cells: s}, true
}

var refRE = regexp.MustCompile(`^([A-Za-z]{0,3})([0-9]{0,8})$`)

// ref is one side of an A1 cell part: a column, a row, or both; -1 for a
// missing half.
type ref struct{ col, row int }

func parseRef(s string) (ref, bool) {
	m := refRE.FindStringSubmatch(s)
	if m == nil || (m[1] == "" && m[2] == "") {
		return ref{}, false
	}
	r := ref{col: -1, row: -1}
	if m[1] != "" {
		r.col = columnIndex(m[1])
		if r.col >= MaxColumns {
			return ref{}, false
		}
	}
	if m[2] != "" {
		n, err := strconv.Atoi(m[2])
		if err != nil || n < 1 {
			return ref{}, false
		}
		r.row = n - 1
	}
	return r, true
}

// parseCells turns "A1", "A1:B2", "A:C", "2:5" or "A5:C" into bounds.
func parseCells(s string) (bounds, bool) {
	if s == "" {
		return bounds{0, -1, 0, -1}, true
	}
	from, to, isPair := strings.Cut(s, ":")
	a, ok := parseRef(from)
	if !ok {
		return bounds{}, false
	}
	if !isPair {
		// A lone reference must name one cell.
		if a.col < 0 || a.row < 0 {
			return bounds{}, false
		}
		return bounds{a.row, a.row + 1, a.col, a.col + 1}, true
	}
	b, ok := parseRef(to)
	if !ok {
		return bounds{}, false
	}
	// "A:B" and "1:2" need both halves of the same kind; "A5:C" is open
	// downwards.
	if (a.col < 0) != (b.col < 0) && a.col < 0 {
		return bounds{}, false
	}
	if a.row < 0 && b.row >= 0 && a.col >= 0 {
		// "A:B5" is not A1 notation Sheets accepts.
		return bounds{}, false
	}
	out := bounds{r0: 0, r1: -1, c0: 0, c1: -1}
	if a.col >= 0 {
		c0, c1 := a.col, b.col
		if c1 >= 0 && c1 < c0 {
			c0, c1 = c1, c0
		}
		out.c0 = c0
		if c1 >= 0 {
			out.c1 = c1 + 1
		}
	}
	if a.row >= 0 {
		r0, r1 := a.row, b.row
		if r1 >= 0 && r1 < r0 {
			r0, r1 = r1, r0
		}
		out.r0 = r0
		if r1 >= 0 {
			out.r1 = r1 + 1
		}
	}
	return out, true
}

// columnIndex is the 0-based index of column letters ("A" 0, "AA" 26).
func columnIndex(letters string) int {
	n := 0
	for _, r := range strings.ToUpper(letters) {
		n = n*26 + int(r-'A'+1)
	}
	return n - 1
}

// columnName is the letters of a 0-based column index.
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
)

// quoteTitle writes a sheet title the way Sheets does in the ranges it
// returns: bare when it is a plain identifier that cannot be read as a
// cell, else in single quotes with quotes doubled.
func quoteTitle(t string) string {
	if plainTitle.MatchString(t) && !cellLike.MatchString(t) {
		return t
	}
	return "'" + strings.ReplaceAll(t, "'", "''") + "'"
}

// formatRange writes b (already clipped to the grid) on sheet title in A1
// notation: "Sheet1!A1" for one cell, "Sheet1!A1:C7" otherwise.
func formatRange(title string, b bounds) string {
	if b.r1 <= b.r0 || b.c1 <= b.c0 {
		// An empty rectangle (a zero-row sheet): name its corner.
		return fmt.Sprintf("%s!%s%d", quoteTitle(title), columnName(b.c0), b.r0+1)
	}
	start := fmt.Sprintf("%s%d", columnName(b.c0), b.r0+1)
	if b.single() {
		return quoteTitle(title) + "!" + start
	}
	return fmt.Sprintf("%s!%s:%s%d", quoteTitle(title), start, columnName(b.c1-1), b.r1)
}
