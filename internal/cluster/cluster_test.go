package cluster_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/store"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// elector is a fake store.Elector: each Lead waits for a grant, whose
// channel the test closes to depose the leader.
type elector struct {
	grants chan chan struct{}
	calls  atomic.Int64
}

func (e *elector) Lead(ctx context.Context, name string) (<-chan struct{}, error) {
	e.calls.Add(1)
	select {
	case lost := <-e.grants:
		return lost, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestLeadershipAlone(t *testing.T) {
	t.Parallel()
	l := cluster.NewLeadership(nil, "x", quietLog)
	ctx, cancel := context.WithCancel(context.Background())
	go l.Run(ctx)
	ran := make(chan struct{})
	done := make(chan struct{})
	go func() {
		l.Do(ctx, func(ctx context.Context) { close(ran); <-ctx.Done() })
		close(done)
	}()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a lone instance did not run its singleton")
	}
	if !l.Leading() {
		t.Fatal("a lone instance does not lead")
	}
	cancel()
	<-done
}

func TestLeadershipTerms(t *testing.T) {
	t.Parallel()
	el := &elector{grants: make(chan chan struct{})}
	l := cluster.NewLeadership(el, "maintenance", quietLog)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	var running, starts atomic.Int64
	done := make(chan struct{})
	go func() {
		l.Do(ctx, func(ctx context.Context) {
			starts.Add(1)
			running.Add(1)
			<-ctx.Done()
			running.Add(-1)
		})
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	if l.Leading() || starts.Load() != 0 {
		t.Fatal("runs the singleton before being elected")
	}
	lost := make(chan struct{})
	el.grants <- lost
	eventually(t, "singleton starts on election", func() bool { return running.Load() == 1 && l.Leading() })
	close(lost) // deposed
	eventually(t, "singleton stops when deposed", func() bool { return running.Load() == 0 && !l.Leading() })
	eventually(t, "stands again", func() bool { return el.calls.Load() == 2 })
	lost2 := make(chan struct{})
	el.grants <- lost2
	eventually(t, "second term", func() bool { return running.Load() == 1 && starts.Load() == 2 })
	cancel()
	<-done
	if running.Load() != 0 {
		t.Fatal("singleton still running after ctx ended")
	}
}

// instances is a fake store.Instances whose live count the test sets.
type instances struct {
	live   atomic.Int64
	fail   atomic.Bool
	beats  atomic.Int64
	leaves atomic.Int64
}

func (i *instances) InstanceBeat(ctx context.Context, p *store.InstanceBeatParams) (int, error) {
	i.beats.Add(1)
	if i.fail.Load() {
		return 0, errors.New("database unreachable")
	}
	return int(i.live.Load()), nil
}

func (i *instances) InstanceLeave(ctx context.Context, id string) error {
	i.leaves.Add(1)
	return nil
}

func TestMembers(t *testing.T) {
	t.Parallel()
	inst := &instances{}
	inst.live.Store(3)
	var mu sync.Mutex
	var seen []int
	m := &cluster.Members{Inst: inst, ID: "a", Every: 10 * time.Millisecond, Log: quietLog, OnChange: func(n int) {
		mu.Lock()
		seen = append(seen, n)
		mu.Unlock()
	}}
	if err := m.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.Count() != 3 {
		t.Fatalf("count after join %d, want 3", m.Count())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	inst.live.Store(2) // one died
	eventually(t, "count drops", func() bool { return m.Count() == 2 })
	inst.fail.Store(true) // the store is unreachable: keep the share
	b := inst.beats.Load()
	eventually(t, "beats go on", func() bool { return inst.beats.Load() > b+3 })
	if m.Count() != 2 {
		t.Fatalf("count while failing %d, want the last (2)", m.Count())
	}
	inst.fail.Store(false)
	inst.live.Store(3)
	eventually(t, "count rises", func() bool { return m.Count() == 3 })
	cancel()
	<-done
	if inst.leaves.Load() != 1 {
		t.Fatalf("left %d times, want 1", inst.leaves.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] != 3 || seen[1] != 2 || seen[2] != 3 {
		t.Fatalf("OnChange saw %v, want [3 2 3]", seen)
	}
}

func TestMembersAlone(t *testing.T) {
	t.Parallel()
	var got atomic.Int64
	m := &cluster.Members{Log: quietLog, OnChange: func(n int) { got.Store(int64(n)) }}
	if err := m.Join(context.Background()); err != nil || m.Count() != 1 || got.Load() != 1 {
		t.Fatalf("alone: count %d, told %d, err %v", m.Count(), got.Load(), err)
	}
}

// notifier is a fake store.Notifier: Notify counts and, like PostgreSQL,
// wakes every listener.
type notifier struct {
	mu        sync.Mutex
	listeners []chan struct{}
	notifies  atomic.Int64
	block     chan struct{} // Notify waits on it when set
}

func (n *notifier) Notify(ctx context.Context, channel string) error {
	n.notifies.Add(1)
	if n.block != nil {
		<-n.block
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.listeners {
		select {
		case l <- struct{}{}:
		default:
		}
	}
	return nil
}

func (n *notifier) Listen(ctx context.Context, channel string) (<-chan struct{}, error) {
	c := make(chan struct{}, 1)
	n.mu.Lock()
	n.listeners = append(n.listeners, c)
	n.mu.Unlock()
	out := make(chan struct{})
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-c:
				select {
				case out <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func TestWakerWakesOtherInstances(t *testing.T) {
	t.Parallel()
	n := &notifier{}
	var kicksA, kicksB atomic.Int64
	a := &cluster.Waker{N: n, Channel: "work", Local: func() { kicksA.Add(1) }, Log: quietLog}
	b := &cluster.Waker{N: n, Channel: "work", Local: func() { kicksB.Add(1) }, Log: quietLog}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	go b.Run(ctx)
	eventually(t, "both listening", func() bool { n.mu.Lock(); defer n.mu.Unlock(); return len(n.listeners) == 2 })
	a.Wake()
	if kicksA.Load() < 1 {
		t.Fatal("Wake did not kick this instance at once")
	}
	eventually(t, "the other instance is kicked", func() bool { return kicksB.Load() >= 1 })
}

func TestWakerCoalesces(t *testing.T) {
	t.Parallel()
	n := &notifier{block: make(chan struct{})}
	var kicks atomic.Int64
	w := &cluster.Waker{N: n, Channel: "work", Local: func() { kicks.Add(1) }, Log: quietLog}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	w.Wake()
	eventually(t, "first notify in flight", func() bool { return n.notifies.Load() == 1 })
	for i := 0; i < 100; i++ {
		w.Wake()
	}
	close(n.block)
	eventually(t, "one more notify for the 100 wakes", func() bool { return n.notifies.Load() == 2 })
	time.Sleep(50 * time.Millisecond)
	if got := n.notifies.Load(); got != 2 {
		t.Fatalf("%d notifies for 101 wakes, want 2", got)
	}
	if kicks.Load() < 101 {
		t.Fatalf("local kicks %d, want every wake (101+)", kicks.Load())
	}
}

func TestWakerAlone(t *testing.T) {
	t.Parallel()
	var kicks atomic.Int64
	w := &cluster.Waker{Local: func() { kicks.Add(1) }, Log: quietLog}
	w.Wake()
	if kicks.Load() != 1 {
		t.Fatal("no local kick")
	}
}
