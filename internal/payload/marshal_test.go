package payload

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// sameAsEncodingJSON fails t unless Marshal(v) is json.Marshal(v), bytes
// and error alike.
func sameAsEncodingJSON(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := Marshal(v)
	if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("Marshal(%#v) = %s, %v; json.Marshal gives %s, %v", v, got, gerr, want, werr)
	}
}

func TestMarshalIsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, v := range []any{
		nil, true, "", "plain", `"quoted" \back\ <b>&amp;</b>`, "\x00\x01\b\f\n\r\t\x1f\x7f", "é漢字😀", "a\u2028b\u2029",
		"bad \xff utf8 \xe2\x82", 0.0, math.Copysign(0, -1), 1.0, -1.5, 1e-6, 1e-7, 1.5e-9, 1e20, 1e21, 123456789.0, 9007199254740993.0,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), 3, int64(-9007199254740993), int32(7),
		json.Number("12.5e3"), json.Number(""), json.Number("01"), json.Number("1."), json.Number("-"), json.Number("1e+"),
		map[string]any(nil), []any(nil), []any{}, map[string]any{},
		map[string]any{"b": 1.0, "a": []any{nil, "x", map[string]any{"<": ">"}}, "A": false, "é": 2, "": ""},
		map[string]any{"t": []string{"not", "decoded JSON"}}, map[string]any{"f": float32(1.1)},
		map[string]any{"bad": math.Inf(-1)}, []any{json.Number("nope")},
	} {
		sameAsEncodingJSON(t, v)
	}
	deep := any("leaf")
	for range MaxDepth + 5 {
		deep = map[string]any{"d": []any{deep}}
	}
	sameAsEncodingJSON(t, deep)
}

// TestMarshalGenerated compares the two on generated records.
func TestMarshalGenerated(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	var gen func(depth int) any
	gen = func(depth int) any {
		switch r.IntN(8) {
		case 0:
			return nil
		case 1:
			return r.IntN(2) == 0
		case 2:
			return math.Float64frombits(r.Uint64())
		case 3:
			return r.NormFloat64() * math.Pow(10, float64(r.IntN(50)-25))
		case 4:
			var sb strings.Builder
			for range r.IntN(12) {
				sb.WriteRune(rune(r.IntN(0x2100)))
			}
			if r.IntN(8) == 0 {
				sb.WriteByte(byte(0x80 + r.IntN(0x80)))
			}
			return sb.String()
		case 5:
			if depth > 4 {
				return 1.0
			}
			a := make([]any, r.IntN(4))
			for i := range a {
				a[i] = gen(depth + 1)
			}
			return a
		default:
			if depth > 4 {
				return "x"
			}
			m := map[string]any{}
			for range r.IntN(6) {
				m[string(rune('a'+r.IntN(26)))+string(rune(r.IntN(0x300)))] = gen(depth + 1)
			}
			return m
		}
	}
	for range 20000 {
		sameAsEncodingJSON(t, gen(0))
	}
}

// FuzzMarshal: any JSON body, decoded as intake decodes it, encodes as
// encoding/json encodes it.
func FuzzMarshal(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1e400]`, `{"x":"\u2028<>&\ud800"}`, `{"n":-0,"m":1e-7,"k":[true,null,{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v any
		if json.Unmarshal(body, &v) != nil {
			return
		}
		sameAsEncodingJSON(t, v)
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if d.Decode(&v) == nil {
			sameAsEncodingJSON(t, v)
		}
	})
}
