package delivery

import (
	"context"
	"time"
)

// runner runs a worker's attempts on goroutines it keeps for a while
// after each attempt. An attempt goes deep (connector, net/http's client),
// and a fresh goroutine's stack was grown by copying for every one of
// them (1% of the end-to-end run's CPU); a kept goroutine has its grown
// stack already. Idle goroutines end after runnerIdle, or when ctx ends.
type runner struct {
	ctx   context.Context
	tasks chan func() // unbuffered: a send succeeds only into an idle goroutine
}

// runnerIdle is how long a goroutine waits for the next attempt.
const runnerIdle = 2 * time.Second

func newRunner(ctx context.Context) *runner {
	return &runner{ctx: ctx, tasks: make(chan func())}
}

// Go runs f on an idle goroutine, or on a new one when none is idle. Like
// the go statement, it does not wait for f.
func (r *runner) Go(f func()) {
	select {
	case r.tasks <- f:
	default:
		go r.loop(f)
	}
}

func (r *runner) loop(f func()) {
	t := time.NewTimer(runnerIdle)
	defer t.Stop()
	for {
		f()
		t.Reset(runnerIdle)
		select {
		case f = <-r.tasks:
		case <-t.C:
			return
		case <-r.ctx.Done():
			return
		}
	}
}
