package notion_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/sim"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
)

func TestConformance(t *testing.T) {
	connectortest.Exercise(t, connectortest.Harness{
		New: func(t *testing.T) (connector.Connector, connectortest.Sim) {
			s, err := notionsim.New(notionsim.Options{Seed: 7, Tokens: []string{token}, RateLimit: -1})
			if err != nil {
				t.Fatal(err)
			}
			url := sim.Start(t, s).URL
			// No properties option: the connector types the payload by the
			// database schema it fetches.
			c, err := connector.New("notion", connector.Params{Name: "pages", Options: map[string]any{"base_url": url, "token": token,
				"database_id": dbID, "key_property": "Email", "rate_per_second": 1000}, AllowPrivateNetwork: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c, s
		},
		Payload: func(key string, variant int) map[string]any {
			return map[string]any{"Email": key, "Name": "Variant" + string(rune('A'+variant)), "Notes": "note"}
		},
		Field: "Name",
		Count: func(s connectortest.Sim, key string) int {
			n := 0
			for _, p := range s.(*notionsim.Server).Pages(dbID) {
				if p.Properties["Email"] == key {
					n++
				}
			}
			return n
		},
		FieldValue:    func(f map[string]any) any { return f["Name"] },
		ExpectedValue: func(key string, variant int) any { return "Variant" + string(rune('A'+variant)) },
		DriftField:    "Notes",
	})
}
