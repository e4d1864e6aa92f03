package storepg_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

func TestTicketsConformance(t *testing.T) {
	t.Parallel()
	baseDSN(t)
	storetest.ExerciseTickets(t, func(t *testing.T) store.Driver { return open(t, freshSchema(t), 4) })
}

func TestReplayConformance(t *testing.T) {
	t.Parallel()
	baseDSN(t)
	storetest.ExerciseReplay(t, func(t *testing.T) store.Driver { return open(t, freshSchema(t), 4) })
}
