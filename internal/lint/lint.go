// Package lint checks a config against what its flows actually produce.
//
// config.Validate checks references between sections and the pipeline
// compiles each mapping, schema and expression on its own; neither knows
// that `when: 'seat >= 50'` names a field no normalize block writes, or that
// `company >= 50` compares a string with a number. Each of those mistakes
// passes a per-piece compile and then breaks every event at run time. Lint
// builds the shape of each flow's canonical record (the fields its normalize
// block writes, typed by their coercion, plus the entity schema's properties
// when the mapping passes unknown fields through) and checks every name and
// expression that reads a record against it: route conditions, computed
// fields, require lists, the entity key, route maps and the templates of
// destinations that render the payload.
package lint

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/types"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/normalize"
)

// Check returns every problem found, with its config path. conns are the
// opened destinations by name; those that implement connector.PayloadReader
// have their templates checked against the payload each route sends them.
// Sections that do not compile (reported by config.Validate and
// pipeline.Compile) are skipped rather than reported twice.
func Check(c *config.Config, conns map[string]connector.Connector) config.Errors {
	var es config.Errors
	schemas := map[string]*schemaShape{}
	for _, en := range sortedKeys(c.Entities) {
		doc, err := c.SchemaJSON(en)
		if err != nil || doc == nil {
			continue
		}
		var s map[string]any
		if json.Unmarshal(doc, &s) != nil {
			continue
		}
		schemas[en] = readSchema(s)
	}
	for _, fn := range sortedKeys(c.Flows) {
		f := c.Flows[fn]
		if f == nil {
			continue
		}
		p := "flows." + fn
		ent := c.Entities[f.Entity]
		sch := schemas[f.Entity]
		rec := recordShape(f.Normalize, sch, p+".normalize", &es, "entities."+f.Entity+".schema")
		desc := fmt.Sprintf("the record flow %q produces", fn)

		checkExprs(f.Normalize, types.Any, p+".normalize", &es)
		checkTriggerSource(c, fn, f, &es)
		for i, name := range f.Require {
			if msg := missing(rec, name, desc); msg != "" {
				es.Add(fmt.Sprintf("%s.require[%d]", p, i), "%s: every record would be held", msg)
			}
		}
		if ent != nil && ent.Key != "" {
			if msg := missing(rec, ent.Key, desc); msg != "" {
				es.Add("entities."+f.Entity+".key", "%s: every record would be held without a key", msg)
			}
		}
		if sch != nil {
			for _, name := range sch.required {
				if msg := missing(rec, name, desc); msg != "" {
					es.Add("entities."+f.Entity+".schema.required", "%s: every record would be held", msg)
				}
			}
		}
		for _, rn := range sortedKeys(f.Routes) {
			r := f.Routes[rn]
			if r == nil {
				continue
			}
			rp := p + ".routes." + rn
			if r.When != "" {
				if _, err := expr.Compile(r.When, expr.Env(rec), expr.AsBool()); err != nil {
					es.Add(rp+".when", "%s", withFields(exprMessage(err), rec))
				}
			}
			for i, name := range r.Require {
				if msg := missing(rec, name, desc); msg != "" {
					es.Add(fmt.Sprintf("%s.require[%d]", rp, i), "%s: every record this route matches would be held", msg)
				}
			}
			payload := rec
			payloadDesc := fmt.Sprintf("the payload route %s sends", rp)
			if r.Map != nil {
				for _, name := range sortedKeys(r.Map.Fields) {
					from := r.Map.Fields[name].From
					if from == "" {
						continue
					}
					if msg := missing(rec, fromPath(from), desc); msg != "" {
						es.Add(rp+".map.fields."+name+".from", "%s: the field would never be sent", msg)
					}
				}
				checkExprs(*r.Map, rec, rp+".map", &es)
				var ignore config.Errors
				payload = recordShape(*r.Map, nil, rp+".map", &ignore, "")
			}
			pr, ok := conns[r.Destination].(connector.PayloadReader)
			if !ok {
				continue
			}
			for _, pf := range pr.PayloadFields() {
				if msg := missing(payload, strings.Join(pf.Path, "."), payloadDesc); msg != "" {
					es.Add("destinations."+r.Destination+"."+pf.Option, "%s: every message would fail to render", msg)
				}
			}
		}
	}
	return dedupe(es)
}

// schemaShape is what lint reads of an entity's JSON Schema.
type schemaShape struct {
	props    map[string]types.Type
	kinds    map[string][]string // JSON Schema type names per property
	required []string
	closed   bool // additionalProperties: false
}

func readSchema(s map[string]any) *schemaShape {
	sh := &schemaShape{props: map[string]types.Type{}, kinds: map[string][]string{}}
	if props, ok := s["properties"].(map[string]any); ok {
		for name, v := range props {
			ps, _ := v.(map[string]any)
			sh.kinds[name] = typeNames(ps["type"])
			sh.props[name] = schemaType(ps)
		}
	}
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				sh.required = append(sh.required, name)
			}
		}
	}
	if ap, ok := s["additionalProperties"].(bool); ok && !ap {
		sh.closed = true
	}
	return sh
}

func typeNames(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok && s != "null" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// schemaType is the expression type of a schema property: a single
// non-null JSON type maps to its Go type, objects with properties to a map
// (open unless additionalProperties is false), anything else to any.
func schemaType(s map[string]any) types.Type {
	names := typeNames(s["type"])
	if len(names) != 1 {
		return types.Any
	}
	switch names[0] {
	case "string":
		return types.String
	case "integer", "number":
		return types.Float64
	case "boolean":
		return types.Bool
	case "array":
		return types.Array(types.Any)
	case "object":
		props, ok := s["properties"].(map[string]any)
		if !ok {
			return types.Any
		}
		m := types.Map{}
		for name, v := range props {
			ps, _ := v.(map[string]any)
			m[name] = schemaType(ps)
		}
		if ap, ok := s["additionalProperties"].(bool); !ok || ap {
			m[types.Extra] = types.Any
		}
		return m
	}
	return types.Any
}

// fieldType is the expression type of a mapping field's coerced value.
func fieldType(f normalize.Field) types.Type {
	var t types.Type
	switch f.Type {
	case "string", "email", "phone", "datetime", "date":
		t = types.String
	case "number":
		t = types.Float64
	case "integer":
		t = types.Int64
	case "boolean":
		t = types.Bool
	case "array":
		return types.Array(types.Any)
	default: // "", any, object
		return types.Any
	}
	if strings.Contains(f.From, "[*]") {
		return types.Array(t)
	}
	return t
}

// compatible reports whether a mapping type can satisfy a schema's types.
func compatible(mapping string, schema []string) bool {
	if len(schema) == 0 {
		return true
	}
	var want []string
	switch mapping {
	case "", "any":
		return true
	case "string", "email", "phone", "datetime", "date":
		want = []string{"string"}
	case "number":
		want = []string{"number"}
	case "integer":
		want = []string{"integer", "number"}
	case "boolean":
		want = []string{"boolean"}
	case "array":
		want = []string{"array"}
	case "object":
		want = []string{"object"}
	default:
		return true // an unknown type is the mapping's compile error
	}
	for _, s := range schema {
		for _, w := range want {
			if s == w {
				return true
			}
		}
	}
	return false
}

// recordShape builds the typed shape of what a mapping writes. With
// Passthrough the record may hold any of the source's keys, so the shape is
// open, and the schema's properties give the names and types it can be
// sure of. A mapping type the schema would reject is reported at path.
func recordShape(m normalize.Mapping, sch *schemaShape, path string, es *config.Errors, schemaPath string) types.Map {
	rec := types.Map{}
	if sch != nil && m.Passthrough {
		for name, t := range sch.props {
			rec[name] = t
		}
	}
	if m.Passthrough && (sch == nil || !sch.closed) {
		rec[types.Extra] = types.Any
	}
	for _, name := range sortedKeys(m.Fields) {
		f := m.Fields[name]
		segs := strings.Split(name, ".")
		t := fieldType(f)
		if len(segs) == 1 && sch != nil {
			if st, ok := sch.props[name]; ok && t == types.Any {
				t = st
			}
			if schemaPath != "" && !compatible(f.Type, sch.kinds[name]) {
				es.Add(path+".fields."+name+".type", "produces %s but %s.properties.%s is %s: every record would be rejected",
					f.Type, schemaPath, name, strings.Join(sch.kinds[name], " or "))
			}
		}
		put(rec, segs, t)
	}
	return rec
}

func put(m types.Map, segs []string, t types.Type) {
	for _, s := range segs[:len(segs)-1] {
		sub, ok := m[s].(types.Map)
		if !ok {
			sub = types.Map{}
			m[s] = sub
		}
		m = sub
	}
	m[segs[len(segs)-1]] = t
}

// checkExprs type-checks a mapping's computed fields against the typed
// fields the same mapping writes directly and source, the record it reads
// (types.Any for a raw webhook payload, whose shape Sluice does not know).
func checkExprs(m normalize.Mapping, source types.Type, path string, es *config.Errors) {
	env := types.Map{"source": source}
	for _, name := range sortedKeys(m.Fields) {
		f := m.Fields[name]
		if f.Expr == "" {
			put(env, strings.Split(name, "."), fieldType(f))
		}
	}
	for _, name := range sortedKeys(m.Fields) {
		f := m.Fields[name]
		if f.Expr == "" {
			continue
		}
		_, err := expr.Compile(f.Expr, expr.Env(env), coalesce)
		if err != nil {
			es.Add(path+".fields."+name+".expr", "%s", exprMessage(err))
		}
	}
}

// coalesce mirrors normalize's function so expressions using it compile.
var coalesce = expr.Function("coalesce", func(args ...any) (any, error) { return nil, nil })

// missing explains why a dotted name cannot be found in shape, or returns
// "" when it can (or when the shape is open at that point).
func missing(shape types.Map, name string, desc string) string {
	if name == "" {
		return ""
	}
	segs := strings.Split(name, ".")
	cur := shape
	for i, s := range segs {
		t, ok := cur[s]
		if !ok {
			if _, open := cur[types.Extra]; open {
				return ""
			}
			if i == 0 {
				return fmt.Sprintf("no field %q in %s (its fields: %s)", name, desc, fieldList(cur))
			}
			return fmt.Sprintf("no field %q in %s (%s has: %s)", name, desc, strings.Join(segs[:i], "."), fieldList(cur))
		}
		sub, isMap := t.(types.Map)
		if !isMap {
			if i < len(segs)-1 && t != types.Any && t.Nature().Kind != reflect.Interface {
				return fmt.Sprintf("%q in %s is a %s, which has no field %q", strings.Join(segs[:i+1], "."), desc, t, segs[i+1])
			}
			return "" // a value lint cannot look into
		}
		cur = sub
	}
	return ""
}

func fieldList(m types.Map) string {
	var names []string
	for k := range m {
		if k != types.Extra {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	if len(names) > 12 {
		return strings.Join(names[:12], ", ") + fmt.Sprintf(" and %d more", len(names)-12)
	}
	return strings.Join(names, ", ")
}

// fromPath turns a mapping source path into the dotted names lint can
// check: the part before the first index ("items[0].sku" -> "items").
func fromPath(from string) string {
	if i := strings.IndexByte(from, '['); i >= 0 {
		from = from[:i]
	}
	return strings.TrimSuffix(from, ".")
}

// withFields adds the record's field names to an unknown-name error, so the
// operator sees the likely spelling at once.
func withFields(msg string, rec types.Map) string {
	if !strings.HasPrefix(msg, "unknown name") {
		return msg
	}
	return fmt.Sprintf("%s; the record has: %s", msg, fieldList(rec))
}

// exprMessage is the first line of an expr-lang error (the rest is the
// expression again with a caret under the position).
func exprMessage(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func dedupe(es config.Errors) config.Errors {
	seen := map[config.FieldError]bool{}
	out := es[:0]
	for _, e := range es {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// triggerKeys are the top-level keys of the payload Sluice itself builds
// for a record read from a platform (a poll, a platform webhook):
// pipeline.PolledPayload.
var triggerKeys = map[string]bool{"platform": true, "object": true, "id": true, "modified_at": true, "deleted": true, "fields": true}

// checkTriggerSource checks a flow whose source reads a platform (poll or
// platform webhook): its normalize block must read the payload Sluice
// builds (a record's own fields are under "fields."), and a platform
// webhook source whose flow writes back to the same platform must name
// that destination, or Sluice's own writes return as new events forever.
func checkTriggerSource(c *config.Config, fn string, f *config.Flow, es *config.Errors) {
	src := c.Sources[f.Source]
	if src == nil || (src.Poll == nil && src.Platform == nil) {
		return
	}
	p := "flows." + fn
	for _, name := range sortedKeys(f.Normalize.Fields) {
		from := f.Normalize.Fields[name].From
		if from == "" {
			continue
		}
		head, _, _ := strings.Cut(fromPath(from), ".")
		if !triggerKeys[head] {
			es.Add(p+".normalize.fields."+name+".from", "source %s delivers records as {platform, object, id, modified_at, deleted, fields}: %q is not there (a record's own field is fields.%s)", f.Source, from, from)
		}
	}
	pl := src.Platform
	if pl == nil || pl.Destination != "" {
		return
	}
	for _, rn := range sortedKeys(f.Routes) {
		r := f.Routes[rn]
		if r == nil {
			continue
		}
		if d := c.Destinations[r.Destination]; d != nil && d.Type == pl.Kind {
			es.Add("sources."+f.Source+".platform.destination", "flow %s writes to %s destination %s: without platform.destination naming it, Sluice's own writes come back through the webhook as new events (a loop)", fn, pl.Kind, r.Destination)
		}
	}
}
