package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

func TestVersionFollowsBehaviourNotText(t *testing.T) {
	dir := t.TempDir()
	schema := filepath.Join(dir, "lead.json")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(schema, `{"type":"object"}`)
	base := `
sources: {forms: {allow_unsigned: true}}
entities: {lead: {key: email, schema_file: lead.json}}
flows:
  leads:
    source: forms
    entity: lead
    normalize: {fields: {email: {from: email}}}
    routes: {crm: {destination: sink}}
destinations: {sink: {type: http, options: {url: "http://127.0.0.1:9/x"}}}
`
	version := func(text string) string {
		t.Helper()
		p := filepath.Join(dir, "sluice.yaml")
		write(p, text)
		c, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.Version()
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 16 {
			t.Fatalf("version %q: want 16 hex digits", v)
		}
		return v
	}
	v1 := version(base)
	if v := version("# a comment\n" + base); v != v1 {
		t.Errorf("a comment changed the version: %s -> %s", v1, v)
	}
	if v := version(base + "delivery: {lease: 60s}\n"); v != v1 {
		t.Errorf("writing a default explicitly changed the version: %s -> %s", v1, v)
	}
	if v := version(base + "delivery: {lease: 61s}\n"); v == v1 {
		t.Errorf("a changed setting kept the version %s", v)
	}
	write(schema, `{"type":"object","required":["email"]}`)
	if v := version(base); v == v1 {
		t.Errorf("a changed schema file kept the version %s", v)
	}
}
