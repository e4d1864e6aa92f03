package normalize

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// kind is a Field.Type, resolved at compile time.
type kind uint8

const (
	kindAny kind = iota
	kindString
	kindNumber
	kindInteger
	kindBoolean
	kindDatetime
	kindDate
	kindEmail
	kindPhone
	kindArray
	kindObject
)

var kindNames = [...]string{
	kindAny:      "any",
	kindString:   "string",
	kindNumber:   "number",
	kindInteger:  "integer",
	kindBoolean:  "boolean",
	kindDatetime: "datetime",
	kindDate:     "date",
	kindEmail:    "email",
	kindPhone:    "phone",
	kindArray:    "array",
	kindObject:   "object",
}

func (k kind) String() string { return kindNames[k] }

func parseKind(s string) (kind, bool) {
	if s == "" {
		return kindAny, true
	}
	for k, name := range kindNames {
		if name == s {
			return kind(k), true
		}
	}
	return 0, false
}

// keepsBlank reports whether an empty string is a value of this kind rather
// than a missing one.
func (k kind) keepsBlank() bool { return k == kindAny || k == kindString }

// maxSafeInt is the largest integer a float64 (and so every JSON consumer
// that decodes numbers as doubles) represents exactly.
const maxSafeInt = 1 << 53

// Unix-time bounds of years 0001 to 9999, the range RFC 3339 can spell.
const (
	minUnix = -62135596800
	maxUnix = 253402300799
	// unixMillisFrom is where a unix number is taken to be milliseconds:
	// 1e11 seconds is in the year 5138, 1e11 milliseconds is in 1973.
	unixMillisFrom = 1e11
)

// builtinLayouts are tried after a field's own Formats. Layouts without a
// zone are read as UTC.
var builtinLayouts = []string{
	time.RFC3339Nano, // also accepts RFC3339: fractional seconds are optional when parsing
	"2006-01-02T15:04:05",
	"2006-01-02",
	"2006-01-02 15:04:05",
	"01/02/2006",
	time.RFC1123,
	time.RFC1123Z,
}

// coerce converts a present, non-null value (strings already trimmed and
// cased) to the field's type.
func (f *field) coerce(v any) (any, error) {
	switch f.kind {
	case kindString:
		return toString(v)
	case kindNumber:
		return toNumber(v)
	case kindInteger:
		return toInteger(v)
	case kindBoolean:
		return toBool(v)
	case kindDatetime:
		t, err := f.toTime(v, "datetime")
		if err != nil {
			return nil, err
		}
		if u := t.UTC(); u.Year() > 9999 || u.Year() < 0 {
			return nil, fmt.Errorf("%s is outside the years 0000 to 9999", describe(v))
		}
		return formatDatetime(t), nil
	case kindDate:
		t, err := f.toTime(v, "date")
		if err != nil {
			return nil, err
		}
		if t.Year() > 9999 || t.Year() < 0 {
			return nil, fmt.Errorf("%s is outside the years 0000 to 9999", describe(v))
		}
		return t.Format(time.DateOnly), nil
	case kindEmail:
		return toEmail(v)
	case kindPhone:
		return toPhone(v, f.region)
	case kindArray:
		switch v.(type) {
		case []any, []string:
			out, _, err := plain(v, 0)
			return out, err
		}
		return nil, convertError(v, "array")
	case kindObject:
		switch v.(type) {
		case map[string]any, map[string]string:
			out, _, err := plain(v, 0)
			return out, err
		}
		return nil, convertError(v, "object")
	}
	out, _, err := plain(v, 0)
	return out, err
}

func convertError(v any, to string) error {
	return fmt.Errorf("cannot convert %s to %s", describe(v), to)
}

func toString(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, convertError(v, "string")
		}
		return formatFloat(x), nil
	case float32:
		return toString(float64(x))
	case json.Number:
		s := string(x)
		if isIntLiteral(s) && s[0] != '+' {
			// Keep big integer IDs exact: the caller decoded with
			// UseNumber precisely so that they survive.
			return s, nil
		}
		f, err := parseDecimal(s)
		if err != nil {
			return nil, convertError(v, "string")
		}
		return formatFloat(f), nil
	case time.Time:
		return formatDatetime(x), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	}
	if n, ok := goInt(v); ok {
		return strconv.FormatInt(n, 10), nil
	}
	return nil, convertError(v, "string")
}

// numberOf reads a number out of a Go number or a numeric string. ok is
// false when v is not a number at all.
func numberOf(v any) (f float64, ok bool, err error) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, true, fmt.Errorf("number %v is not finite", x)
		}
		return x, true, nil
	case float32:
		return numberOf(float64(x))
	case json.Number:
		f, err := parseDecimal(string(x))
		return f, true, err
	case string:
		f, err := parseDecimal(strings.TrimSpace(x))
		return f, true, err
	case uint64:
		return float64(x), true, nil
	}
	if n, ok := goInt(v); ok {
		return float64(n), true, nil
	}
	return 0, false, nil
}

func toNumber(v any) (any, error) {
	f, ok, err := numberOf(v)
	if !ok || errors.Is(err, errNotDecimal) {
		return nil, convertError(v, "number")
	}
	if err != nil {
		return nil, fmt.Errorf("cannot convert %s to number: %w", describe(v), err)
	}
	return f, nil
}

func toInteger(v any) (any, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case json.Number:
		s = string(x)
	}
	if s != "" && isIntLiteral(s) {
		// Parse integer literals exactly: "9007199254740993" must not be
		// rounded into range by a float.
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > maxSafeInt || n < -maxSafeInt {
			return nil, fmt.Errorf("cannot convert %s to integer: outside ±2^53", describe(v))
		}
		return n, nil
	}
	if n, ok := goInt(v); ok {
		if n > maxSafeInt || n < -maxSafeInt {
			return nil, fmt.Errorf("cannot convert %s to integer: outside ±2^53", describe(v))
		}
		return n, nil
	}
	f, ok, err := numberOf(v)
	if !ok || errors.Is(err, errNotDecimal) {
		return nil, convertError(v, "integer")
	}
	if err != nil {
		return nil, fmt.Errorf("cannot convert %s to integer: %w", describe(v), err)
	}
	if f != math.Trunc(f) {
		return nil, fmt.Errorf("cannot convert %s to integer: not a whole number", describe(v))
	}
	if f > maxSafeInt || f < -maxSafeInt {
		return nil, fmt.Errorf("cannot convert %s to integer: outside ±2^53", describe(v))
	}
	return int64(f), nil
}

func toBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		switch {
		case s == "1" || strings.EqualFold(s, "true") || strings.EqualFold(s, "yes"):
			return true, nil
		case s == "0" || strings.EqualFold(s, "false") || strings.EqualFold(s, "no"):
			return false, nil
		}
		return nil, convertError(v, "boolean")
	}
	f, ok, err := numberOf(v)
	if ok && err == nil {
		switch f {
		case 1:
			return true, nil
		case 0:
			return false, nil
		}
	}
	return nil, convertError(v, "boolean")
}

// toTime reads a time from a string (the field's Formats, then the
// built-in layouts) or from a unix timestamp in seconds or milliseconds.
func (f *field) toTime(v any, to string) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		for _, layout := range f.layouts {
			if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				return t, nil
			}
		}
		for _, layout := range builtinLayouts {
			if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("cannot parse %s as %s", describe(v), to)
	}
	n, ok, err := numberOf(v)
	if !ok || err != nil {
		return time.Time{}, convertError(v, to)
	}
	return fromUnix(n, v)
}

func fromUnix(n float64, v any) (time.Time, error) {
	millis := math.Abs(n) >= unixMillisFrom
	sec := n
	if millis {
		sec = n / 1000
	}
	if sec < minUnix || sec > maxUnix {
		return time.Time{}, fmt.Errorf("%s is out of range for a unix timestamp", describe(v))
	}
	if n == math.Trunc(n) {
		if millis {
			return time.UnixMilli(int64(n)).UTC(), nil
		}
		return time.Unix(int64(n), 0).UTC(), nil
	}
	// A float64 holds a current unix time to about a microsecond; rounding
	// there keeps 1700000000.123 from printing as .122999906.
	whole := math.Floor(sec)
	micros := int64(math.Round((sec - whole) * 1e6))
	return time.Unix(int64(whole), micros*1000).UTC(), nil
}

func formatDatetime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() == 0 {
		return t.Format(time.RFC3339)
	}
	return t.Format(time.RFC3339Nano)
}

func toEmail(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, convertError(v, "email")
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if err := checkEmail(s); err != nil {
		return nil, fmt.Errorf("invalid email %s: %w", quote(s), err)
	}
	return s, nil
}

// checkEmail is a deliberately basic syntax check: it catches form junk
// ("n/a", "john at example.com") without pretending to implement RFC 5322.
func checkEmail(s string) error {
	at := strings.IndexByte(s, '@')
	switch {
	case at < 0 || strings.IndexByte(s[at+1:], '@') >= 0:
		return errors.New("want exactly one @")
	case at == 0:
		return errors.New("empty local part")
	case len(s) > 254:
		return errors.New("longer than 254 characters")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return errors.New("contains whitespace or control characters")
		}
	}
	domain := s[at+1:]
	dot := strings.IndexByte(domain, '.')
	if dot <= 0 || domain[len(domain)-1] == '.' || strings.Contains(domain, "..") {
		return errors.New("domain needs a dot between non-empty labels")
	}
	return nil
}

func toPhone(v any, region string) (out any, err error) {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case json.Number:
		s = string(x)
		if !isIntLiteral(s) {
			return nil, convertError(v, "phone")
		}
	default:
		n, ok, _ := numberOf(v)
		if !ok || n != math.Trunc(n) || n < 0 || n > maxSafeInt {
			return nil, convertError(v, "phone")
		}
		s = strconv.FormatInt(int64(n), 10)
	}
	defer func() {
		// phonenumbers is a port of a large Java library; a panic on some
		// odd input must not take the pipeline down with it.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("invalid phone number %s", quote(s))
		}
	}()
	num, perr := phonenumbers.Parse(s, region)
	if perr != nil {
		return nil, fmt.Errorf("invalid phone number %s: %v", quote(s), perr)
	}
	if !phonenumbers.IsValidNumber(num) {
		return nil, fmt.Errorf("invalid phone number %s: not a valid number (default region %s)", quote(s), region)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// isIntLiteral reports whether s is an optionally signed run of digits.
func isIntLiteral(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	if i == len(s) {
		return false
	}
	for ; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// errNotDecimal needs no wording of its own: "cannot convert string "x"
// to number" already says it.
var errNotDecimal = errors.New("not a decimal number")

// parseDecimal accepts plain decimal numbers only: an optional sign,
// digits with an optional fraction, an optional exponent. It rejects what
// strconv.ParseFloat would also take but a payload should not: "Inf",
// "NaN", hex floats, underscores, and thousands separators ("1,200" is
// ambiguous across locales).
func parseDecimal(s string) (float64, error) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, errNotDecimal
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return 0, errNotDecimal
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i != len(s) {
		return 0, errNotDecimal
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return f, nil
}
