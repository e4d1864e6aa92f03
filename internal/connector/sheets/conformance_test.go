package sheets_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/connectortest"
	sheetssim "github.com/sluicehq/sluice/internal/sim/sheets"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

func TestConformance(t *testing.T) {
	connectortest.Exercise(t, connectortest.Harness{
		New: func(t *testing.T) (connector.Connector, connectortest.Sim) {
			s, err := sheetssim.New(sheetssim.Options{Seed: 7, Tokens: []string{token}, ReadsPerMinute: -1, WritesPerMinute: -1,
				ProjectReadsPerMinute: -1, ProjectWritesPerMinute: -1, Spreadsheets: []sheetssim.Spreadsheet{leadsBook()}})
			if err != nil {
				t.Fatal(err)
			}
			url := simtest.Start(t, s).URL
			c, err := connector.New("sheets", connector.Params{Name: "leads", Options: map[string]any{"base_url": url, "token": token,
				"spreadsheet_id": bookID, "sheet": "Leads", "key_column": "email"}, AllowPrivateNetwork: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { connector.Close(context.Background(), c) })
			return c, s
		},
		Payload: func(key string, variant int) map[string]any {
			return map[string]any{"email": key, "name": "Variant" + string(rune('A'+variant))}
		},
		Field: "name",
		Count: func(s connectortest.Sim, key string) int {
			return countKey(s.(*sheetssim.Server), key)
		},
		FieldValue:    func(f map[string]any) any { return f["name"] },
		ExpectedValue: func(key string, variant int) any { return "Variant" + string(rune('A'+variant)) },
		DriftField:    "name",
		// Sheets applies values:batchUpdate and values:append atomically.
		AtomicBatch: true,
	})
}
