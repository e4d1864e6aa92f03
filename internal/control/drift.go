package control

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
)

// SourceDrift learns, per source, which fields payloads carry and with
// which JSON types, and reports when traffic departs from that baseline:
// new fields, fields that stopped coming, fields that changed type, and a
// likely rename (one field stops as another of the same type starts). It
// alerts on the first sign, before records pile up in holds. The baseline
// is learned from the first Learn payloads each process sees; it is kept in
// memory, so a restart learns it again.
type SourceDrift struct {
	// Learn is the number of payloads that make the baseline (default 200).
	Learn int
	// Window is how many recent payloads a check looks at (default 100).
	Window int
	// Alerter receives one alert per finding; nil only records them.
	Alerter *alert.Alerter
	Now     func() time.Time
	Log     *slog.Logger

	mu      sync.Mutex
	sources map[string]*sourceShape
}

// DriftFinding is one departure from a source's baseline.
type DriftFinding struct {
	Source string    `json:"source"`
	Kind   string    `json:"kind"` // new_field, missing_field, retyped_field, renamed_field
	Field  string    `json:"field"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
}

type sourceShape struct {
	learned  int
	baseline map[string]map[string]int // path -> JSON type -> count
	recent   []map[string]string       // last Window payloads: path -> type
	open     map[string]DriftFinding   // by kind+field
}

const maxPaths = 500

// Observe records one payload of a source (decoded JSON). It is cheap:
// one walk of the payload, bounded in depth and paths.
func (d *SourceDrift) Observe(ctx context.Context, source string, payload any) {
	shape := map[string]string{}
	walk("", payload, shape, 0)
	d.mu.Lock()
	if d.sources == nil {
		d.sources = map[string]*sourceShape{}
	}
	s := d.sources[source]
	if s == nil {
		s = &sourceShape{baseline: map[string]map[string]int{}, open: map[string]DriftFinding{}}
		d.sources[source] = s
	}
	learn, window := d.Learn, d.Window
	if learn <= 0 {
		learn = 200
	}
	if window <= 0 {
		window = 100
	}
	if s.learned < learn {
		for p, t := range shape {
			if s.baseline[p] == nil {
				if len(s.baseline) >= maxPaths {
					continue
				}
				s.baseline[p] = map[string]int{}
			}
			s.baseline[p][t]++
		}
		s.learned++
		d.mu.Unlock()
		return
	}
	s.recent = append(s.recent, shape)
	if len(s.recent) > window {
		s.recent = s.recent[1:]
	}
	fresh := d.check(source, s, learn, window)
	d.mu.Unlock()
	for _, f := range fresh {
		if d.Log != nil {
			d.Log.Warn("source schema drift", "source", f.Source, "kind", f.Kind, "field", f.Field, "detail", f.Detail)
		}
		if d.Alerter != nil {
			_ = d.Alerter.Notify(ctx, alert.Alert{Key: "drift:" + f.Source + ":" + f.Kind + ":" + f.Field, Kind: "source_drift", Severity: "warning",
				Title: fmt.Sprintf("Source %s: %s %s", f.Source, strings.ReplaceAll(f.Kind, "_", " "), f.Field), Text: f.Detail, Time: f.Since})
		}
	}
}

// check compares recent payloads with the baseline; it returns findings not
// reported before. A finding needs a tenth of the window (at least 3
// payloads in a row) as evidence, so one odd payload is not drift.
func (d *SourceDrift) check(source string, s *sourceShape, learn, window int) []DriftFinding {
	n := len(s.recent)
	need := max(3, window/10)
	if n < need {
		return nil
	}
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	// Judge the last `need` payloads: a field must be new, gone or retyped
	// in all of them, so a rename shows as one field stopping while the
	// other starts.
	last := s.recent[n-need:]
	n = need
	seen := map[string]map[string]int{}
	for _, shape := range last {
		for p, t := range shape {
			if seen[p] == nil {
				seen[p] = map[string]int{}
			}
			seen[p][t]++
		}
	}
	var found []DriftFinding
	var added, gone []string
	for p, types := range seen {
		total := 0
		for _, c := range types {
			total += c
		}
		base, known := s.baseline[p]
		if !known {
			if total == n {
				added = append(added, p)
			}
			continue
		}
		for t, c := range types {
			if base[t] == 0 && c == n {
				found = append(found, DriftFinding{Source: source, Kind: "retyped_field", Field: p,
					Detail: fmt.Sprintf("%s arrived as %s in %d of the last %d payloads; the baseline had %s", p, t, c, n, typeList(base)), Since: now})
			}
		}
	}
	for p, types := range s.baseline {
		total := 0
		for _, c := range types {
			total += c
		}
		if total*100 < learn*95 || strings.Contains(p, "[*]") {
			// Only fields that (nearly) always came; an array's element
			// paths come and go with its length.
			continue
		}
		if sumTypes(seen[p]) == 0 {
			gone = append(gone, p)
		}
	}
	sort.Strings(added)
	sort.Strings(gone)
	renamedFrom := map[string]bool{}
	for _, a := range added {
		kind, detail := "new_field", fmt.Sprintf("%s appeared in %d of the last %d payloads; it is not in the baseline", a, sumTypes(seen[a]), n)
		for _, g := range gone {
			if !renamedFrom[g] && sameType(s.baseline[g], seen[a]) && similar(g, a) {
				kind, detail = "renamed_field", fmt.Sprintf("%s stopped coming and %s started, with the same type: probably renamed %s -> %s", g, a, g, a)
				renamedFrom[g] = true
				break
			}
		}
		found = append(found, DriftFinding{Source: source, Kind: kind, Field: a, Detail: detail, Since: now})
	}
	for _, g := range gone {
		if renamedFrom[g] {
			continue
		}
		found = append(found, DriftFinding{Source: source, Kind: "missing_field", Field: g,
			Detail: fmt.Sprintf("%s is missing from %d of the last %d payloads; it came in nearly every baseline payload", g, n-sumTypes(seen[g]), n), Since: now})
	}
	var fresh []DriftFinding
	for _, f := range found {
		k := f.Kind + ":" + f.Field
		if _, ok := s.open[k]; !ok {
			s.open[k] = f
			fresh = append(fresh, f)
		}
	}
	return fresh
}

// Findings lists what has been detected, by source and field.
func (d *SourceDrift) Findings() []DriftFinding {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []DriftFinding
	for _, s := range d.sources {
		for _, f := range s.open {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Field < out[j].Field
	})
	return out
}

// similar says two field names plausibly name the same thing (phone and
// phone_number, emailAddress and email_address): one contains the other, or
// they share a prefix of four characters, ignoring case and separators.
func similar(a, b string) bool {
	norm := func(s string) string {
		var out []rune
		for _, r := range strings.ToLower(s) {
			if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
				out = append(out, r)
			}
		}
		return string(out)
	}
	x, y := norm(a), norm(b)
	if x == "" || y == "" {
		return false
	}
	if strings.Contains(x, y) || strings.Contains(y, x) {
		return true
	}
	n := 0
	for n < len(x) && n < len(y) && x[n] == y[n] {
		n++
	}
	return n >= 4
}

func sumTypes(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func sameType(a, b map[string]int) bool {
	for t := range b {
		if a[t] > 0 {
			return true
		}
	}
	return false
}

func typeList(m map[string]int) string {
	ts := make([]string, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return strings.Join(ts, "/")
}

// walk records the JSON type of every path of v (arrays as [*]).
func walk(prefix string, v any, out map[string]string, depth int) {
	if depth > 8 || len(out) >= maxPaths {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if prefix != "" {
			out[prefix] = "object"
		}
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, e, out, depth+1)
		}
	case []any:
		out[prefix] = "array"
		for _, e := range x {
			walk(prefix+"[*]", e, out, depth+1)
		}
	case string:
		out[prefix] = "string"
	case bool:
		out[prefix] = "boolean"
	case nil:
		// null says nothing about the field's type
	default:
		out[prefix] = "number"
	}
}
