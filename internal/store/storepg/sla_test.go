package storepg_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// migrationVersions is every embedded migration's version, as
// schema_migrations lists them ("[0001_init 0002_...]"), read from the
// migrations directory so a new migration does not break the tests that
// check them.
func migrationVersions(t *testing.T) string {
	t.Helper()
	ents, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, e := range ents {
		if v, ok := strings.CutSuffix(e.Name(), ".sql"); ok {
			vs = append(vs, v)
		}
	}
	return fmt.Sprint(vs)
}
