package slack_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/sim/simtest"
	slacksim "github.com/sluicehq/sluice/internal/sim/slack"
)

// TestConformance runs the shared suite. Slack has no fields to remove, so
// DriftField names the channel: the simulator's removed_fields fault takes
// channel IDs and answers channel_not_found, the drift a Slack destination
// meets. The batch subtest skips: Slack has no batch writes.
func TestConformance(t *testing.T) {
	connectortest.Exercise(t, connectortest.Harness{
		RevokedStatus: 200, // token_revoked comes in a 200 body
		New: func(t *testing.T) (connector.Connector, connectortest.Sim) {
			s, err := slacksim.New(slacksim.Options{Seed: 7, Tokens: []string{token}, PostLimit: -1, UpdateLimit: -1, HistoryLimit: -1})
			if err != nil {
				t.Fatal(err)
			}
			url := simtest.Start(t, s).URL
			c, err := connector.New("slack", connector.Params{Name: "leads", Options: map[string]any{
				"base_url": url, "token": token, "channel": slacksim.GeneralChannel,
				"text": "Lead {{.email}}: {{.name}}", "rate_per_second": 1000,
			}, AllowPrivateNetwork: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { connector.Close(context.Background(), c) })
			return c, s
		},
		Payload: func(key string, variant int) map[string]any {
			return map[string]any{"email": key, "name": variantName(variant)}
		},
		Field: "name",
		Count: func(s connectortest.Sim, key string) int {
			n := 0
			for _, m := range s.(*slacksim.Server).Messages(slacksim.GeneralChannel) {
				if m.RecordKey() == key {
					n++
				}
			}
			return n
		},
		FieldValue:    func(f map[string]any) any { return f["text"] },
		ExpectedValue: func(key string, variant int) any { return "Lead " + key + ": " + variantName(variant) },
		DriftField:    slacksim.GeneralChannel,
	})
}

func variantName(v int) string { return "Variant" + string(rune('A'+v)) }
