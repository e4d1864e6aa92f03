package config

import (
	"strings"
	"testing"
	"time"
)

const retentionBase = `
sources: {s: {allow_unsigned: true}}
entities: {e: {key: k}}
flows: {f: {source: s, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: d}}}}
destinations: {d: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}}}
`

func TestRetention(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(retentionBase+"retention: {events: 30d, audit: 1d12h, interval: 30m, batch: 500}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Retention
	if r.Events.D() != 30*24*time.Hour || r.Audit.D() != 36*time.Hour || r.Every() != 30*time.Minute || r.BatchSize() != 500 || !r.Enabled() {
		t.Fatalf("parsed %+v", r)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	c, err = Parse([]byte(retentionBase), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Retention; r.Enabled() || r.Every() != time.Hour || r.BatchSize() != 1000 {
		t.Fatalf("defaults: %+v (enabled %v, every %v, batch %d)", r, r.Enabled(), r.Every(), r.BatchSize())
	}

	for _, tc := range []struct{ yaml, want string }{
		{"retention: {events: 10m}", "retention.events: 10m0s is too short"},
		{"retention: {audit: 59m}", "retention.audit: 59m0s is too short"},
		{"retention: {events: 30d, batch: -1}", "retention.batch: must be between 1 and 100000"},
	} {
		c, err := Parse([]byte(retentionBase+tc.yaml+"\n"), env(nil))
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	for _, bad := range []string{"30", "1.5d", "d", "-1d", "3x"} {
		if _, err := Parse([]byte(retentionBase+"retention: {events: \""+bad+"\"}\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "invalid period") {
			t.Errorf("events %q: %v, want an invalid period", bad, err)
		}
	}
}

func TestPeriodText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"30d": "30d", "1d12h": "36h0m0s", "90m": "1h30m0s", "0": "0s"} {
		var p Period
		if err := p.UnmarshalText([]byte(in)); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got, _ := p.MarshalText(); string(got) != want {
			t.Errorf("%s -> %s, want %s", in, got, want)
		}
	}
}
