package sheets

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
)

// MaxCellChars is the most characters one cell holds.
const MaxCellChars = 50_000

const tooLongMessage = "Your input contains more than the maximum of 50000 characters in a single cell."

// cell is one stored value; the zero cell is empty.
type cell struct {
	kind byte // 0 empty, 's' string, 'n' number, 'b' bool, 'f' formula
	s    string
	n    float64
	b    bool
}

func (c cell) empty() bool { return c.kind == 0 }

// formatted is the cell as FORMATTED_VALUE renders it. Numbers use the
// "General" format in its simplest form; formulas are not evaluated and
// read back as their text.
func (c cell) formatted() string {
	switch c.kind {
	case 's', 'f':
		return c.s
	case 'n':
		return formatNumber(c.n)
	case 'b':
		if c.b {
			return "TRUE"
		}
		return "FALSE"
	}
	return ""
}

func formatNumber(n float64) string {
	if n == math.Trunc(n) && math.Abs(n) < 1e15 {
		return strconv.FormatFloat(n, 'f', 0, 64)
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}

// render is the cell's JSON value for a valueRenderOption.
func (c cell) render(option string) any {
	switch {
	case option == renderFormatted:
		return c.formatted()
	case c.kind == 'n':
		return c.n
	case c.kind == 'b':
		return c.b
	}
	return c.s
}

// Value input and render options.
const (
	inputRaw         = "RAW"
	inputUserEntered = "USER_ENTERED"
	renderFormatted  = "FORMATTED_VALUE"
	renderRaw        = "UNFORMATTED_VALUE"
	renderFormula    = "FORMULA"
)

// inputError is a value Sheets refuses; it fails the whole request.
type inputError struct{ message string }

func (e *inputError) Error() string { return e.message }

// parseValue turns one JSON input value into a cell; skip is true for null
// (Sheets leaves the cell as it is). "" clears the cell.
func parseValue(v any, option string, at string) (c cell, skip bool, err error) {
	switch v := v.(type) {
	case nil:
		return cell{}, true, nil
	case bool:
		return cell{kind: 'b', b: v}, false, nil
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return cell{}, false, &inputError{fmt.Sprintf("Invalid value at '%s' (TYPE_DOUBLE), %s", at, v)}
		}
		return cell{kind: 'n', n: f}, false, nil
	case float64:
		return cell{kind: 'n', n: v}, false, nil
	case string:
		if utf16Len(v) > MaxCellChars {
			return cell{}, false, &inputError{tooLongMessage}
		}
		if v == "" {
			return cell{}, false, nil
		}
		if option == inputUserEntered {
			return userEntered(v), false, nil
		}
		return cell{kind: 's', s: v}, false, nil
	case []any:
		return cell{}, false, &inputError{fmt.Sprintf("Invalid values%s: list_value {...}", at)}
	case map[string]any:
		return cell{}, false, &inputError{fmt.Sprintf("Invalid values%s: struct_value {...}", at)}
	}
	return cell{}, false, &inputError{fmt.Sprintf("Invalid values%s: unsupported value", at)}
}

// userEntered parses a string the way typing it into the UI would, for the
// common cases: a leading apostrophe forces text, "=" starts a formula (so
// do "+" and "-" before something other than a number),
// numbers and TRUE/FALSE are converted. Dates, currencies and percentages
// stay text in the simulator.
func userEntered(s string) cell {
	switch {
	case strings.HasPrefix(s, "'"):
		if s == "'" {
			return cell{}
		}
		return cell{kind: 's', s: s[1:]}
	case strings.HasPrefix(s, "="):
		return cell{kind: 'f', s: s}
	case (s[0] == '+' || s[0] == '-') && !isNumber(s):
		// As typed into the UI, "+A1" and "-A1" become the formulas
		// "=+A1" and "=-A1".
		return cell{kind: 'f', s: "=" + s}
	case strings.EqualFold(s, "TRUE"):
		return cell{kind: 'b', b: true}
	case strings.EqualFold(s, "FALSE"):
		return cell{kind: 'b', b: false}
	}
	t := strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(t, 64); err == nil && t != "" && !strings.ContainsAny(t, "xXpPnN_iI") {
		return cell{kind: 'n', n: f}
	}
	return cell{kind: 's', s: s}
}

// utf16Len counts characters the way Sheets does (UTF-16 code units). A
// string of at most MaxCellChars bytes has at most as many units, so its
// byte length stands in for the count.
func utf16Len(s string) int {
	if len(s) <= MaxCellChars {
		return len(s)
	}
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// row is one stored row; key is its business key as last counted for the
// duplicate statistics.
type row struct {
	cells []cell
	key   string
}

// sheet is one tab: a grid of rowCount x colCount cells of which the rows
// slice holds the stored prefix (nil rows are empty).
type sheet struct {
	id        int64
	title     string
	keyColumn string
	rowCount  int
	colCount  int
	rows      []*row
}

func (sh *sheet) get(r, c int) cell {
	if r >= len(sh.rows) || sh.rows[r] == nil || c >= len(sh.rows[r].cells) {
		return cell{}
	}
	return sh.rows[r].cells[c]
}

func (sh *sheet) set(r, c int, v cell) {
	for len(sh.rows) <= r {
		sh.rows = append(sh.rows, nil)
	}
	if sh.rows[r] == nil {
		sh.rows[r] = &row{}
	}
	cs := sh.rows[r].cells
	for len(cs) <= c {
		cs = append(cs, cell{})
	}
	cs[c] = v
	sh.rows[r].cells = cs
}

// insertRows inserts n empty rows before 0-based row at.
func (sh *sheet) insertRows(at, n int) {
	if at < len(sh.rows) {
		sh.rows = append(sh.rows[:at], append(make([]*row, n), sh.rows[at:]...)...)
	}
	sh.rowCount += n
}

// deleteRows removes rows [from, to) and returns the removed rows.
func (sh *sheet) deleteRows(from, to int) []*row {
	var gone []*row
	if from < len(sh.rows) {
		end := min(to, len(sh.rows))
		gone = append(gone, sh.rows[from:end]...)
		sh.rows = append(sh.rows[:from], sh.rows[end:]...)
	}
	sh.rowCount -= to - from
	return gone
}

// keyColumnIndex is the stored column whose header is the key column, -1
// when there is none.
func (sh *sheet) keyColumnIndex() int {
	if sh.keyColumn == "" || len(sh.rows) == 0 || sh.rows[0] == nil {
		return -1
	}
	for i, c := range sh.rows[0].cells {
		if strings.TrimSpace(c.formatted()) == sh.keyColumn {
			return i
		}
	}
	return -1
}

// view is a sheet as clients see it now: without the columns the
// removed_fields fault deleted. Column j of the view is stored column
// cols[j]; rows are the same.
type view struct {
	sh   *sheet
	cols []int
}

func (v view) colCount() int { return len(v.cols) }

func (v view) get(r, c int) cell {
	if c >= len(v.cols) {
		return cell{}
	}
	return v.sh.get(r, v.cols[c])
}

func (v view) set(r, c int, x cell) { v.sh.set(r, v.cols[c], x) }

// rowEmpty reports whether view row r has no value in columns [c0, c1).
func (v view) rowEmpty(r, c0, c1 int) bool {
	for c := c0; c < c1; c++ {
		if !v.get(r, c).empty() {
			return false
		}
	}
	return true
}

// isNumber is true for a string USER_ENTERED reads as a number.
func isNumber(s string) bool {
	t := strings.TrimSpace(s)
	_, err := strconv.ParseFloat(t, 64)
	return err == nil && t != "" && !strings.ContainsAny(t, "xXpPnN_iI")
}
