package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/cli"
)

// TestCheckSaysHMACSourcesAreReplayable: an hmac-sha256 source accepts the
// same signed body forever; check used to say "ok" and nothing else.
func TestCheckSaysHMACSourcesAreReplayable(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	text := `store: ` + filepath.Join(dir, "s.db") + `
admin_tokens: [{name: ops, token: ops-token-0123456789, role: admin}]
sources:
  gh: {signature: {scheme: hmac-sha256, secrets: [gh-secret-0123456789]}}
  open: {allow_unsigned: true}
entities: {e: {key: k}}
flows:
  f: {source: gh, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: d}}}
  g: {source: open, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: d}}}
destinations: {d: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}}}
retention: {events: 30d}
`
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), &cli.Env{Out: &out, Err: &errb, Getenv: func(string) string { return "" }}, []string{"check", "-c", cfg})
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"WARNING sources.gh.signature.scheme: REPLAYABLE: hmac-sha256 signs no timestamp",
		"refused as duplicates by the SHA-256 of the body only while the first event is stored (retention.events deletes it after 720h0m0s",
		"WARNING sources.open: UNSIGNED",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, errb.String())
		}
	}
}
