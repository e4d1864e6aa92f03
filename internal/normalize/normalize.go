// Package normalize owns Sluice's declarative field mapping: the rules that
// turn a source payload (decoded JSON) into a flow's canonical record, and
// that a route reuses to turn a canonical record into a destination's
// shape.
//
// A Mapping is configuration; Compile validates all of it at once and
// returns a Mapper, which is immutable and shared by every goroutine that
// maps records. Apply never fails as a whole: each field that cannot be
// produced becomes a Problem and the rest of the record is still built, so
// the pipeline can decide whether to reject it. A field whose source is
// missing or null is simply absent; deciding that a field is required is
// the job of internal/validate.
//
// Output names may contain dots to build nested objects: the fields
// "properties.email" and "properties.firstname" produce
//
//	{"properties": {"email": "...", "firstname": "..."}}
//
// which is how a route mapping produces a platform's shape (HubSpot's
// properties, Airtable's fields). A name cannot be both a value and an
// object, so "properties" and "properties.email" in one mapping is a
// compile error.
package normalize

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
	"github.com/nyaruka/phonenumbers"
)

// Field says how one output field is produced. Exactly one of From and
// Expr may be set; with neither, the field is the constant Default.
type Field struct {
	// From is the source path: "email", "contact.first", "items[0].sku", or
	// "items[*].sku", which collects one value per array element (elements
	// where the rest of the path is missing or null are skipped; nested [*]
	// flatten). A leading index ("[0].id") addresses an array payload. Keys
	// containing '.', '[' or ']' cannot be addressed.
	From string `yaml:"from" json:"from,omitempty"`
	// Type is what the value is coerced to: "" or "any" (kept as is),
	// string, number (float64), integer (int64, within ±2^53), boolean,
	// datetime (RFC 3339 in UTC), date (YYYY-MM-DD, the calendar date as
	// written), email, phone (E.164), array or object. On a [*] path the
	// type applies to each element, except for array.
	Type string `yaml:"type" json:"type,omitempty"`
	// Trim, Lower and Upper apply to string values before coercion.
	Trim  bool `yaml:"trim" json:"trim,omitempty"`
	Lower bool `yaml:"lower" json:"lower,omitempty"`
	Upper bool `yaml:"upper" json:"upper,omitempty"`
	// Default is used when the value is missing, null, or an empty string
	// (after Trim), and when an Expr yields nil. It must be coercible to Type; that is checked by
	// Compile. Without a Default, an empty string stays "" for types "",
	// any and string, and makes the field absent for every other type:
	// forms send "" for fields nobody filled in.
	Default any `yaml:"default" json:"default,omitempty"`
	// Expr computes the field with expr-lang/expr after all non-expr fields
	// are built. Its environment is the output of the non-expr fields
	// (nested, as in the record) plus `source`, the raw payload; use `?.`
	// and `??` for values that may be absent. Expr fields do not see each
	// other. Besides expr's built-ins (lower, upper, trim, split, join, ...)
	// there is coalesce(a, b, ...), the first argument that is neither null
	// nor an empty string. A nil result means absent; the result is then
	// coerced to Type like any other value.
	Expr string `yaml:"expr" json:"expr,omitempty"`
	// Region is the region assumed for phone numbers written without a
	// country code, e.g. "GB". Default "US". Only for type phone.
	Region string `yaml:"region" json:"region,omitempty"`
	// Sensitive marks a field whose value must never be echoed: problems
	// about it name the field and the kind of failure but not the value,
	// so it cannot reach a 422 body, the audit log or a log line.
	Sensitive bool `yaml:"sensitive" json:"sensitive,omitempty"`
	// Formats are extra Go time layouts for datetime and date input, tried
	// before the built-in ones: RFC 3339 (with or without fractional
	// seconds), "2006-01-02T15:04:05", "2006-01-02", "2006-01-02 15:04:05",
	// "01/02/2006", RFC 1123 (with a zone name or a numeric zone). Input
	// without a zone is UTC. Numbers are unix seconds, or milliseconds from
	// 1e11 on.
	Formats []string `yaml:"formats" json:"formats,omitempty"`
}

// Mapping is the declarative form of a mapping, as written in a flow's or a
// route's configuration.
type Mapping struct {
	// Fields maps output names to how they are produced.
	Fields map[string]Field `yaml:"fields" json:"fields"`
	// Passthrough copies the source's top-level keys that no field reads
	// (by the first key of its From) and no field writes. Off by default, so
	// that the canonical record holds only what the flow declares.
	Passthrough bool `yaml:"passthrough" json:"passthrough,omitempty"`
}

// Problem is one field that could not be compiled or produced. For Apply,
// Field is the output name and Message starts with the source path
// ("contact.email: expected object at contact, got string"); for Compile,
// Field is the configuration path ("fields.full_name.expr").
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// String renders a Problem the way logs and the console show it.
func (p Problem) String() string { return p.Field + ": " + p.Message }

// CompileError lists every problem Compile found, so that an operator fixes
// a mapping in one pass rather than one error at a time.
type CompileError struct {
	Problems []Problem
}

// Error joins the problems on one line, each prefixed with its path.
func (e *CompileError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// sourceVar is the name of the raw payload in an expression's environment.
const sourceVar = "source"

// Mapper is a compiled Mapping. It is immutable and safe for concurrent
// use; compile once per configuration load, not per record.
type Mapper struct {
	names       []string
	direct      []*field // fields with From or only Default, in name order
	computed    []*field // fields with Expr, in name order
	passthrough bool
	// exprSource is set when an expression reads the raw payload, which
	// then has to be prepared for expr (see exprValue).
	exprSource bool
	// reads holds the source's top-level keys some From starts with, and
	// writes the top-level output names; passthrough copies neither.
	reads  map[string]struct{}
	writes map[string]struct{}
}

type field struct {
	sensitive bool
	name      string
	segs      []string
	src       *path
	prog      *vm.Program
	kind      kind
	trim      bool
	lower     bool
	upper     bool
	hasDef    bool
	def       any
	region    string
	layouts   []string
}

// vms recycles expression machines: a VM keeps its stack between runs, so
// reusing one saves allocations on the hot path. Programs are shared.
var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// Compile validates a Mapping and prepares it for Apply. It reports every
// problem it finds as a *CompileError.
func Compile(m Mapping) (*Mapper, error) {
	var probs []Problem
	bad := func(at, format string, args ...any) {
		probs = append(probs, Problem{Field: at, Message: fmt.Sprintf(format, args...)})
	}
	mp := &Mapper{
		passthrough: m.Passthrough,
		reads:       map[string]struct{}{},
		writes:      map[string]struct{}{},
	}
	for name := range m.Fields {
		mp.names = append(mp.names, name)
	}
	sort.Strings(mp.names)

	set := make(map[string]bool, len(mp.names))
	for _, name := range mp.names {
		set[name] = true
	}
	env := types.Map{sourceVar: types.Any, budgetVar: types.Any}
	type pending struct {
		f  *field
		ok bool
	}
	var exprs []pending
	for _, name := range mp.names {
		fc := m.Fields[name]
		at := "fields." + name
		f := &field{name: name, segs: strings.Split(name, "."), sensitive: fc.Sensitive}
		ok := true
		for i, s := range f.segs {
			if s == "" {
				bad(at, "output name has an empty segment")
				ok = false
				break
			}
			if prefix := strings.Join(f.segs[:i], "."); i > 0 && set[prefix] {
				bad(at, "conflicts with field %q: a name cannot be both a value and an object", prefix)
				ok = false
				break
			}
		}
		mp.writes[f.segs[0]] = struct{}{}

		k, known := parseKind(fc.Type)
		if !known {
			bad(at+".type", "unknown type %q (want any, string, number, integer, boolean, datetime, date, email, phone, array or object)", fc.Type)
			ok = false
		}
		f.kind = k
		f.trim, f.lower, f.upper = fc.Trim, fc.Lower, fc.Upper
		if fc.Lower && fc.Upper {
			bad(at, "lower and upper are mutually exclusive")
			ok = false
		}
		f.hasDef = fc.Default != nil
		switch {
		case fc.From != "" && fc.Expr != "":
			bad(at, "from and expr are mutually exclusive")
			ok = false
		case fc.From == "" && fc.Expr == "" && !f.hasDef:
			bad(at, "one of from, expr or default is required")
			ok = false
		}
		if fc.From != "" {
			p, err := parsePath(fc.From)
			if err != nil {
				bad(at+".from", "%v", err)
				ok = false
			} else {
				f.src = p
				if key, isKey := p.head(); isKey {
					mp.reads[key] = struct{}{}
				}
			}
		}

		switch {
		case fc.Region != "" && k != kindPhone:
			bad(at+".region", "only applies to type phone")
			ok = false
		case k == kindPhone:
			f.region = strings.ToUpper(fc.Region)
			if f.region == "" {
				f.region = "US"
			}
			if !phonenumbers.GetSupportedRegions()[f.region] {
				bad(at+".region", "unknown region %q", fc.Region)
				ok = false
			}
		}
		if len(fc.Formats) > 0 && k != kindDatetime && k != kindDate {
			bad(at+".formats", "only applies to types datetime and date")
			ok = false
		}
		for i, layout := range fc.Formats {
			if strings.TrimSpace(layout) == "" {
				bad(fmt.Sprintf("%s.formats[%d]", at, i), "empty layout")
				ok = false
			}
		}
		f.layouts = fc.Formats

		if f.hasDef && known {
			def, err := f.compileDefault(fc.Default)
			if err != nil {
				bad(at+".default", "%v", err)
				ok = false
			}
			f.def = def
		}

		if fc.Expr != "" {
			exprs = append(exprs, pending{f, ok})
			continue
		}
		declare(env, f.segs)
		if ok {
			mp.direct = append(mp.direct, f)
		}
	}

	// Expressions are compiled against the names of the non-expr fields, so
	// a typo in a field name is a compile error rather than a null at run
	// time.
	if len(exprs) > 0 {
		for _, name := range mp.names {
			if m.Fields[name].Expr == "" && strings.Split(name, ".")[0] == sourceVar {
				bad("fields."+name, "the name %q is reserved for the raw payload when a mapping has expr fields", sourceVar)
			}
		}
	}
	for _, e := range exprs {
		prog, err := expr.Compile(m.Fields[e.f.name].Expr, append([]expr.Option{expr.Env(env), coalesce}, ExprOptions()...)...)
		if err != nil {
			bad("fields."+e.f.name+".expr", "%s", firstLine(err.Error()))
			continue
		}
		if e.ok {
			e.f.prog = prog
			mp.computed = append(mp.computed, e.f)
			mp.exprSource = mp.exprSource || usesSource(prog)
		}
	}

	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Field < probs[j].Field })
		return nil, &CompileError{Problems: probs}
	}
	return mp, nil
}

// compileDefault checks a Default against the field's type once, so that
// Apply can hand out the coerced value.
func (f *field) compileDefault(v any) (any, error) {
	v, _, err := plain(v, 0)
	if err != nil {
		return nil, err
	}
	if f.src == nil || !f.src.wild() || f.kind == kindArray {
		return f.coerceDefault(v)
	}
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("a [*] path needs an array default, got %s", describe(v))
	}
	out := make([]any, len(a))
	for i, e := range a {
		if out[i], err = f.coerceDefault(e); err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return out, nil
}

func (f *field) coerceDefault(v any) (any, error) {
	if v == nil {
		return nil, fmt.Errorf("cannot use null as a %s", f.kind)
	}
	if s, ok := v.(string); ok {
		v = f.transform(s)
	}
	return f.coerce(v)
}

// declare adds an output name to the expression environment's type.
func declare(env types.Map, segs []string) {
	for _, s := range segs[:len(segs)-1] {
		sub, ok := env[s].(types.Map)
		if !ok {
			if _, taken := env[s]; taken {
				return // a conflict, already reported
			}
			sub = types.Map{}
			env[s] = sub
		}
		env = sub
	}
	if _, taken := env[segs[len(segs)-1]]; !taken {
		env[segs[len(segs)-1]] = types.Any
	}
}

// usesSource reports whether a program reads the raw payload, directly or
// through $env.
func usesSource(prog *vm.Program) bool {
	return ast.Find(prog.Node(), func(n ast.Node) bool {
		id, ok := n.(*ast.IdentifierNode)
		return ok && (id.Value == sourceVar || id.Value == "$env")
	}) != nil
}

var coalesce = expr.Function("coalesce", func(args ...any) (any, error) {
	for _, a := range args {
		if s, ok := a.(string); (ok && strings.TrimSpace(s) != "") || (!ok && a != nil) {
			return a, nil
		}
	}
	return nil, nil
})

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Fields returns the output names, sorted, so that callers (config
// validation, docs, the console) can list what a mapping produces.
func (m *Mapper) Fields() []string {
	return append([]string(nil), m.names...)
}

// Apply maps one payload. The output holds every field that could be
// produced (never nil); each field that could not is a Problem, in output
// name order. Apply does not modify payload, but the output may share
// nested objects and arrays with it (types any, array, object and
// passthrough), so a caller that mutates one must copy first.
func (m *Mapper) Apply(payload any) (map[string]any, []Problem) {
	out := make(map[string]any, len(m.names))
	var probs []Problem
	for _, f := range m.direct {
		v, ok, err := f.resolve(payload)
		if err != nil {
			msg := err.Error()
			if f.sensitive {
				msg = fmt.Sprintf("invalid %s value (not shown: the field is sensitive)", f.kind)
			}
			probs = append(probs, Problem{Field: f.name, Message: msg})
			continue
		}
		if ok {
			put(out, f.segs, v)
		}
	}
	if len(m.computed) > 0 {
		probs = m.compute(payload, out, probs)
	}
	if m.passthrough {
		probs = m.pass(payload, out, probs)
	}
	return out, probs
}

// compute evaluates the expr fields over the direct fields. Results are set
// only after all have run, so that no expression sees another's result.
func (m *Mapper) compute(payload any, out map[string]any, probs []Problem) []Problem {
	type result struct {
		f *field
		v any
	}
	results := make([]result, 0, len(m.computed))
	env := make(map[string]any, len(out)+1)
	for k, v := range out {
		env[k], _ = exprValue(v, 0)
	}
	env[sourceVar] = nil
	env[budgetVar] = NewBudget() // one budget for all of this record's expressions
	if m.exprSource {
		env[sourceVar], _ = exprValue(payload, 0)
	}
	machine := vms.Get().(*vm.VM)
	for _, f := range m.computed {
		v, err := machine.Run(f.prog, env)
		if err != nil {
			probs = append(probs, Problem{Field: f.name, Message: "expr: " + firstLine(err.Error())})
			continue
		}
		v, ok, err := f.finish(v)
		if err != nil {
			probs = append(probs, Problem{Field: f.name, Message: "expr result: " + err.Error()})
			continue
		}
		if ok {
			results = append(results, result{f, v})
		}
	}
	// Drop references to this payload before the machine is pooled.
	clear(machine.Stack[:cap(machine.Stack)])
	clear(machine.Variables)
	vms.Put(machine)
	for _, r := range results {
		put(out, r.f.segs, r.v)
	}
	return probs
}

func (m *Mapper) pass(payload any, out map[string]any, probs []Problem) []Problem {
	src, ok := payload.(map[string]any)
	if !ok {
		return probs
	}
	var bad []Problem
	for k, v := range src {
		if _, read := m.reads[k]; read {
			continue
		}
		if _, written := m.writes[k]; written {
			continue
		}
		v, _, err := plain(v, 1)
		if err != nil {
			bad = append(bad, Problem{Field: k, Message: k + ": " + err.Error()})
			continue
		}
		out[k] = v
	}
	// Report in a stable order: map iteration is random.
	sort.Slice(bad, func(i, j int) bool { return bad[i].Field < bad[j].Field })
	return append(probs, bad...)
}

// resolve produces a direct field's value. ok is false when the field is
// absent.
func (f *field) resolve(payload any) (v any, ok bool, err error) {
	if f.src == nil {
		return f.defaultValue()
	}
	if !f.src.wild() {
		v, found, err := f.src.get(payload)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", f.src.raw, err)
		}
		if !found {
			return f.defaultValue()
		}
		v, ok, err = f.finish(v)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", f.src.raw, err)
		}
		return v, ok, nil
	}
	vals, found, err := f.src.collect(payload)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", f.src.raw, err)
	}
	if !found {
		return f.defaultValue()
	}
	if f.kind == kindArray {
		v, ok, err = f.finish(vals)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", f.src.raw, err)
		}
		return v, ok, nil
	}
	// Coerce element by element, in place: vals is ours.
	n := 0
	for i, e := range vals {
		e, present, err := f.finishElem(e)
		if err != nil {
			return nil, false, fmt.Errorf("%s, element %d: %w", f.src.raw, i, err)
		}
		if present {
			vals[n] = e
			n++
		}
	}
	clear(vals[n:])
	return vals[:n], true, nil
}

// finish applies Trim, Lower and Upper, the blank rule and Default, and
// coercion to a found value.
func (f *field) finish(v any) (any, bool, error) {
	if s, ok := v.(string); ok {
		s = f.transform(s)
		if s == "" || (!f.kind.keepsBlank() && strings.TrimSpace(s) == "") {
			if f.hasDef || !f.kind.keepsBlank() {
				return f.defaultValue()
			}
			return "", true, nil
		}
		v = s
	}
	if v == nil {
		return f.defaultValue()
	}
	out, err := f.coerce(v)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// finishElem is finish for one element of a [*] path, where the field's
// Default (an array) does not apply.
func (f *field) finishElem(v any) (any, bool, error) {
	if s, ok := v.(string); ok {
		s = f.transform(s)
		if s == "" || (!f.kind.keepsBlank() && strings.TrimSpace(s) == "") {
			return s, f.kind.keepsBlank(), nil
		}
		v = s
	}
	out, err := f.coerce(v)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

func (f *field) transform(s string) string {
	if f.trim {
		s = strings.TrimSpace(s)
	}
	if f.lower {
		s = strings.ToLower(s)
	} else if f.upper {
		s = strings.ToUpper(s)
	}
	return s
}

func (f *field) defaultValue() (any, bool, error) {
	if !f.hasDef {
		return nil, false, nil
	}
	return clone(f.def), true, nil
}

// put sets a value under a dotted output name, creating the enclosing
// objects. Compile guarantees that no name is a prefix of another, so an
// enclosing value is always an object put created.
func put(out map[string]any, segs []string, v any) {
	for _, s := range segs[:len(segs)-1] {
		sub, ok := out[s].(map[string]any)
		if !ok {
			sub = make(map[string]any, 4)
			out[s] = sub
		}
		out = sub
	}
	out[segs[len(segs)-1]] = v
}
