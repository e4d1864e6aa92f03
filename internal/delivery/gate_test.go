package delivery_test

import (
	"sync"

	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// stores remembers the store each test gate writes to, so tests can read
// rows back (the gate keeps its store to itself).
var stores sync.Map // *pipeline.Gate -> store.Executor

func newGate(plan *pipeline.Plan, drv store.Driver, com *store.Committer) *pipeline.Gate {
	g := pipeline.New(pipeline.Config{Plan: plan, Driver: drv, Committer: com})
	stores.Store(g, drv.Executor())
	return g
}

// storeOf is the executor behind g; nil for a gate without a store.
func storeOf(g *pipeline.Gate) store.Executor {
	ex, _ := stores.Load(g)
	e, _ := ex.(store.Executor)
	return e
}
