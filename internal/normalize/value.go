package normalize

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// maxDepth bounds how deeply nested a value may be when it is copied into
// the output as a whole (types any, array and object, and passthrough). It
// keeps recursion bounded on hostile payloads and on cyclic Go values.
const maxDepth = 64

// maxEcho is how many characters of an offending string a Problem quotes.
const maxEcho = 64

// plain checks that v is made only of JSON-shaped values (map[string]any,
// []any, string, float64, bool, nil, json.Number, int64) and converts the
// other Go values an expression or a YAML default may produce (other ints,
// float32, []string, time.Time, ...). changed reports whether the result
// differs from v; containers are copied only when something inside them
// changed, so the common case allocates nothing.
func plain(v any, depth int) (out any, changed bool, err error) {
	if depth > maxDepth {
		return nil, false, fmt.Errorf("value nested deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case nil, string, bool, int64:
		return v, false, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false, fmt.Errorf("number %v is not finite", x)
		}
		return v, false, nil
	case json.Number:
		if !validJSONNumber(string(x)) {
			return nil, false, fmt.Errorf("invalid number %s", quote(string(x)))
		}
		return v, false, nil
	case map[string]any:
		var cp map[string]any
		for k, e := range x {
			ne, ch, err := plain(e, depth+1)
			if err != nil {
				return nil, false, err
			}
			if ch {
				if cp == nil {
					cp = make(map[string]any, len(x))
					for k2, e2 := range x {
						cp[k2] = e2
					}
				}
				cp[k] = ne
			}
		}
		if cp != nil {
			return cp, true, nil
		}
		return v, false, nil
	case []any:
		var cp []any
		for i, e := range x {
			ne, ch, err := plain(e, depth+1)
			if err != nil {
				return nil, false, err
			}
			if ch {
				if cp == nil {
					cp = append([]any(nil), x...)
				}
				cp[i] = ne
			}
		}
		if cp != nil {
			return cp, true, nil
		}
		return v, false, nil
	case []string:
		cp := make([]any, len(x))
		for i, s := range x {
			cp[i] = s
		}
		return cp, true, nil
	case map[string]string:
		cp := make(map[string]any, len(x))
		for k, s := range x {
			cp[k] = s
		}
		return cp, true, nil
	case float32:
		return plain(float64(x), depth)
	case time.Time:
		return formatDatetime(x), true, nil
	}
	if n, ok := goInt(v); ok {
		return n, true, nil
	}
	if u, ok := v.(uint64); ok {
		return float64(u), true, nil
	}
	return nil, false, fmt.Errorf("unsupported value of Go type %T", v)
}

// exprValue prepares a value for an expression: expr does arithmetic on Go
// numbers but not on json.Number, which ingest may decode payloads into to
// keep big IDs exact. Integer literals become int64, others float64.
// Containers are copied only when something inside them changed. Past
// maxDepth values are left as they are; expr copes with any value.
func exprValue(v any, depth int) (any, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, true
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return f, true
		}
	case map[string]any:
		if depth >= maxDepth {
			return v, false
		}
		var cp map[string]any
		for k, e := range x {
			if ne, ch := exprValue(e, depth+1); ch {
				if cp == nil {
					cp = make(map[string]any, len(x))
					for k2, e2 := range x {
						cp[k2] = e2
					}
				}
				cp[k] = ne
			}
		}
		if cp != nil {
			return cp, true
		}
	case []any:
		if depth >= maxDepth {
			return v, false
		}
		var cp []any
		for i, e := range x {
			if ne, ch := exprValue(e, depth+1); ch {
				if cp == nil {
					cp = append([]any(nil), x...)
				}
				cp[i] = ne
			}
		}
		if cp != nil {
			return cp, true
		}
	}
	return v, false
}

// goInt converts every Go integer type that fits an int64.
func goInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// clone deep-copies the containers of a plain value so that callers who
// modify an output cannot corrupt a shared default.
func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		cp := make(map[string]any, len(x))
		for k, e := range x {
			cp[k] = clone(e)
		}
		return cp
	case []any:
		cp := make([]any, len(x))
		for i, e := range x {
			cp[i] = clone(e)
		}
		return cp
	}
	return v
}

// jsonType names v's JSON type for messages.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, float32, json.Number:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case time.Time:
		return "time"
	}
	if _, ok := goInt(v); ok {
		return "number"
	}
	if _, ok := v.(uint64); ok {
		return "number"
	}
	return fmt.Sprintf("Go type %T", v)
}

// describe names v's JSON type and, for scalars, quotes it (truncated) so
// that a Problem says what was wrong without echoing a huge value.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return "string " + quote(x)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case float64:
		return "number " + formatFloat(x)
	case json.Number:
		return "number " + truncate(string(x))
	case time.Time:
		return "time " + formatDatetime(x)
	}
	if n, ok := goInt(v); ok {
		return "number " + strconv.FormatInt(n, 10)
	}
	return jsonType(v)
}

func quote(s string) string { return strconv.Quote(truncate(s)) }

// truncate cuts s to maxEcho characters, on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	n := 0
	for i := range s {
		if n == maxEcho {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// formatFloat spells a number the way encoding/json does: no exponent for
// ordinary magnitudes, so 1200 is "1200", not "1.2e+03".
func formatFloat(f float64) string {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(make([]byte, 0, 24), f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

// validJSONNumber reports whether s is a number literal in JSON's grammar,
// which is what encoding/json requires of a json.Number it marshals.
func validJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
