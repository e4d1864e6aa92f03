package delivery

import "context"

// start runs w's loop under the engine's run context. Called with e.mu held
// and e.runCtx set.
func (e *Engine) start(w *worker) {
	ctx, stop := context.WithCancel(e.runCtx)
	w.stop, w.done = stop, make(chan struct{})
	e.workers.Add(1)
	go func() {
		defer e.workers.Done()
		defer close(w.done)
		w.run(ctx)
	}()
}

// Reconfigure makes dests the engine's destinations, for a config reload.
// A destination whose connector is the same value as before keeps its
// worker, with its rate limiter, 429 penalty and circuit state. Any other
// (new, or rebuilt because its settings changed) gets a fresh worker, and
// the worker it replaces, like the worker of a destination no longer
// listed, stops claiming at once: its attempts in flight finish and their
// outcomes are committed. Until then the deliveries they hold are leased
// (inflight), which the claim query skips, so the new worker never sends a
// record the old one is still sending, and per-key order holds.
//
// Reconfigure returns the destinations it retired and a wait that returns
// once their workers have stopped, after which their connectors may be
// closed. Safe to call while the engine runs, and before.
func (e *Engine) Reconfigure(dests []Destination) (retired []Destination, wait func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var stopping []*worker
	retire := func(w *worker) {
		retired = append(retired, w.d)
		if w.stop != nil {
			w.stop()
			stopping = append(stopping, w)
		}
	}
	keep := map[string]bool{}
	for _, d := range dests {
		keep[d.Name] = true
		old := e.dests[d.Name]
		if old != nil && old.d.Conn == d.Conn {
			continue // unchanged: the caller rebuilds a connector whenever its settings change
		}
		if old != nil {
			retire(old)
		}
		w := e.newWorker(d)
		if e.share > 1 {
			w.shareRate(e.share)
		}
		e.dests[d.Name] = w
		if e.runCtx != nil {
			e.start(w)
		}
	}
	for name, w := range e.dests {
		if !keep[name] {
			retire(w)
			delete(e.dests, name)
		}
	}
	return retired, func() {
		for _, w := range stopping {
			<-w.done
		}
	}
}
