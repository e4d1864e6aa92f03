package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.Prober = (*Conn)(nil)

// Probe reads the object type's properties (GET /crm/v3/properties/{object},
// which needs the same read scope as lookups) and checks that every
// property the options name exists: id_property, the date, multiple
// checkbox and lookup properties. A missing one is Drift, as a write
// would find it.
func (c *Conn) Probe(ctx context.Context) (string, error) {
	r, err := c.call(ctx, http.MethodGet, "/crm/v3/properties/"+c.object, nil, c.searches)
	if err != nil {
		return "", err
	}
	if r.status != http.StatusOK {
		return "", c.statusError(r)
	}
	var ans struct {
		Results []struct {
			Name string `json:"name"`
		} `json:"results"`
	}
	if err := json.Unmarshal(r.body, &ans); err != nil {
		return "", &connector.Error{Class: connector.Retryable, Status: r.status, Message: "properties: unreadable answer: " + err.Error()}
	}
	have := map[string]bool{}
	for _, p := range ans.Results {
		have[p.Name] = true
	}
	var missing []string
	for _, p := range c.readProps {
		if !have[p] && !slices.Contains(missing, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", &connector.Error{Class: connector.Drift, Status: r.status, Code: "PROPERTY_DOESNT_EXIST",
			Message: fmt.Sprintf("%s has no propert%s %s", c.object, plural(len(missing)), strings.Join(missing, ", "))}
	}
	return fmt.Sprintf("credentials and %d properties of %s", len(c.readProps), c.object), nil
}

func plural(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}
