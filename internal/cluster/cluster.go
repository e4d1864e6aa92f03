// Package cluster is what several Sluice instances sharing one store
// coordinate, on top of the drivers' optional capabilities: one elected
// instance runs the singleton loops (Leadership over store.Elector), every
// instance counts the live ones to divide rate limits (Members over
// store.Instances), and work created on one instance wakes the others
// (Waker over store.Notifier). With a driver that has none of them
// (SQLite, one process) the same types make this instance the leader, the
// only member and its own listener, so callers need no special case.
package cluster

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Leadership runs singleton loops on the elected instance only.
type Leadership struct {
	el   store.Elector // nil: this process is alone and always leads
	name string
	log  *slog.Logger

	mu      sync.Mutex
	term    context.Context // the current term while leading, else nil
	changed chan struct{}   // closed (and replaced) whenever term changes
	leading atomic.Bool
}

// NewLeadership returns the leadership called name; el may be nil.
func NewLeadership(el store.Elector, name string, log *slog.Logger) *Leadership {
	return &Leadership{el: el, name: name, log: log, changed: make(chan struct{})}
}

// Leading reports whether this instance leads now.
func (l *Leadership) Leading() bool { return l.leading.Load() }

func (l *Leadership) set(term context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.term = term
	l.leading.Store(true)
	l.announce()
}

// resign ends the current term: this instance no longer leads.
func (l *Leadership) resign() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.term = nil
	l.leading.Store(false)
	l.announce()
}

// announce wakes everyone waiting on a change of term; l.mu is held.
func (l *Leadership) announce() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *Leadership) current() (context.Context, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term, l.changed
}

// Run campaigns until ctx ends: it waits for the leadership, holds a term
// until the leadership is lost, and stands again.
func (l *Leadership) Run(ctx context.Context) {
	if l.el == nil {
		l.set(ctx)
		<-ctx.Done()
		l.resign()
		return
	}
	for ctx.Err() == nil {
		lost, err := l.el.Lead(ctx, l.name)
		if err != nil {
			return // Lead fails only when ctx ends
		}
		term, end := context.WithCancel(ctx)
		l.set(term)
		l.log.Info("leadership acquired", "name", l.name)
		select {
		case <-lost:
			l.log.Warn("leadership lost", "name", l.name)
		case <-ctx.Done():
		}
		end()
		l.resign()
	}
}

// Do runs fn during every term of this instance's leadership until ctx
// ends: fn's context ends when the term does. It blocks until ctx ends.
// It has the shape of delivery.Engine.Lead.
func (l *Leadership) Do(ctx context.Context, fn func(context.Context)) {
	for {
		term, changed := l.current()
		if term != nil && term.Err() == nil {
			fctx, cancel := context.WithCancel(ctx)
			stop := context.AfterFunc(term, cancel)
			fn(fctx)
			stop()
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// Members keeps this instance's heartbeat and the count of live instances,
// and tells OnChange when the count changes.
type Members struct {
	Inst store.Instances // nil: alone
	ID   string
	Info string
	// Every is the heartbeat period (default 1s); TTL how long a silent
	// instance still counts (default 3s).
	Every, TTL time.Duration
	// OnChange receives the new count, and the first one from Join.
	OnChange func(n int)
	Log      *slog.Logger

	n atomic.Int64
}

func (m *Members) every() time.Duration {
	if m.Every > 0 {
		return m.Every
	}
	return time.Second
}

func (m *Members) ttl() time.Duration {
	if m.TTL > 0 {
		return m.TTL
	}
	return 3 * time.Second
}

// Count is the number of live instances last seen, this one included.
func (m *Members) Count() int {
	if n := m.n.Load(); n > 0 {
		return int(n)
	}
	return 1
}

// Join records the first heartbeat, so that this instance starts with its
// share of each rate rather than the whole.
func (m *Members) Join(ctx context.Context) error {
	if m.Inst == nil {
		m.update(1)
		return nil
	}
	return m.beat(ctx)
}

func (m *Members) beat(ctx context.Context) error {
	n, err := m.Inst.InstanceBeat(ctx, &store.InstanceBeatParams{ID: m.ID, Info: m.Info, TTL: m.ttl(), Forget: time.Hour})
	if err != nil {
		return err
	}
	m.update(n)
	return nil
}

func (m *Members) update(n int) {
	if old := m.n.Swap(int64(n)); old != int64(n) {
		if old != 0 {
			m.Log.Info("live instances changed", "from", old, "to", n)
		}
		if m.OnChange != nil {
			m.OnChange(n)
		}
	}
}

// Run beats until ctx ends, then leaves, so the others take this
// instance's share at once. While the store cannot be reached the last
// count stays in force; the failure is logged once, and its end.
func (m *Members) Run(ctx context.Context) {
	if m.Inst == nil {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(m.every())
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := m.Inst.InstanceLeave(lctx, m.ID); err != nil {
				m.Log.Warn("leave instances", "err", err)
			}
			cancel()
			return
		case <-t.C:
		}
		err := m.beat(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			m.Log.Error("instance heartbeat failed; keeping the last rate share", "err", err, "instances", m.Count())
			failing = true
		case err == nil && failing:
			m.Log.Info("instance heartbeat recovered", "instances", m.Count())
			failing = false
		}
	}
}

// Waker wakes the delivery engines of every instance when work becomes
// ready: Wake runs Local here at once and, through the driver's
// notifications, on the other instances. Notifications are coalesced: at
// most one is in flight, requests meanwhile become one more, and two are
// at least MinGap apart, so a busy intake sends a few hundred a second at
// most, not one per capture.
type Waker struct {
	N       store.Notifier // nil: this instance only
	Channel string
	Local   func()
	Log     *slog.Logger
	// MinGap is the least time between two notifications; default 5ms.
	MinGap time.Duration

	once sync.Once
	poke chan struct{}
}

func (w *Waker) init() { w.once.Do(func() { w.poke = make(chan struct{}, 1) }) }

// Wake wakes this instance now and the others soon.
func (w *Waker) Wake() {
	if w.Local != nil {
		w.Local()
	}
	w.WakeOthers()
}

// WakeOthers wakes the other instances soon, and not this one: for a
// caller that woke what it needed here itself.
func (w *Waker) WakeOthers() {
	if w.N == nil {
		return
	}
	w.init()
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// Run sends and receives notifications until ctx ends. Failures only cost
// latency (each engine still polls), so they are logged when they start
// and when they end, and retried.
func (w *Waker) Run(ctx context.Context) {
	if w.N == nil {
		<-ctx.Done()
		return
	}
	w.init()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.listen(ctx) }()
	failing := false
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-w.poke:
		}
		err := w.N.Notify(ctx, w.Channel)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			w.Log.Warn("notify other instances failed; they will find the work at their next poll", "err", err)
			failing = true
		case err == nil && failing:
			w.Log.Info("notify other instances recovered")
			failing = false
		}
		gap := w.MinGap
		if gap <= 0 {
			gap = 5 * time.Millisecond
		}
		t := time.NewTimer(gap)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

func (w *Waker) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		wake, err := w.N.Listen(ctx, w.Channel)
		if err != nil {
			if ctx.Err() == nil {
				w.Log.Warn("listen for other instances' work failed; polling only until it recovers", "err", err, "retry_in", backoff)
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for range wake {
			if w.Local != nil {
				w.Local()
			}
		}
	}
}
