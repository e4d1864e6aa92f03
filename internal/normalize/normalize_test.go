package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/goccy/go-yaml"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func mustCompile(t testing.TB, m Mapping) *Mapper {
	t.Helper()
	mp, err := Compile(m)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return mp
}

// decode parses JSON the way ingest does, keeping numbers exact.
func decode(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mapping Mapping
		payload string
		want    string // JSON of the output
		probs   []Problem
	}{
		{
			name: "nested output builds objects",
			mapping: Mapping{Fields: map[string]Field{
				"properties.email":     {From: "contact.email", Type: "email"},
				"properties.firstname": {From: "contact.first", Trim: true},
				"properties.phone":     {From: "contact.phone", Type: "phone"},
				"deep.a.b":             {From: "x", Type: "integer"},
				"top":                  {From: "x", Type: "string"},
			}},
			payload: `{"contact":{"email":" Ann@Example.com","first":" Ann ","phone":"415 555 2671"},"x":"7"}`,
			want:    `{"deep":{"a":{"b":7}},"properties":{"email":"ann@example.com","firstname":"Ann","phone":"+14155552671"},"top":"7"}`,
		},
		{
			name: "missing and null are absent, not problems",
			mapping: Mapping{Fields: map[string]Field{
				"a":        {From: "a"},
				"b":        {From: "b.c", Type: "number"},
				"c":        {From: "items[3]"},
				"nested.d": {From: "d"},
			}},
			payload: `{"b":null,"items":[]}`,
			want:    `{}`,
		},
		{
			name: "defaults",
			mapping: Mapping{Fields: map[string]Field{
				"missing":     {From: "nope", Default: "x"},
				"null":        {From: "n", Type: "integer", Default: "5"},
				"blank":       {From: "blank", Trim: true, Default: "unknown"},
				"blank_typed": {From: "blank", Type: "number"},
				"blank_kept":  {From: "blank"},
				"present":     {From: "s", Default: "unused"},
				"constant":    {Default: map[string]any{"source": "webform"}},
				"bool":        {Default: "yes", Type: "boolean"},
				"wild":        {From: "none[*].x", Type: "integer", Default: []any{"1", 2.0}},
			}},
			payload: `{"n":null,"blank":"   ","s":"here"}`,
			want:    `{"blank":"unknown","blank_kept":"   ","bool":true,"constant":{"source":"webform"},"missing":"x","null":5,"present":"here","wild":[1,2]}`,
		},
		{
			name: "wildcard coerces each element",
			mapping: Mapping{Fields: map[string]Field{
				"skus":   {From: "items[*].sku", Upper: true},
				"prices": {From: "items[*].price", Type: "number"},
				"raw":    {From: "items[*].sku", Type: "array"},
				"qty":    {From: "items[*].qty", Type: "integer"},
			}},
			payload: `{"items":[{"sku":"a1","price":"1.5","qty":"2"},{"sku":"b2","price":2,"qty":""},{"price":null}]}`,
			want:    `{"prices":[1.5,2],"qty":[2],"raw":["a1","b2"],"skus":["A1","B2"]}`,
		},
		{
			name: "problems name the output field and the source path; other fields survive",
			mapping: Mapping{Fields: map[string]Field{
				"email":  {From: "contact.email"},
				"age":    {From: "age", Type: "integer"},
				"prices": {From: "items[*].price", Type: "number"},
				"ok":     {From: "ok"},
			}},
			payload: `{"contact":"not an object","age":"12.5","items":[{"price":1},{"price":"1,200"}],"ok":true}`,
			want:    `{"ok":true}`,
			probs: []Problem{
				{Field: "age", Message: `age: cannot convert string "12.5" to integer: not a whole number`},
				{Field: "email", Message: "contact.email: expected object at contact, got string"},
				{Field: "prices", Message: `items[*].price, element 1: cannot convert string "1,200" to number`},
			},
		},
		{
			name:    "non-object payload",
			mapping: Mapping{Fields: map[string]Field{"a": {From: "a"}, "first": {From: "[0]"}}},
			payload: `["x"]`,
			want:    `{"first":"x"}`,
			probs:   []Problem{{Field: "a", Message: "a: expected object at the root, got array"}},
		},
		{
			name: "passthrough copies unread, unwritten keys",
			mapping: Mapping{Passthrough: true, Fields: map[string]Field{
				"email":   {From: "contact.email"},
				"utm":     {From: "utm_source"},
				"extra.x": {Default: 1},
			}},
			payload: `{"contact":{"email":"a@b.co"},"utm_source":"ads","extra":"dropped: output wins","other":{"k":[1,2]},"n":null}`,
			want:    `{"email":"a@b.co","extra":{"x":1},"n":null,"other":{"k":[1,2]},"utm":"ads"}`,
		},
		{
			name: "expressions",
			mapping: Mapping{Fields: map[string]Field{
				"first":           {From: "first", Trim: true},
				"last":            {From: "last", Trim: true},
				"p.email":         {From: "email", Type: "email"},
				"full_name":       {Expr: `trim((first ?? "") + " " + (last ?? ""))`},
				"greeting":        {Expr: `"Hi " + upper(coalesce(first, "there"))`},
				"domain":          {Expr: `split(p.email, "@")[1]`},
				"p.count":         {Expr: `len(source.items)`, Type: "integer"},
				"total":           {Expr: `sum(map(source.items, float(#.price)))`, Type: "number"},
				"tags":            {Expr: `split(source.tags, ",")`, Type: "array"},
				"nothing":         {Expr: `source.missing`},
				"nothing_dflt":    {Expr: `source.missing`, Default: "fallback"},
				"is_big":          {Expr: `len(source.items) > 1 ? "yes" : "no"`, Type: "boolean"},
				"signup":          {Expr: `source.ts`, Type: "datetime"},
				"untyped_int":     {Expr: `1 + 2`},
				"blank_to_absent": {Expr: `"  "`, Type: "number"},
			}},
			payload: `{"first":" Ann ","last":"","email":"ANN@EXAMPLE.COM","items":[{"price":"1.5"},{"price":2}],"tags":"a,b","ts":1700000000}`,
			want: `{"domain":"example.com","first":"Ann","full_name":"Ann","greeting":"Hi ANN","is_big":true,"last":"",` +
				`"nothing_dflt":"fallback","p":{"count":2,"email":"ann@example.com"},"signup":"2023-11-14T22:13:20Z",` +
				`"tags":["a","b"],"total":3.5,"untyped_int":3}`,
		},
		{
			name: "expression errors are problems",
			mapping: Mapping{Fields: map[string]Field{
				"name":  {From: "name"},
				"bad":   {Expr: `name + 1`},
				"typed": {Expr: `"abc"`, Type: "integer"},
				"deref": {Expr: `source.a.b`},
			}},
			payload: `{"name":"x"}`,
			want:    `{"name":"x"}`,
			probs: []Problem{
				{Field: "bad", Message: "expr: invalid operation: string + int (1:6)"},
				{Field: "deref", Message: "expr: cannot fetch b from <nil> (1:10)"},
				{Field: "typed", Message: `expr result: cannot convert string "abc" to integer`},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := mustCompile(t, tc.mapping)
			out, probs := m.Apply(decode(t, tc.payload))
			got, err := json.Marshal(out)
			if err != nil {
				t.Fatalf("marshal output: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("output:\n got %s\nwant %s", got, tc.want)
			}
			if !reflect.DeepEqual(probs, tc.probs) {
				t.Errorf("problems:\n got %q\nwant %q", probs, tc.probs)
			}
		})
	}
}

func TestApplyTypes(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Mapping{Fields: map[string]Field{
		"n": {From: "n", Type: "number"},
		"i": {From: "n", Type: "integer"},
		"b": {From: "b", Type: "boolean"},
	}})
	out, probs := m.Apply(map[string]any{"n": "3", "b": "yes"})
	if len(probs) != 0 {
		t.Fatal(probs)
	}
	want := map[string]any{"n": 3.0, "i": int64(3), "b": true}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %#v, want %#v", out, want)
	}
}

func TestApplyDefaultIsNotShared(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Mapping{Fields: map[string]Field{"tags": {Default: []any{"a"}}}})
	first, _ := m.Apply(nil)
	first["tags"].([]any)[0] = "mutated"
	second, _ := m.Apply(nil)
	if got := second["tags"].([]any)[0]; got != "a" {
		t.Fatalf("default was mutated through an earlier output: %v", got)
	}
}

func TestApplyDoesNotModifyPayload(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Mapping{Passthrough: true, Fields: map[string]Field{
		"skus": {From: "items[*].sku", Upper: true},
		"full": {Expr: `source.name`},
	}})
	payload := decode(t, `{"items":[{"sku":"a"}],"name":"n","x":1}`)
	before, _ := json.Marshal(payload)
	m.Apply(payload)
	after, _ := json.Marshal(payload)
	if !bytes.Equal(before, after) {
		t.Fatalf("payload changed:\n%s\n%s", before, after)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fields map[string]Field
		want   []string
	}{
		{"unknown type", map[string]Field{"a": {From: "a", Type: "text"}},
			[]string{`fields.a.type: unknown type "text" (want any, string, number, integer, boolean, datetime, date, email, phone, array or object)`}},
		{"bad path", map[string]Field{"a": {From: "a..b"}},
			[]string{"fields.a.from: empty segment at offset 2"}},
		{"bad expr", map[string]Field{"full_name": {Expr: "first +"}},
			[]string{"fields.full_name.expr: unexpected token EOF (1:7)"}},
		{"unknown name in expr", map[string]Field{"first": {From: "f"}, "full_name": {Expr: `frist + "x"`}},
			[]string{"fields.full_name.expr: unknown name frist (1:1)"}},
		{"expr cannot see other expr", map[string]Field{"a": {Expr: `1`}, "b": {Expr: `a + 1`}},
			[]string{"fields.b.expr: unknown name a (1:1)"}},
		{"unknown nested field in expr", map[string]Field{"p.email": {From: "e"}, "x": {Expr: `p.emial`}},
			[]string{"fields.x.expr: unknown field emial (1:3)"}},
		{"from and expr", map[string]Field{"a": {From: "a", Expr: "1"}},
			[]string{"fields.a: from and expr are mutually exclusive"}},
		{"nothing", map[string]Field{"a": {Type: "string"}},
			[]string{"fields.a: one of from, expr or default is required"}},
		{"default not coercible", map[string]Field{"n": {From: "n", Type: "integer", Default: "1.5"}},
			[]string{`fields.n.default: cannot convert string "1.5" to integer: not a whole number`}},
		{"default bad email", map[string]Field{"e": {From: "e", Type: "email", Default: "nobody"}},
			[]string{`fields.e.default: invalid email "nobody": want exactly one @`}},
		{"wildcard default not array", map[string]Field{"e": {From: "a[*]", Type: "integer", Default: 1}},
			[]string{"fields.e.default: a [*] path needs an array default, got number 1"}},
		{"wildcard default element", map[string]Field{"e": {From: "a[*]", Type: "integer", Default: []any{1, "x"}}},
			[]string{`fields.e.default: element 1: cannot convert string "x" to integer`}},
		{"lower and upper", map[string]Field{"a": {From: "a", Lower: true, Upper: true}},
			[]string{"fields.a: lower and upper are mutually exclusive"}},
		{"region on non-phone", map[string]Field{"a": {From: "a", Region: "US"}},
			[]string{"fields.a.region: only applies to type phone"}},
		{"unknown region", map[string]Field{"a": {From: "a", Type: "phone", Region: "XX"}},
			[]string{`fields.a.region: unknown region "XX"`}},
		{"formats on non-time", map[string]Field{"a": {From: "a", Type: "string", Formats: []string{"2006"}}},
			[]string{"fields.a.formats: only applies to types datetime and date"}},
		{"empty format", map[string]Field{"a": {From: "a", Type: "date", Formats: []string{" "}}},
			[]string{"fields.a.formats[0]: empty layout"}},
		{"empty output segment", map[string]Field{"a..b": {From: "a"}},
			[]string{"fields.a..b: output name has an empty segment"}},
		{"value and object", map[string]Field{"p": {From: "a"}, "p.email": {From: "b"}},
			[]string{`fields.p.email: conflicts with field "p": a name cannot be both a value and an object`}},
		{"source is reserved with exprs", map[string]Field{"source": {From: "utm"}, "x": {Expr: "1"}},
			[]string{`fields.source: the name "source" is reserved for the raw payload when a mapping has expr fields`}},
		{"all problems at once, sorted", map[string]Field{
			"z": {From: "[", Type: "nope"},
			"a": {},
			"m": {Expr: "1 +", Lower: true, Upper: true},
		}, []string{
			"fields.a: one of from, expr or default is required",
			"fields.m: lower and upper are mutually exclusive",
			"fields.m.expr: unexpected token EOF (1:3)",
			"fields.z.from: unclosed '[' at offset 0",
			`fields.z.type: unknown type "nope" (want any, string, number, integer, boolean, datetime, date, email, phone, array or object)`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := Compile(Mapping{Fields: tc.fields})
			if m != nil {
				t.Error("Compile returned a Mapper along with an error")
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *CompileError", err, err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("problems:\n got %q\nwant %q", got, tc.want)
			}
			if err.Error() != strings.Join(tc.want, "; ") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestCompileAllowsSourceFieldWithoutExprs(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Mapping{Fields: map[string]Field{"source": {From: "utm", Default: "web"}}})
	out, _ := m.Apply(map[string]any{})
	if out["source"] != "web" {
		t.Fatalf("got %v", out)
	}
}

func TestFields(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Mapping{Fields: map[string]Field{
		"b": {From: "b"}, "a.x": {From: "x"}, "c": {Expr: "1"},
	}})
	got := m.Fields()
	if want := []string{"a.x", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Fields() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if m.Fields()[0] != "a.x" {
		t.Fatal("Fields() exposes internal state")
	}
}

func TestApplyHostileInput(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Mapping{Passthrough: true, Fields: map[string]Field{
		"any":  {From: "deep"},
		"all":  {From: "wide[*]", Type: "integer"},
		"expr": {Expr: `source?.deep != nil && len(toJSON(source?.wide ?? [])) > 0`},
	}})

	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	wide := make([]any, 200000)
	for i := range wide {
		wide[i] = float64(i)
	}
	payloads := []any{
		nil, "str", 1.5, true, []any{}, json.Number("1"), make(chan int), struct{}{},
		map[string]any{"deep": deep(10000)},
		map[string]any{"deep": cyclic},
		map[string]any{"cyc": cyclic},
		map[string]any{"wide": wide},
		map[string]any{"wide": []any{1.0, "x", nil, map[string]any{}}},
	}
	for i, p := range payloads {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			out, probs := m.Apply(p)
			if out == nil {
				t.Fatal("nil output")
			}
			if _, err := json.Marshal(out); err != nil {
				t.Fatalf("output does not marshal: %v", err)
			}
			for _, pr := range probs {
				if pr.Field == "" || pr.Message == "" || len(pr.Message) > 400 {
					t.Errorf("bad problem %q", pr)
				}
			}
		})
	}
}

func TestApplyConcurrent(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, representative)
	payloads := []string{
		`{"email":"A@B.co","phone":"4155552671","first":"Ann","last":"Lee","age":"41","items":[{"sku":"x","price":"2"}]}`,
		`{"email":"bad","phone":"1","age":1.5,"signed_up":"2024-01-01"}`,
		`{"contact":{"city":"PARIS"},"active":"yes","score":"9.5","extra":{"a":[1,2]}}`,
		`[]`,
	}
	want := make([][]byte, len(payloads))
	for i, p := range payloads {
		out, probs := m.Apply(decode(t, p))
		want[i], _ = json.Marshal([]any{out, probs})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 200 {
				i := (g + n) % len(payloads)
				out, probs := m.Apply(decode(t, payloads[i]))
				got, _ := json.Marshal([]any{out, probs})
				if !bytes.Equal(got, want[i]) {
					t.Errorf("payload %d: got %s, want %s", i, got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestGolden maps testdata/*.input.json with the mapping in the YAML file
// of the same name and compares the output and problems with *.golden.json.
// Run with -update to rewrite the golden files.
func TestGolden(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob("testdata/*.input.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		base := strings.TrimSuffix(in, ".input.json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(base + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			var mapping Mapping
			if err := yaml.UnmarshalWithOptions(src, &mapping, yaml.Strict()); err != nil {
				t.Fatalf("parse mapping: %v", err)
			}
			m := mustCompile(t, mapping)
			payload, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, probs := m.Apply(decode(t, string(payload)))
			got, err := json.MarshalIndent(map[string]any{"output": out, "problems": probs}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := base + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs:\n%s", golden, got)
			}
		})
	}
}

func BenchmarkApply(b *testing.B) {
	m := mustCompile(b, representative)
	payload := decode(b, `{"email":" Ann@Example.com ","phone":"(415) 555-2671","first":" Ann ","last":"Lee",
		"age":"41","score":9.5,"active":"yes","signed_up":"2024-03-01T10:00:00+02:00","dob":"1983-02-01",
		"contact":{"city":"Paris"},"items":[{"sku":"a","price":"1.5"},{"sku":"b","price":2}],"extra":{"k":"v"},"utm":"ads"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, probs := m.Apply(payload); len(probs) != 0 {
			b.Fatal(probs)
		}
	}
}

func TestSensitiveFieldValueIsNotEchoed(t *testing.T) {
	m, err := Compile(Mapping{Fields: map[string]Field{
		"ssn":   {From: "ssn", Type: "integer", Sensitive: true},
		"email": {From: "email", Type: "email"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, probs := m.Apply(map[string]any{"ssn": "CANARY-123-45", "email": "CANARY-mail"})
	if len(probs) != 2 {
		t.Fatalf("problems: %v", probs)
	}
	for _, p := range probs {
		if p.Field == "ssn" && strings.Contains(p.Message, "CANARY") {
			t.Fatalf("sensitive value echoed: %v", p)
		}
		if p.Field == "email" && !strings.Contains(strings.ToUpper(p.Message), "CANARY") {
			t.Fatalf("ordinary value not quoted: %v", p)
		}
	}
}
