package pipeline

import "sync/atomic"

// PlanHolder holds the plan in force. A reload compiles and provisions a
// whole new plan first and then swaps it in with one atomic store, so every
// reader (capture, release, replay, the engine, the SLA watcher) sees either
// the old plan or the new one, never a mix, and never waits for a lock.
// A caller that needs several things from one plan loads it once.
type PlanHolder struct{ p atomic.Pointer[Plan] }

// Load returns the plan in force; nil before the first Swap.
func (h *PlanHolder) Load() *Plan { return h.p.Load() }

// Swap puts p in force and returns the plan it replaced.
func (h *PlanHolder) Swap(p *Plan) *Plan { return h.p.Swap(p) }

// Current is the plan in force: the last one swapped in by SwapPlan, or
// Plan, the one the gate was built with. Everything that judges or routes a
// record reads the plan through Current, once per transition.
func (g *Gate) Current() *Plan {
	if p := g.plans.Load(); p != nil {
		return p
	}
	return g.Plan
}

// SwapPlan puts p in force for every transition that starts after it
// returns, and returns the plan it replaced. Transitions already running
// finish with the plan they loaded.
func (g *Gate) SwapPlan(p *Plan) *Plan {
	old := g.Current()
	g.plans.Swap(p)
	return old
}
