package cli_test

import (
	"testing"
)

// TestCheckRefusesWhatBreaksEveryEvent: the five mistakes of issue 14 each
// passed `sluice check` and then broke every event; check now names each
// with its field path (the full list is internal/lint's golden file).
func TestCheckRefusesWhatBreaksEveryEvent(t *testing.T) {
	s := &sluice{env: map[string]string{}}
	r := s.mustRun(t, 1, "check", "-c", "../lint/testdata/mistakes.yaml")
	contains(t, "check output", r.err,
		`flows.leads.routes.seats.when: unknown name seat`,
		`flows.leads.require[0]: no field "compnay"`,
		`entities.lead.key: no field "mail"`,
		`destinations.chat.options.text: no field "seets"`,
		`flows.leads.routes.size.when: invalid operation: >= (mismatched types string and int)`,
	)
	r = s.mustRun(t, 0, "check", "-c", "../lint/testdata/good.yaml")
	contains(t, "check output", r.out, "ok (1 sources, 1 flows, 3 destinations)")
}
