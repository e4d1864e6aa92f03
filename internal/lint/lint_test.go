package lint_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	_ "github.com/sluicehq/sluice/internal/connector/httpdest"
	_ "github.com/sluicehq/sluice/internal/connector/hubspot"
	_ "github.com/sluicehq/sluice/internal/connector/slack"
	"github.com/sluicehq/sluice/internal/lint"
	"github.com/sluicehq/sluice/internal/pipeline"
)

// TestGolden runs lint over each testdata/*.yaml and compares the problems
// with testdata/*.golden (UPDATE_GOLDEN=1 rewrites them). Every config must
// pass config.Validate and pipeline.Compile first: the mistakes lint exists
// for are the ones each piece accepts on its own.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			c := load(t, file)
			conns := map[string]connector.Connector{}
			for dn, d := range c.Destinations {
				conn, err := connector.New(d.Type, connector.Params{Name: dn, Options: d.Options, AllowPrivateNetwork: d.AllowPrivateNetwork})
				if err != nil {
					t.Fatalf("destinations.%s: %v", dn, err)
				}
				defer connector.Close(context.Background(), conn)
				conns[dn] = conn
			}
			got := ""
			if err := lint.Check(c, conns).Err(); err != nil {
				got = err.Error() + "\n"
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if os.Getenv("UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("problems changed:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func load(t *testing.T, file string) *config.Config {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(data, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	c.Dir = filepath.Dir(file)
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if _, err := pipeline.Compile(c); err != nil {
		t.Fatalf("compile: %v", err)
	}
	return c
}
