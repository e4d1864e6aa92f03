package sheets

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/sluicehq/sluice/internal/connector"
)

const tooLongMessage = "Your input contains more than the maximum of 50000 characters in a single cell."

// cells turns a mapped payload into cell values by column name, with the
// record key in the key column. A value Sheets could never take fails
// here, before any request, as a Permanent error naming the column.
func (c *Conn) cells(d connector.Delivery) (map[string]any, error) {
	if d.RecordKey == "" {
		return nil, &connector.Error{Class: connector.Permanent, Code: "NO_KEY",
			Message: fmt.Sprintf("the record key is empty; rows are found by their %s column, which needs a value", c.keyColumn)}
	}
	if utf16Len(d.RecordKey) > MaxCellChars {
		return nil, &connector.Error{Class: connector.Permanent, Code: "INVALID_ARGUMENT",
			Message: fmt.Sprintf("column %q (the key): %s", c.keyColumn, tooLongMessage)}
	}
	names := make([]string, 0, len(d.Payload))
	for k := range d.Payload {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make(map[string]any, len(d.Payload)+1)
	for _, name := range names {
		if name == "" {
			return nil, &connector.Error{Class: connector.Permanent, Code: "INVALID_VALUE",
				Message: "a payload field has an empty name; it cannot name a column"}
		}
		v, err := c.value(name, d.Payload[name])
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	if v, ok := d.Payload[c.keyColumn]; ok && v != nil && keyText(v) != d.RecordKey {
		return nil, &connector.Error{Class: connector.Permanent, Code: "KEY_MISMATCH",
			Message: c.trim(fmt.Sprintf("column %s is %q but the record key is %q: rows are found by %s, so the two must agree",
				c.keyColumn, keyText(v), d.RecordKey, c.keyColumn))}
	}
	key := d.RecordKey
	if c.input == "USER_ENTERED" {
		// A leading apostrophe makes Sheets store the key as text, so
		// "00123" or "TRUE" reads back as written.
		key = "'" + key
	}
	out[c.keyColumn] = key
	return out, nil
}

// value checks one payload value: strings, numbers and booleans pass;
// null clears the cell.
func (c *Conn) value(name string, v any) (any, error) {
	bad := func(format string, args ...any) error {
		return &connector.Error{Class: connector.Permanent, Code: "INVALID_VALUE",
			Message: c.trim(fmt.Sprintf("column %q: ", name) + fmt.Sprintf(format, args...))}
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		if utf16Len(v) > MaxCellChars {
			return nil, &connector.Error{Class: connector.Permanent, Code: "INVALID_ARGUMENT",
				Message: fmt.Sprintf("column %q: %s", name, tooLongMessage)}
		}
		if c.input == "USER_ENTERED" && !c.formulas[name] && formulaLike(v) {
			// Sheets stores a leading apostrophe's rest as text.
			return "'" + v, nil
		}
		return v, nil
	case bool, json.Number, int, int32, int64, uint, uint32, uint64:
		return v, nil
	case float32:
		return c.value(name, float64(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, bad("%v is not a number Sheets can store", v)
		}
		return v, nil
	case []any:
		return nil, bad("a list cannot go into one cell; map it to a string")
	case map[string]any:
		return nil, bad("an object cannot go into one cell; map its fields to columns")
	}
	return nil, bad("a %T cannot go into a cell", v)
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

// plainNumber is a decimal number as USER_ENTERED parses it into a number
// cell, sign included: "-5", "+3.2", "1e3".
var plainNumber = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// formulaLike is true for a string USER_ENTERED could turn into a formula
// (or, starting with an apostrophe, would shorten): OWASP's list of
// formula-starting characters for spreadsheets, less plain numbers.
func formulaLike(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '@', '\t', '\r', '\n', '\'':
		return true
	case '+', '-':
		return !plainNumber.MatchString(strings.TrimSpace(s))
	}
	return false
}
