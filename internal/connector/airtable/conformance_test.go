package airtable_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/connectortest"
	airtablesim "github.com/sluicehq/sluice/internal/sim/airtable"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

func TestConformance(t *testing.T) {
	connectortest.Exercise(t, connectortest.Harness{
		New: func(t *testing.T) (connector.Connector, connectortest.Sim) {
			s, err := airtablesim.New(airtablesim.Options{Seed: 7, Tokens: []string{token}, RateLimit: -1})
			if err != nil {
				t.Fatal(err)
			}
			url := simtest.Start(t, s).URL
			c, err := connector.New("airtable", connector.Params{Name: "crm", Options: map[string]any{"base_url": url, "token": token,
				"base_id": airtablesim.DefaultBaseID, "table": "Contacts", "key_field": "Email", "rate_per_second": 100}, AllowPrivateNetwork: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { connector.Close(context.Background(), c) })
			return c, s
		},
		Payload: func(key string, variant int) map[string]any {
			return map[string]any{"Email": key, "Name": "Variant" + string(rune('A'+variant))}
		},
		Field: "Name",
		Count: func(s connectortest.Sim, key string) int {
			n := 0
			for _, r := range s.(*airtablesim.Server).Records(airtablesim.DefaultBaseID, "Contacts") {
				if r.Fields["Email"] == key {
					n++
				}
			}
			return n
		},
		FieldValue:    func(f map[string]any) any { return f["Name"] },
		ExpectedValue: func(key string, variant int) any { return "Variant" + string(rune('A'+variant)) },
		DriftField:    "Name",
	})
}
