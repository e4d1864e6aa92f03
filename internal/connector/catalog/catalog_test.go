package catalog_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/catalog"
)

const regenerate = "run: go run ./cmd/sluice docs connectors --out docs/connectors.md --readme README.md"

// TestDocsUpToDate fails when the committed docs/connectors.md or the
// README's generated section differ from what the connectors' specs
// produce.
func TestDocsUpToDate(t *testing.T) {
	t.Parallel()
	got, err := os.ReadFile("../../../docs/connectors.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, catalog.Markdown()) {
		t.Errorf("docs/connectors.md differs from the connectors' specs; %s", regenerate)
	}
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := catalog.SpliceREADME(readme)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readme, want) {
		t.Errorf("README.md's destination options differ from the connectors' specs; %s", regenerate)
	}
}

// TestEveryConnectorHasASpec: every registered connector type declares
// its options, and the docs list each of them with every option.
func TestEveryConnectorHasASpec(t *testing.T) {
	t.Parallel()
	md := string(catalog.Markdown())
	readme := string(catalog.READMESection())
	for _, kind := range connector.Kinds() {
		s, ok := connector.SpecOf(kind)
		if !ok {
			t.Errorf("connector %s has no Spec (spec.go with connector.RegisterSpec)", kind)
			continue
		}
		for _, o := range s.Options {
			row := "| `" + o.Name + "` |"
			if !strings.Contains(md, row) {
				t.Errorf("%s.%s: no row in docs/connectors.md", kind, o.Name)
			}
			if !strings.Contains(readme, "`"+o.Name+"`") {
				t.Errorf("%s.%s: not in the README section", kind, o.Name)
			}
			if o.Secret && o.Default != nil {
				t.Errorf("%s.%s: a secret with a default would show it", kind, o.Name)
			}
		}
	}
}

// TestSpliceREADMEKeepsTheRest: only the text between the markers changes.
func TestSpliceREADMEKeepsTheRest(t *testing.T) {
	t.Parallel()
	in := []byte("# Title\n\nbefore\n" + catalog.BeginMarker + "\nstale\n" + catalog.EndMarker + "\nafter\n")
	out, err := catalog.SpliceREADME(in)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.HasPrefix(s, "# Title\n\nbefore\n"+catalog.BeginMarker) || !strings.HasSuffix(s, catalog.EndMarker+"\nafter\n") || strings.Contains(s, "stale") {
		t.Fatalf("spliced:\n%s", s)
	}
	if _, err := catalog.SpliceREADME([]byte("no markers")); err == nil {
		t.Fatal("a README without markers was accepted")
	}
}
