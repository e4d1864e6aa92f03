package storepg_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

func TestConsoleConformance(t *testing.T) {
	t.Parallel()
	baseDSN(t)
	storetest.ExerciseConsole(t, func(t *testing.T) store.Driver { return open(t, freshSchema(t), 4) })
}
