package delivery

import (
	"context"
	"sync"
	"testing"
)

// TestRunnerRunsEveryTask: tasks given while others run and after they
// finished all run, on kept goroutines or new ones.
func TestRunnerRunsEveryTask(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newRunner(ctx)
	var mu sync.Mutex
	ran := map[int]bool{}
	for round := range 3 {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			r.Go(func() {
				defer wg.Done()
				mu.Lock()
				ran[round*100+i] = true
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	if len(ran) != 150 {
		t.Fatalf("%d of 150 tasks ran", len(ran))
	}
}
