package notion_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/connectortest"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

// A database with two data sources, as Notion-Version 2025-09-03 allows:
// the connector writes to the "Leads" one, named by data_source_id.
const (
	multiDB       = "4c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	leadsSource   = "5d2e3f4a-6b7c-4d8e-9fa0-1b2c3d4e5f60"
	partnerSource = "6e3f4a5b-7c8d-4e9f-a0b1-2c3d4e5f6071"
)

func twoSources() []notionsim.Database {
	leads := notionsim.DefaultDatabases()[0].Properties
	return []notionsim.Database{{
		ID: multiDB, Title: "People",
		DataSources: []notionsim.DataSource{
			{ID: leadsSource, Name: "Leads", Properties: leads, KeyProperty: "Email"},
			{ID: partnerSource, Name: "Partners", Properties: []notionsim.Property{{Name: "Name", Type: notionsim.TypeTitle}, {Name: "Email", Type: notionsim.TypeEmail}}},
		},
	}}
}

// TestConformance runs the suite at the current version (2025-09-03)
// against a database with two data sources, and at the legacy 2022-06-28
// against a single-source database.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dbs     []notionsim.Database
		options map[string]any
		pagesOf string
		drift   string
	}{
		{"2025-09-03 two data sources", twoSources(), map[string]any{"database_id": multiDB, "data_source_id": leadsSource}, leadsSource, "Notes"},
		{"2022-06-28 legacy", nil, map[string]any{"database_id": dbID, "notion_version": "2022-06-28"}, dbID, "Notes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			connectortest.Exercise(t, connectortest.Harness{
				New: func(t *testing.T) (connector.Connector, connectortest.Sim) {
					s, err := notionsim.New(notionsim.Options{Seed: 7, Tokens: []string{token}, RateLimit: -1, Databases: tc.dbs})
					if err != nil {
						t.Fatal(err)
					}
					url := simtest.Start(t, s).URL
					// No properties option: the connector types the payload by the
					// schema it fetches.
					o := map[string]any{"base_url": url, "token": token, "key_property": "Email", "rate_per_second": 1000}
					for k, v := range tc.options {
						o[k] = v
					}
					c, err := connector.New("notion", connector.Params{Name: "pages", Options: o, AllowPrivateNetwork: true})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { connector.Close(context.Background(), c) })
					return c, s
				},
				Payload: func(key string, variant int) map[string]any {
					return map[string]any{"Email": key, "Name": "Variant" + string(rune('A'+variant)), "Notes": "note"}
				},
				Field: "Name",
				Count: func(s connectortest.Sim, key string) int {
					n := 0
					for _, p := range s.(*notionsim.Server).Pages(tc.pagesOf) {
						if p.Properties["Email"] == key {
							n++
						}
					}
					return n
				},
				FieldValue:    func(f map[string]any) any { return f["Name"] },
				ExpectedValue: func(key string, variant int) any { return "Variant" + string(rune('A'+variant)) },
				DriftField:    tc.drift,
			})
		})
	}
}

// TestSeveralDataSources: without data_source_id the connector cannot pick
// one of two data sources and says which there are; at a legacy version
// Notion refuses the database calls and the connector says to move on.
func TestSeveralDataSources(t *testing.T) {
	t.Parallel()
	s, err := notionsim.New(notionsim.Options{Seed: 7, Tokens: []string{token}, RateLimit: -1, Databases: twoSources()})
	if err != nil {
		t.Fatal(err)
	}
	url := simtest.Start(t, s).URL
	open := func(extra map[string]any) connector.Connector {
		o := map[string]any{"base_url": url, "token": token, "database_id": multiDB, "key_property": "Email", "rate_per_second": 1000}
		for k, v := range extra {
			o[k] = v
		}
		c, err := connector.New("notion", connector.Params{Name: "pages", Options: o, AllowPrivateNetwork: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { connector.Close(context.Background(), c) })
		return c
	}
	_, err = open(nil).Deliver(ctx(t), record("a@example.com", map[string]any{"Name": "A"}))
	ce := classified(t, err, connector.Permanent)
	if ce.Code != "SEVERAL_DATA_SOURCES" || !strings.Contains(ce.Message, leadsSource+" (Leads)") || !strings.Contains(ce.Message, "data_source_id") {
		t.Fatalf("two data sources, none configured: %+v", ce)
	}
	_, err = open(map[string]any{"notion_version": "2022-06-28", "properties": map[string]any{"Email": "email", "Name": "title"}}).Deliver(ctx(t), record("a@example.com", map[string]any{"Name": "A"}))
	ce = classified(t, err, connector.Permanent)
	if !strings.Contains(ce.Message, "notion_version 2022-06-28 is legacy") {
		t.Fatalf("legacy version on two data sources: %+v", ce)
	}
}
