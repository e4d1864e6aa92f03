package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sluicehq/sluice/internal/cli"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	db := filepath.Join(dir, "m.db")
	if err := os.WriteFile(cfg, []byte("store: "+db+"\nsources: {s: {allow_unsigned: true}}\nentities: {e: {key: k}}\nflows: {f: {source: s, entity: e, normalize: {fields: {k: {from: k}}}, routes: {r: {destination: d}}}}\ndestinations: {d: {type: http, allow_private_network: true, options: {url: \"http://127.0.0.1:1/x\"}}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^sqlite store migrated: schema version 0\d{3}_\w+ \((\d+) migrations applied\)\n$`)
	for _, args := range [][]string{{"migrate", "--config", cfg}, {"migrate", "--store", db}} {
		var out, errOut bytes.Buffer
		code := cli.Main(context.Background(), &cli.Env{Out: &out, Err: &errOut, Getenv: func(string) string { return "" }}, args)
		if code != 0 || !want.MatchString(out.String()) {
			t.Fatalf("%v: exit %d, out %q, err %q", args, code, out.String(), errOut.String())
		}
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("store not created: %v", err)
	}
	var out, errOut bytes.Buffer
	if code := cli.Main(context.Background(), &cli.Env{Out: &out, Err: &errOut, Getenv: func(string) string { return "" }}, []string{"migrate", "--config", filepath.Join(dir, "missing.yaml")}); code != 1 {
		t.Fatalf("missing config: exit %d, want 1", code)
	}
}
