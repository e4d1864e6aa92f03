package hubspot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/connectortest"
	hubspotsim "github.com/sluicehq/sluice/internal/sim/hubspot"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

func TestConformance(t *testing.T) {
	connectortest.Exercise(t, connectortest.Harness{
		New: func(t *testing.T) (connector.Connector, connectortest.Sim) {
			s, err := hubspotsim.New(hubspotsim.Options{Seed: 7, Tokens: []string{token}, RateLimit: -1, SearchRate: -1})
			if err != nil {
				t.Fatal(err)
			}
			url := simtest.Start(t, s).URL
			c, err := connector.New("hubspot", connector.Params{Name: "crm", Options: map[string]any{"base_url": url, "token": token, "object": "contacts",
				"lookup_properties": []string{"email", "firstname"}}, AllowPrivateNetwork: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { connector.Close(context.Background(), c) })
			return c, s
		},
		Payload: func(key string, variant int) map[string]any {
			return map[string]any{"email": key, "firstname": "Variant" + string(rune('A'+variant))}
		},
		Field: "firstname",
		Count: func(s connectortest.Sim, key string) int {
			n := 0
			for _, r := range s.(*hubspotsim.Server).Records("contacts") {
				if strings.EqualFold(r["email"], key) {
					n++
				}
			}
			return n
		},
		FieldValue:    func(f map[string]any) any { return f["firstname"] },
		ExpectedValue: func(key string, variant int) any { return "Variant" + string(rune('A'+variant)) },
		DriftField:    "firstname",
	})
}
