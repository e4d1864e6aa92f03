package storepg_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// TestSLAConformance runs the SLAStore suite against the real PostgreSQL,
// one schema per subtest.
func TestSLAConformance(t *testing.T) {
	t.Parallel()
	baseDSN(t)
	storetest.ExerciseSLA(t, func(t *testing.T) store.Driver {
		return open(t, freshSchema(t), 4)
	})
}

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
