package connector

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// FieldDiff is one field whose value in a destination differs from what
// Sluice wrote.
type FieldDiff struct {
	Field string
	Wrote any
	Found any
}

// CompareFields lists the fields of wrote whose read-back value in found
// differs. Only fields present in both are compared: platforms return their
// own subset of fields (HubSpot only the properties asked for, Slack a
// rendered message). Values are compared leniently (numbers numerically,
// strings case-insensitively after trimming, lists as sets) so a platform's
// formatting is not a difference. Consistency checks and conflict detection
// both judge "has it changed" with it.
func CompareFields(wrote, found map[string]any) []FieldDiff {
	var out []FieldDiff
	keys := make([]string, 0, len(wrote))
	for k := range wrote {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fv, ok := found[k]
		if !ok {
			continue
		}
		if !SameValue(wrote[k], fv) {
			out = append(out, FieldDiff{Field: k, Wrote: wrote[k], Found: fv})
		}
	}
	return out
}

// SameValue is CompareFields' lenient equality.
func SameValue(a, b any) bool {
	if a == nil || b == nil {
		return isEmpty(a) && isEmpty(b)
	}
	as, bs := flat(a), flat(b)
	if af, err := strconv.ParseFloat(as, 64); err == nil {
		if bf, err := strconv.ParseFloat(bs, 64); err == nil {
			return af == bf
		}
	}
	return strings.EqualFold(strings.TrimSpace(as), strings.TrimSpace(bs))
}

func isEmpty(v any) bool { return v == nil || flat(v) == "" }

func flat(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = flat(e)
		}
		sort.Strings(parts)
		return strings.Join(parts, ";")
	case []string:
		parts := append([]string(nil), x...)
		sort.Strings(parts)
		return strings.Join(parts, ";")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return strings.Trim(string(b), `"`)
	}
}
