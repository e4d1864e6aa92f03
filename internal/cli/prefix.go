package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluicehq/sluice/internal/id"
)

// idCollections maps an admin path's collection to the kind of ID it is
// addressed by and the list that pages through those IDs newest first.
var idCollections = map[string]struct{ kind, list, key string }{
	"events":      {"evt", "/v1/events", "events"},
	"holds":       {"evt", "/v1/events", "events"},
	"escalations": {"esc", "/v1/escalations", "escalations"},
	"tickets":     {"esc", "/v1/escalations", "escalations"},
}

// expandIDPath rewrites an admin path addressing one event or escalation
// by a unique prefix of its ID (evt_01JAB, or 01JAB without the kind) to
// the full ID, as git does with hashes. IDs are time-ordered (ULIDs), so
// the newest two IDs below the prefix's upper bound, read from the list
// the collection already has, say whether the prefix matches none, one or
// several. A full ID, and any other path, is left as it is.
func expandIDPath(ctx context.Context, c *Client, path string) (string, error) {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return path, nil
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 2 {
		return path, nil
	}
	coll, ok := idCollections[parts[0]]
	if !ok || parts[1] == "" || parts[1] == "bulk" {
		return path, nil
	}
	full, err := expandID(ctx, c, coll.kind, coll.list, coll.key, parts[1])
	if err != nil {
		return "", err
	}
	parts[1] = url.PathEscape(full)
	return "/v1/" + strings.Join(parts, "/"), nil
}

func expandID(ctx context.Context, c *Client, kind, list, key, given string) (string, error) {
	raw, err := url.PathUnescape(given)
	if err != nil {
		return given, nil
	}
	ulidPart := strings.TrimPrefix(raw, kind+"_")
	if strings.Contains(ulidPart, "_") || ulidPart == "" {
		return given, nil // another kind of ID: let the server say so
	}
	candidate := kind + "_" + strings.ToUpper(ulidPart)
	if id.Valid(kind, candidate) || len(ulidPart) >= 26 {
		return candidate, nil
	}
	bound := candidate + strings.Repeat("Z", 26-len(ulidPart))
	if !id.Valid(kind, bound) {
		return given, nil // cannot be a prefix of an ID: the server answers 404
	}
	// The bound itself is an ID only in theory (random part all Z); a
	// list below it sees every other ID with the prefix.
	out, err := c.Admin(ctx, http.MethodGet, list, url.Values{"before": {bound}, "limit": {"2"}}, nil)
	if err != nil {
		return "", fmt.Errorf("look up ID prefix %s: %w", given, err)
	}
	var page map[string][]struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &page); err != nil {
		return "", fmt.Errorf("look up ID prefix %s: %w", given, err)
	}
	var matches []string
	for _, it := range page[key] {
		if strings.HasPrefix(it.ID, candidate) {
			matches = append(matches, it.ID)
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no %s ID starts with %s", kind, candidate)
	case 1:
		return matches[0], nil
	default:
		return "", fmt.Errorf("ID prefix %s is ambiguous: it matches %s, %s and maybe more; give more characters", candidate, matches[0], matches[1])
	}
}
