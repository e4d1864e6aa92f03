package pipeline

import "github.com/sluicehq/sluice/internal/store"

// ExecutorOf gives tests the store a gate writes to, to check its rows.
func ExecutorOf(g *Gate) store.Executor { return g.drv.Executor() }

// DriverOf gives tests the gate's driver, to write a state directly.
func DriverOf(g *Gate) store.Driver { return g.drv }
