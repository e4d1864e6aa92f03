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

// TestInvalidFlagValuesAreErrors: a flag value that would be ignored or
// match nothing is refused before anything runs.
func TestInvalidFlagValuesAreErrors(t *testing.T) {
	s := &sluice{env: map[string]string{"SLUICE_SERVER": "http://127.0.0.1:1", "SLUICE_TOKEN": adminToken}}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "yaml", "version"}, `--log-format: "yaml" is not text or json`},
		{[]string{"--log-level", "loud", "version"}, `--log-level: "loud" is not debug, info, warn or error`},
		{[]string{"events", "list", "--before", "yesterday"}, `--before: "yesterday" is not an event ID`},
		{[]string{"events", "list", "--limit", "0"}, `--limit: 0 is not from 1 to 1000`},
	} {
		r := s.mustRun(t, 1, c.args...)
		contains(t, "stderr", r.err, c.want)
	}
	r := s.mustRun(t, 0, "--log-format", "json", "version")
	contains(t, "version", r.out, "sluice ", " go1.")
}
