package connector

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Spec declares what a connector type accepts: its options with their
// types, defaults, documentation and secrecy. It is the one description
// that option decoding (Decode), `sluice check` (the field path of every
// problem) and the generated options tables of docs/connectors.md and the
// README are all read from, so they cannot disagree. Each connector
// package declares its Spec in spec.go and registers it with RegisterSpec.
type Spec struct {
	// Kind is the destination type ("hubspot"), as registered.
	Kind string
	// Title names the platform in the docs ("HubSpot CRM").
	Title string
	// Doc is a paragraph for the docs: what the connector writes and how
	// it finds a record again.
	Doc string
	// Options in the order the docs list them (required ones first reads
	// best).
	Options []Option
}

// Type is the type of an option's value in the config.
type Type string

// The option types. YAML gives numbers, strings, booleans, lists and
// mappings; these say which one an option takes and how it is read.
const (
	// String is any text. With Enum it is one of a set.
	String Type = "string"
	// URL is an absolute http(s) URL; a value holding a template ({{...}})
	// is checked by the connector when it renders it.
	URL Type = "url"
	// Int is a whole number.
	Int Type = "integer"
	// Float is a number.
	Float Type = "number"
	// Bool is true or false.
	Bool Type = "boolean"
	// Duration is a Go duration string ("10s", "1m30s"), never negative.
	Duration Type = "duration"
	// StringList is a list of strings.
	StringList Type = "list of strings"
	// StringMap is a mapping of strings to strings. With Enum the values
	// are one of a set.
	StringMap Type = "map of strings"
	// Any is any value (a Block Kit array), checked by the connector.
	Any Type = "any"
)

// Option is one key under a destination's options.
type Option struct {
	Name string
	Type Type
	// Doc says what the option does, its special values and why one would
	// set it. Markdown, one paragraph.
	Doc string
	// Required options must be present and not empty.
	Required bool
	// Credential marks a required option that a destination's credential
	// block supplies instead (the access token).
	Credential bool
	// Secret options are never shown: not in errors, not in the docs'
	// defaults, not in Redact's output; their values are masked in logs.
	Secret bool
	// Default is the value used when the option is absent, of the Go type
	// the option decodes to (string for String, URL and Duration, int,
	// float64, bool, []string). nil means none, or one that depends on
	// other options (DefaultDoc says which).
	Default any
	// DefaultDoc describes a default that Default cannot hold ("email for
	// contacts"); the docs show it instead of Default.
	DefaultDoc string
	// Enum lists the accepted values of a String (or the values of a
	// StringMap), when they are a fixed set.
	Enum []string
	// Min and Max bound an Int, Float or Duration (in seconds) when set.
	Min, Max *float64
}

// AtLeast is a lower bound for Option.Min.
func AtLeast(v float64) *float64 { return &v }

// AtMost is an upper bound for Option.Max.
func AtMost(v float64) *float64 { return &v }

// Problem is one thing wrong with a destination's options.
type Problem struct {
	// Option is the option's name; its field path is "options.<Option>".
	Option  string
	Message string
}

// Path is the problem's field path below the destination.
func (p Problem) Path() string { return "options." + p.Option }

// OptionsError lists every problem of a destination's options, so that
// `sluice check` reports them all at once, each with its own field path.
type OptionsError struct {
	Problems []Problem
}

func (e *OptionsError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Path() + ": " + p.Message
	}
	return strings.Join(parts, "; ")
}

// Option returns the option named name.
func (s *Spec) Option(name string) (Option, bool) {
	for _, o := range s.Options {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// Names lists the options' names, sorted.
func (s *Spec) Names() []string {
	out := make([]string, len(s.Options))
	for i, o := range s.Options {
		out[i] = o.Name
	}
	sort.Strings(out)
	return out
}

// Normalize checks p's options against the spec and returns them with the
// defaults of absent options filled in. Every problem is reported, each
// naming its option: unknown options (with the closest known name), values
// of the wrong type, missing required options, values outside an enum or a
// range. Values of secret options never appear in messages.
func (s *Spec) Normalize(p Params) (map[string]any, error) {
	var probs []Problem
	add := func(opt, format string, args ...any) {
		probs = append(probs, Problem{Option: opt, Message: fmt.Sprintf(format, args...)})
	}
	out := make(map[string]any, len(s.Options))
	bad := map[string]bool{}
	keys := make([]string, 0, len(p.Options))
	for k := range p.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := s.Option(k)
		if !ok {
			msg := fmt.Sprintf("unknown option of type %s", s.Kind)
			if near := closest(k, s.Names()); near != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", near)
			} else {
				msg += fmt.Sprintf(" (known: %s)", strings.Join(s.Names(), ", "))
			}
			add(k, "%s", msg)
			continue
		}
		v := p.Options[k]
		if v == nil {
			continue // `key:` with nothing after it: absent
		}
		nv, msg := o.check(v)
		if msg != "" {
			// A problem with one entry of a mapping names the entry.
			if key, rest, ok := strings.Cut(msg, "\x00"); ok {
				add(k+"."+key, "%s", rest)
			} else {
				add(k, "%s", msg)
			}
			bad[k] = true
			continue
		}
		out[k] = nv
	}
	for _, o := range s.Options {
		v, present := out[o.Name]
		if present && !blank(v) || bad[o.Name] {
			continue
		}
		switch {
		case o.Default != nil && !present:
			out[o.Name] = o.Default
		case o.Required && !(o.Credential && p.Credential != nil):
			if present {
				add(o.Name, "required, and must not be empty")
			} else if len(o.Enum) > 0 {
				add(o.Name, "required: one of %s", strings.Join(o.Enum, ", "))
			} else {
				add(o.Name, "required (%s)", firstSentence(o.Doc))
			}
		}
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Option < probs[j].Option })
		return nil, &OptionsError{Problems: probs}
	}
	return out, nil
}

// Decode checks p's options against the spec (Normalize) and decodes them,
// defaults filled in, into the connector's options struct, whose json tags
// name the options. It replaces DecodeOptions for connectors with a Spec.
func (s *Spec) Decode(p Params, into any) error {
	opts, err := s.Normalize(p)
	if err != nil {
		return err
	}
	return DecodeOptions(opts, into)
}

// Redact returns a copy of options with the value of every secret option
// replaced by "[redacted]", for showing a destination's options.
func (s *Spec) Redact(options map[string]any) map[string]any {
	out := make(map[string]any, len(options))
	for k, v := range options {
		// An unknown option may be a misspelt secret: masked too.
		if o, ok := s.Option(k); (!ok || o.Secret) && !blank(v) {
			v = "[redacted]"
		}
		out[k] = v
	}
	return out
}

// Secrets returns the values of options's secret options, for the
// redactor of logs and errors.
func (s *Spec) Secrets(options map[string]any) []string {
	var out []string
	for _, o := range s.Options {
		if str, ok := options[o.Name].(string); ok && o.Secret && str != "" {
			out = append(out, str)
		}
	}
	return out
}

// check reads v as o's type and returns it in its decoded Go form, or a
// message saying what is wrong.
func (o Option) check(v any) (any, string) {
	show := func() string {
		if o.Secret {
			return "the value"
		}
		b, _ := json.Marshal(v)
		if len(b) > 60 {
			b = append(b[:57], "..."...)
		}
		return string(b)
	}
	want := func(what string) (any, string) {
		return nil, fmt.Sprintf("want %s, got %s (%s)", what, kindOf(v), show())
	}
	switch o.Type {
	case String, URL:
		s, ok := v.(string)
		if !ok {
			return want("a string")
		}
		if len(o.Enum) > 0 && s != "" && !contains(o.Enum, s) {
			return nil, fmt.Sprintf("%s is not one of %s", show(), strings.Join(o.Enum, ", "))
		}
		if o.Type == URL && s != "" && !strings.Contains(s, "{{") {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Sprintf("must start with http:// or https:// and name a host (got %s)", show())
			}
		}
		return s, ""
	case Int:
		f, ok := number(v)
		if !ok {
			return want("a whole number")
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return want("a whole number")
		}
		if msg := o.inRange(f, show); msg != "" {
			return nil, msg
		}
		return int(f), ""
	case Float:
		f, ok := number(v)
		if !ok {
			return want("a number")
		}
		if msg := o.inRange(f, show); msg != "" {
			return nil, msg
		}
		return f, ""
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return want("true or false")
		}
		return b, ""
	case Duration:
		s, ok := v.(string)
		if !ok {
			return want(`a duration such as "10s" or "1m30s"`)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Sprintf(`%s is not a duration such as "10s" or "1m30s"`, show())
		}
		if d < 0 {
			return nil, fmt.Sprintf("%s is negative", show())
		}
		if msg := o.inRange(d.Seconds(), show); msg != "" {
			return nil, msg
		}
		return s, ""
	case StringList:
		list, ok := strings_(v)
		if !ok {
			return want("a list of strings")
		}
		return list, ""
	case StringMap:
		m, ok := stringMap(v)
		if !ok {
			return want("a mapping of strings to strings")
		}
		if len(o.Enum) > 0 {
			for _, k := range sortedKeys(m) {
				if !contains(o.Enum, m[k]) {
					return nil, fmt.Sprintf("%s\x00%q is not one of %s", k, m[k], strings.Join(o.Enum, ", "))
				}
			}
		}
		return m, ""
	case Any:
		return v, ""
	}
	return nil, fmt.Sprintf("spec error: option type %q unknown", o.Type)
}

func (o Option) inRange(f float64, show func() string) string {
	unit := ""
	if o.Type == Duration {
		unit = "s"
	}
	switch {
	case o.Min != nil && f < *o.Min:
		return fmt.Sprintf("%s is less than the minimum %v%s", show(), *o.Min, unit)
	case o.Max != nil && f > *o.Max:
		return fmt.Sprintf("%s is more than the maximum %v%s", show(), *o.Max, unit)
	}
	return ""
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func strings_(v any) ([]string, bool) {
	switch x := v.(type) {
	case []string:
		return x, true
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func stringMap(v any) (map[string]string, bool) {
	switch x := v.(type) {
	case map[string]string:
		return x, true
	case map[string]any:
		out := make(map[string]string, len(x))
		for k, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[k] = s
		}
		return out, true
	}
	return nil, false
}

func kindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64, json.Number:
		return "a number"
	case []any, []string:
		return "a list"
	case map[string]any, map[string]string:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

func blank(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map:
		return rv.Len() == 0
	}
	return false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

// closest is the known name within two edits of name, or that starts
// with it ("bearer" for "bearer_token"), "" when none is.
func closest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		d := editDistance(name, k)
		if len(name) >= 4 && strings.HasPrefix(k, name) {
			d = 2
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
