package normalize

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// applyOne maps {"v": in} through a single field "out" reading "v" and
// returns what became of it.
func applyOne(t *testing.T, f Field, in any) (v any, present bool, probs []Problem) {
	t.Helper()
	f.From = "v"
	m, err := Compile(Mapping{Fields: map[string]Field{"out": f}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	out, probs := m.Apply(map[string]any{"v": in})
	v, present = out["out"]
	return v, present, probs
}

type coerceCase struct {
	name  string
	field Field
	in    any
	want  any    // ignored when wantErr is set
	err   string // substring of the single Problem's message
}

// absent marks a case whose output field must be missing without a Problem.
type absentT struct{}

var absent = absentT{}

func runCoerceCases(t *testing.T, cases []coerceCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, present, probs := applyOne(t, tc.field, tc.in)
			if tc.err != "" {
				if len(probs) != 1 {
					t.Fatalf("got %d problems %v (value %#v), want one containing %q", len(probs), probs, got, tc.err)
				}
				if probs[0].Field != "out" || !strings.Contains(probs[0].Message, tc.err) {
					t.Fatalf("problem = %v, want field out and message containing %q", probs[0], tc.err)
				}
				if !strings.HasPrefix(probs[0].Message, "v: ") {
					t.Errorf("message %q does not start with the source path", probs[0].Message)
				}
				if present {
					t.Errorf("field set to %#v despite the problem", got)
				}
				return
			}
			if len(probs) != 0 {
				t.Fatalf("unexpected problems: %v", probs)
			}
			if tc.want == absent {
				if present {
					t.Fatalf("got %#v, want the field absent", got)
				}
				return
			}
			if !present {
				t.Fatalf("field absent, want %#v", tc.want)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
}

func TestCoerceString(t *testing.T) {
	t.Parallel()
	s := Field{Type: "string"}
	runCoerceCases(t, []coerceCase{
		{"string", s, "hello", "hello", ""},
		{"integral float has no exponent", s, 1200.0, "1200", ""},
		{"big integral float", s, 1e20, "100000000000000000000", ""},
		{"fraction", s, 12.5, "12.5", ""},
		{"tiny", s, 1e-7, "1e-7", ""},
		{"json number integer kept exactly", s, json.Number("12345678901234567890"), "12345678901234567890", ""},
		{"json number fraction", s, json.Number("1.50"), "1.5", ""},
		{"int64", s, int64(42), "42", ""},
		{"bool", s, true, "true", ""},
		{"empty string kept", s, "", "", ""},
		{"null is absent", s, nil, absent, ""},
		{"object", s, map[string]any{"a": 1.0}, nil, "cannot convert object to string"},
		{"array", s, []any{"a"}, nil, "cannot convert array to string"},
		{"trim", Field{Type: "string", Trim: true}, "  a b  ", "a b", ""},
		{"lower", Field{Type: "string", Lower: true}, "MiXeD", "mixed", ""},
		{"upper", Field{Type: "string", Upper: true, Trim: true}, " us ", "US", ""},
		{"no trim keeps spaces", s, "  a ", "  a ", ""},
		{"transforms ignore numbers", Field{Type: "string", Upper: true}, 3.0, "3", ""},
	})
}

func TestCoerceNumber(t *testing.T) {
	t.Parallel()
	n := Field{Type: "number"}
	runCoerceCases(t, []coerceCase{
		{"float", n, 12.5, 12.5, ""},
		{"string", n, "12.5", 12.5, ""},
		{"surrounding spaces", n, "  -3 ", -3.0, ""},
		{"exponent", n, "1e3", 1000.0, ""},
		{"leading dot", n, ".5", 0.5, ""},
		{"json number", n, json.Number("7.25"), 7.25, ""},
		{"int", n, int64(9), 9.0, ""},
		{"blank string is absent", n, "   ", absent, ""},
		{"thousands separator", n, "1,200", nil, `cannot convert string "1,200" to number`},
		{"words", n, "twelve", nil, `cannot convert string "twelve" to number`},
		{"NaN string", n, "NaN", nil, "to number"},
		{"Inf string", n, "Inf", nil, "to number"},
		{"hex", n, "0x10", nil, "to number"},
		{"underscore", n, "1_000", nil, "to number"},
		{"overflow", n, "1e999", nil, "out of range"},
		{"NaN float", n, math.NaN(), nil, "not finite"},
		{"Inf float", n, math.Inf(1), nil, "not finite"},
		{"bool", n, true, nil, "cannot convert boolean true to number"},
		{"object", n, map[string]any{}, nil, "cannot convert object to number"},
	})
}

func TestCoerceInteger(t *testing.T) {
	t.Parallel()
	i := Field{Type: "integer"}
	runCoerceCases(t, []coerceCase{
		{"float", i, 42.0, int64(42), ""},
		{"string", i, " 42 ", int64(42), ""},
		{"integral string with fraction", i, "12.0", int64(12), ""},
		{"exponent", i, "1e3", int64(1000), ""},
		{"negative", i, -7.0, int64(-7), ""},
		{"max safe", i, json.Number("9007199254740992"), int64(1 << 53), ""},
		{"int", i, 5, int64(5), ""},
		{"fraction", i, 1.5, nil, "not a whole number"},
		{"fraction string", i, "1.5", nil, "not a whole number"},
		{"beyond safe exact", i, "9007199254740993", nil, "outside ±2^53"},
		{"beyond safe json number", i, json.Number("-9007199254740993"), nil, "outside ±2^53"},
		{"beyond int64", i, "99999999999999999999", nil, "outside ±2^53"},
		{"beyond safe float", i, 1e17, nil, "outside ±2^53"},
		{"beyond safe int64", i, int64(math.MaxInt64), nil, "outside ±2^53"},
		{"words", i, "ten", nil, `cannot convert string "ten" to integer`},
		{"bool", i, false, nil, "cannot convert boolean false to integer"},
	})
}

func TestCoerceBoolean(t *testing.T) {
	t.Parallel()
	b := Field{Type: "boolean"}
	runCoerceCases(t, []coerceCase{
		{"true", b, true, true, ""},
		{"TRUE", b, "TRUE", true, ""},
		{"yes", b, " Yes ", true, ""},
		{"1 string", b, "1", true, ""},
		{"1 number", b, 1.0, true, ""},
		{"false", b, "false", false, ""},
		{"no", b, "NO", false, ""},
		{"0 string", b, "0", false, ""},
		{"0 number", b, 0.0, false, ""},
		{"0 json number", b, json.Number("0"), false, ""},
		{"2", b, 2.0, nil, "cannot convert number 2 to boolean"},
		{"maybe", b, "maybe", nil, `cannot convert string "maybe" to boolean`},
		{"array", b, []any{}, nil, "cannot convert array to boolean"},
	})
}

func TestCoerceDatetime(t *testing.T) {
	t.Parallel()
	d := Field{Type: "datetime"}
	runCoerceCases(t, []coerceCase{
		{"RFC3339 offset to UTC", d, "2024-03-01T10:00:00+02:00", "2024-03-01T08:00:00Z", ""},
		{"RFC3339Nano keeps fraction", d, "2024-03-01T10:00:00.123Z", "2024-03-01T10:00:00.123Z", ""},
		{"zero fraction dropped", d, "2024-03-01T10:00:00.000Z", "2024-03-01T10:00:00Z", ""},
		{"no zone", d, "2024-03-01T10:00:00", "2024-03-01T10:00:00Z", ""},
		{"date only", d, "2024-03-01", "2024-03-01T00:00:00Z", ""},
		{"space separated", d, "2024-03-01 10:11:12", "2024-03-01T10:11:12Z", ""},
		{"US date", d, "03/01/2024", "2024-03-01T00:00:00Z", ""},
		{"RFC1123", d, "Fri, 01 Mar 2024 10:00:00 GMT", "2024-03-01T10:00:00Z", ""},
		{"RFC1123Z", d, "Fri, 01 Mar 2024 10:00:00 -0500", "2024-03-01T15:00:00Z", ""},
		{"unix seconds", d, 1700000000.0, "2023-11-14T22:13:20Z", ""},
		{"unix seconds fraction", d, 1700000000.5, "2023-11-14T22:13:20.5Z", ""},
		{"unix millis", d, 1700000000123.0, "2023-11-14T22:13:20.123Z", ""},
		{"unix json number", d, json.Number("1700000000"), "2023-11-14T22:13:20Z", ""},
		{"custom format", Field{Type: "datetime", Formats: []string{"02.01.2006 15:04"}}, "01.03.2024 09:30", "2024-03-01T09:30:00Z", ""},
		{"custom format first", Field{Type: "datetime", Formats: []string{"02/01/2006"}}, "01/03/2024", "2024-03-01T00:00:00Z", ""},
		{"garbage", d, "next tuesday", nil, `cannot parse string "next tuesday" as datetime`},
		{"numeric string is not unix", d, "1700000000", nil, "as datetime"},
		{"out of range", d, 1e20, nil, "out of range for a unix timestamp"},
		{"past year 9999 in UTC", d, "9999-12-31T23:00:00-05:00", nil, "outside the years"},
		{"bool", d, true, nil, "cannot convert boolean true to datetime"},
	})
}

func TestCoerceDate(t *testing.T) {
	t.Parallel()
	d := Field{Type: "date"}
	runCoerceCases(t, []coerceCase{
		{"date", d, "2024-03-01", "2024-03-01", ""},
		{"datetime keeps the date as written", d, "2024-03-01T23:30:00-05:00", "2024-03-01", ""},
		{"US date", d, "12/31/1999", "1999-12-31", ""},
		{"unix", d, 1700000000.0, "2023-11-14", ""},
		{"custom", Field{Type: "date", Formats: []string{"2.1.2006"}}, "1.3.2024", "2024-03-01", ""},
		{"invalid day", d, "2024-02-30", nil, "as date"},
		{"blank is absent", d, "", absent, ""},
	})
}

func TestCoerceEmail(t *testing.T) {
	t.Parallel()
	e := Field{Type: "email"}
	runCoerceCases(t, []coerceCase{
		{"normalized", e, "  Jane.Doe@Example.COM ", "jane.doe@example.com", ""},
		{"plus", e, "a+b@sub.example.org", "a+b@sub.example.org", ""},
		{"no at", e, "jane.example.com", nil, "want exactly one @"},
		{"two ats", e, "a@b@example.com", nil, "want exactly one @"},
		{"empty local", e, "@example.com", nil, "empty local part"},
		{"no dot", e, "jane@localhost", nil, "domain needs a dot"},
		{"trailing dot", e, "jane@example.", nil, "domain needs a dot"},
		{"inner space", e, "jane doe@example.com", nil, "whitespace"},
		{"number", e, 5.0, nil, "cannot convert number 5 to email"},
		{"long value truncated", e, strings.Repeat("x", 500), nil, `"` + strings.Repeat("x", 64) + `…"`},
	})
}

func TestCoercePhone(t *testing.T) {
	t.Parallel()
	p := Field{Type: "phone"}
	runCoerceCases(t, []coerceCase{
		{"US national", p, "(415) 555-2671", "+14155552671", ""},
		{"international", p, "+44 20 7946 0958", "+442079460958", ""},
		{"region", Field{Type: "phone", Region: "gb"}, "020 7946 0958", "+442079460958", ""},
		{"number", p, 4155552671.0, "+14155552671", ""},
		{"too short", p, "123", nil, "invalid phone number"},
		{"letters", p, "call me", nil, "invalid phone number"},
		{"invalid for region", p, "+1 555 000 0000", nil, "not a valid number"},
		{"fraction", p, 415.5, nil, "cannot convert number 415.5 to phone"},
		{"object", p, map[string]any{}, nil, "cannot convert object to phone"},
	})
}

func TestCoerceArrayObjectAny(t *testing.T) {
	t.Parallel()
	runCoerceCases(t, []coerceCase{
		{"array", Field{Type: "array"}, []any{"a", 1.0}, []any{"a", 1.0}, ""},
		{"array from string", Field{Type: "array"}, "a", nil, `cannot convert string "a" to array`},
		{"object", Field{Type: "object"}, map[string]any{"a": true}, map[string]any{"a": true}, ""},
		{"object from array", Field{Type: "object"}, []any{}, nil, "cannot convert array to object"},
		{"any keeps", Field{}, map[string]any{"n": json.Number("1")}, map[string]any{"n": json.Number("1")}, ""},
		{"any normalizes Go ints", Field{Type: "any"}, []any{3, uint8(4)}, []any{int64(3), int64(4)}, ""},
		{"any trims strings", Field{Trim: true}, " x ", "x", ""},
		{"any rejects Go junk", Field{}, make(chan int), nil, "unsupported value of Go type chan int"},
		{"any rejects NaN inside", Field{}, []any{math.NaN()}, nil, "not finite"},
		{"any rejects bad json.Number", Field{}, json.Number("1x"), nil, "invalid number"},
		{"any rejects deep nesting", Field{}, deep(maxDepth + 5), nil, "nested deeper than"},
	})
}

func deep(n int) any {
	var v any = "leaf"
	for range n {
		v = []any{v}
	}
	return v
}

func TestFormatFloat(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{
		0: "0", 1200: "1200", -1200: "-1200", 0.1: "0.1", 1e21: "1e+21", 1e-7: "1e-7", 123456789012: "123456789012",
	} {
		if got := formatFloat(in); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestFromUnixRoundsToMicroseconds(t *testing.T) {
	t.Parallel()
	got, err := fromUnix(1700000000.123, 1700000000.123)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2023, 11, 14, 22, 13, 20, 123000000, time.UTC); !got.Equal(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
