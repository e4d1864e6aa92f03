package validate

import (
	"math"
	"math/big"
	"reflect"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fastNode answers one question about a record cheaply: does the schema
// certainly accept it? The JSON Schema library is the judge; it keeps
// bookkeeping for keywords an entity schema rarely uses (unevaluated
// properties, dynamic scopes, error trees) and converts every number to
// a big.Rat through fmt, which made it a third of intake's own CPU per
// event. A fastNode is built only for schemas whose every keyword it
// implements exactly as the library does (same format functions, same
// patterns, same presence and rune-count rules); it says "pass" only when
// it is sure, and every other record, valid or not, goes to the library,
// so verdicts and messages are the library's. fast_test.go checks the
// two against each other on generated records.
type fastNode struct {
	// reject is the boolean schema false.
	reject bool
	// types is the allowed JSON types (typeNull...), 0 for any.
	types    uint8
	format   func(any) error
	minLen   int // -1: none
	maxLen   int
	pattern  jsonschema.Regexp
	min      *float64
	max      *float64
	exMin    *float64
	exMax    *float64
	minProps int // -1: none
	maxProps int
	required []string
	props    map[string]*fastNode
	// noExtra is additionalProperties: false; extra is a schema for them.
	noExtra bool
	extra   *fastNode
}

const (
	typeNull uint8 = 1 << iota
	typeBool
	typeNumber
	typeInteger
	typeString
	typeArray
	typeObject
)

var typeBits = map[string]uint8{"null": typeNull, "boolean": typeBool, "number": typeNumber, "integer": typeInteger,
	"string": typeString, "array": typeArray, "object": typeObject}

// fastFields are the compiled schema's fields a fastNode implements or
// that do not take part in validation (identifiers, annotations, the
// library's own links). A schema with any other field set gets no
// fastNode: a keyword added by a later version of the library is then
// left to the library, never skipped.
var fastFields = map[string]bool{
	"up": true, "resource": true, "dynamicAnchors": true, "allPropsEvaluated": true, "allItemsEvaluated": true,
	"numItemsEvaluated": true, "DraftVersion": true, "Location": true, "ID": true, "Anchor": true,
	"Title": true, "Description": true, "Default": true, "Comment": true, "ReadOnly": true, "WriteOnly": true,
	"Examples": true, "Deprecated": true,
	"Bool": true, "Types": true, "Format": true,
	"MinProperties": true, "MaxProperties": true, "Required": true, "Properties": true, "AdditionalProperties": true,
	"MinLength": true, "MaxLength": true, "Pattern": true,
	"Minimum": true, "Maximum": true, "ExclusiveMinimum": true, "ExclusiveMaximum": true,
}

// maxFastDepth bounds the nesting of schemas compiled into fastNodes.
const maxFastDepth = 32

// compileFast returns the fastNode of s, or nil when s uses anything
// beyond what fastNode implements.
func compileFast(s *jsonschema.Schema, depth int) *fastNode {
	if s == nil || depth > maxFastDepth {
		return nil
	}
	rv := reflect.ValueOf(s).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		if !fastFields[rt.Field(i).Name] && !rv.Field(i).IsZero() {
			return nil
		}
	}
	n := &fastNode{minLen: -1, maxLen: -1, minProps: -1, maxProps: -1}
	if s.Bool != nil {
		n.reject = !*s.Bool
		return n
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			b, ok := typeBits[t]
			if !ok {
				return nil
			}
			n.types |= b
		}
	}
	if s.Format != nil {
		if s.Format.Validate == nil {
			return nil
		}
		n.format = s.Format.Validate
	}
	if s.MinLength != nil {
		n.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		n.maxLen = *s.MaxLength
	}
	n.pattern = s.Pattern
	var ok bool
	if n.min, ok = exactBound(s.Minimum); !ok {
		return nil
	}
	if n.max, ok = exactBound(s.Maximum); !ok {
		return nil
	}
	if n.exMin, ok = exactBound(s.ExclusiveMinimum); !ok {
		return nil
	}
	if n.exMax, ok = exactBound(s.ExclusiveMaximum); !ok {
		return nil
	}
	if s.MinProperties != nil {
		n.minProps = *s.MinProperties
	}
	if s.MaxProperties != nil {
		n.maxProps = *s.MaxProperties
	}
	n.required = s.Required
	if len(s.Properties) > 0 {
		n.props = make(map[string]*fastNode, len(s.Properties))
		for name, sub := range s.Properties {
			fn := compileFast(sub, depth+1)
			if fn == nil {
				return nil
			}
			n.props[name] = fn
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		n.noExtra = !a
	case *jsonschema.Schema:
		if n.extra = compileFast(a, depth+1); n.extra == nil {
			return nil
		}
	default:
		return nil
	}
	return n
}

// exactBound is a numeric bound as a float64 when the float64 is exactly
// the schema's number (0, 1000, 0.5, ...); ok is false for one that is
// not (0.1), which fastNode leaves to the library.
func exactBound(r *big.Rat) (*float64, bool) {
	if r == nil {
		return nil, true
	}
	f, exact := r.Float64()
	if !exact {
		return nil, false
	}
	return &f, true
}

// pass reports whether the schema certainly accepts v; false means
// "ask the library" (invalid, or a case fastNode does not decide).
func (n *fastNode) pass(v any) bool {
	if n.reject {
		return false
	}
	var t uint8
	switch x := v.(type) {
	case nil:
		t = typeNull
	case bool:
		t = typeBool
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
		t = typeNumber
	case int:
		t = typeNumber
	case string:
		t = typeString
	case []any:
		t = typeArray
	case map[string]any:
		t = typeObject
	default:
		return false // the library's answer for other Go types
	}
	if n.types != 0 && n.types&t == 0 {
		if t != typeNumber || n.types&typeInteger == 0 {
			return false
		}
		if integer, sure := isInteger(v); !sure || !integer {
			return false
		}
	}
	if n.format != nil && n.format(v) != nil {
		return false
	}
	switch x := v.(type) {
	case map[string]any:
		return n.passObject(x)
	case string:
		if n.minLen >= 0 || n.maxLen >= 0 {
			l := utf8.RuneCountInString(x)
			if (n.minLen >= 0 && l < n.minLen) || (n.maxLen >= 0 && l > n.maxLen) {
				return false
			}
		}
		if n.pattern != nil && !n.pattern.MatchString(x) {
			return false
		}
	case float64, int:
		return n.passNumber(v)
	}
	return true
}

func (n *fastNode) passObject(obj map[string]any) bool {
	if (n.minProps >= 0 && len(obj) < n.minProps) || (n.maxProps >= 0 && len(obj) > n.maxProps) {
		return false
	}
	for _, r := range n.required {
		if _, ok := obj[r]; !ok {
			return false
		}
	}
	if n.props == nil && !n.noExtra && n.extra == nil {
		return true
	}
	for k, pv := range obj {
		if sub, ok := n.props[k]; ok {
			if !sub.pass(pv) {
				return false
			}
			continue
		}
		if n.noExtra {
			return false
		}
		if n.extra != nil && !n.extra.pass(pv) {
			return false
		}
	}
	return true
}

func (n *fastNode) passNumber(v any) bool {
	check := func(b *float64, ok func(c int) bool) bool {
		if b == nil {
			return true
		}
		c, sure := compareNumber(v, *b)
		return sure && ok(c)
	}
	return check(n.min, func(c int) bool { return c >= 0 }) &&
		check(n.max, func(c int) bool { return c <= 0 }) &&
		check(n.exMin, func(c int) bool { return c > 0 }) &&
		check(n.exMax, func(c int) bool { return c < 0 })
}

// maxExact is 2^53: integers of at most this size are exact float64s and
// print as themselves.
const maxExact = 1 << 53

// compareNumber compares v with b as the library does: v as the decimal
// fmt prints for it, b exactly. sure is false where the float comparison
// could differ from that decimal one. Distinct float64s order the same
// either way (fmt prints the shortest decimal that reads back as v, which
// lies nearer v than any other float64); an equal pair is exact only when
// v is an integer that fmt prints digit for digit.
func compareNumber(v any, b float64) (c int, sure bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
		if f == b && (f != math.Trunc(f) || math.Abs(f) > maxExact) {
			return 0, false
		}
	case int:
		if x > maxExact || x < -maxExact {
			return 0, false
		}
		f = float64(x)
	default:
		return 0, false
	}
	switch {
	case f < b:
		return -1, true
	case f > b:
		return 1, true
	}
	return 0, true
}

// isInteger is the library's "integer" for a number: its printed decimal
// has no fraction. A float64 with a fraction never prints as an integer
// (an integer of that size would be its own float64); an integral one is
// decided here only up to 2^53.
func isInteger(v any) (integer, sure bool) {
	switch x := v.(type) {
	case int:
		return true, true
	case float64:
		if x != math.Trunc(x) {
			return false, true
		}
		if math.Abs(x) > maxExact {
			return false, false
		}
		return true, true
	}
	return false, false
}
