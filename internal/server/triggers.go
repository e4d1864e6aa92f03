package server

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/trigger"
)

// triggers are the trigger loops one config asks for, by source: pollers,
// Airtable payload listings and their webhook keepers. identity says what
// each source's stored cursor is a position in (platform, object, webhook),
// so a reload can tell a cursor that still applies from one that does not.
type triggers struct {
	cfg      *config.Config
	conns    map[string]connector.Connector
	pollers  map[string]*trigger.Poller
	fetchers map[string]*trigger.HookFetcher
	keepers  map[string]*trigger.HookKeeper
	identity map[string]string
}

// buildTriggers makes the trigger loops of a generation. It does no I/O;
// it fails when a source's destination cannot serve it (the error names
// the field), before anything is put in force.
func (s *Server) buildTriggers(g *generation) (*triggers, error) {
	t := &triggers{cfg: g.cfg, conns: g.conns, identity: map[string]string{}}
	var err error
	if t.pollers, err = s.buildPollers(g.cfg, g.conns); err != nil {
		return nil, err
	}
	if t.fetchers, t.keepers, err = s.buildHookFetchers(g.cfg, g.conns); err != nil {
		return nil, err
	}
	for name, p := range t.pollers {
		o := p.Feed.Origin()
		t.identity[name] = "poll of " + o.Platform + " " + o.Object
		p.Identity = t.identity[name]
	}
	for name, f := range t.fetchers {
		t.identity[name] = "webhook " + f.WebhookID + " of " + f.Platform + " " + f.Object
		f.Identity = t.identity[name]
	}
	return t, nil
}

// follow makes next take over from prev: a loop whose source's settings,
// identity and (for a poller, which reads through a feed opened on it) the
// destination's connector are unchanged is kept, running, with its state
// (its backoff, a keeper's expiry); any other is replaced. A replacement
// whose identity differs from the one the source had resets the stored
// cursor, audited, on its first read (ADR 0089); one whose identity is
// the same resumes from it.
func (next *triggers) follow(prev *triggers) {
	if prev == nil {
		return
	}
	same := func(name string) bool {
		return reflect.DeepEqual(prev.cfg.Sources[name], next.cfg.Sources[name]) && prev.identity[name] == next.identity[name]
	}
	for name, p := range next.pollers {
		old := prev.pollers[name]
		if old != nil && same(name) && prev.conns[p.Destination] == next.conns[p.Destination] {
			next.pollers[name] = old
		}
	}
	for name := range next.fetchers {
		if old := prev.fetchers[name]; old != nil && same(name) {
			next.fetchers[name] = old
		}
	}
	for name, k := range next.keepers {
		if old := prev.keepers[name]; old != nil && same(name) && old.WebhookID == k.WebhookID {
			next.keepers[name] = old
		}
	}
	for name, id := range next.identity {
		was, ok := prev.identity[name]
		if !ok || was == id {
			continue
		}
		reason := fmt.Sprintf("a config reload changed the source from the %s to the %s", was, id)
		if p := next.pollers[name]; p != nil {
			p.ResetCursor = reason
		}
		if f := next.fetchers[name]; f != nil {
			f.ResetCursor = reason
		}
	}
}

// runners lists the loops of t, each once.
func (t *triggers) runners() map[any]func(context.Context) {
	out := map[any]func(context.Context){}
	for _, p := range t.pollers {
		out[p] = p.Run
	}
	for _, f := range t.fetchers {
		out[f] = f.Run
	}
	for _, k := range t.keepers {
		out[k] = k.Run
	}
	return out
}

// triggerSet runs the trigger loops of the config in force, each on the
// leader only (lead), and swaps them when a reload changes them: loops
// that end stop before those that replace them start, so one source is
// never read by two loops at once.
type triggerSet struct {
	lead func(ctx context.Context, fn func(context.Context))

	mu     sync.Mutex
	cur    *triggers
	ctx    context.Context // nil until start
	closed bool
	loops  map[any]*triggerLoop
	wg     sync.WaitGroup
}

type triggerLoop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newTriggerSet(lead func(ctx context.Context, fn func(context.Context)), t *triggers) *triggerSet {
	return &triggerSet{lead: lead, cur: t, loops: map[any]*triggerLoop{}}
}

// current is the trigger loops in force.
func (ts *triggerSet) current() *triggers {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.cur
}

// start runs the loops in force until ctx ends or stop.
func (ts *triggerSet) start(ctx context.Context) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.ctx = ctx
	ts.launch()
}

// launch starts every loop of cur not running yet; ts.mu is held.
func (ts *triggerSet) launch() {
	if ts.ctx == nil || ts.closed {
		return
	}
	for key, run := range ts.cur.runners() {
		if _, ok := ts.loops[key]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(ts.ctx)
		l := &triggerLoop{cancel: cancel, done: make(chan struct{})}
		ts.loops[key] = l
		ts.wg.Add(1)
		go func() {
			defer ts.wg.Done()
			defer close(l.done)
			ts.lead(ctx, run)
		}()
	}
}

// swap puts next in force: the loops it no longer has are stopped and
// waited for (a poll or listing in progress either commits its page with
// the cursor after it or not at all: they are one transaction), then the
// new ones start.
func (ts *triggerSet) swap(next *triggers) {
	ts.mu.Lock()
	keep := next.runners()
	var ending []*triggerLoop
	for key, l := range ts.loops {
		if _, ok := keep[key]; !ok {
			ending = append(ending, l)
			delete(ts.loops, key)
		}
	}
	ts.mu.Unlock()
	for _, l := range ending {
		l.cancel()
	}
	for _, l := range ending {
		<-l.done
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.cur = next
	ts.launch()
}

// stop waits for every loop (its context, the one start got, has ended or
// is ending) and starts none after.
func (ts *triggerSet) stop() {
	ts.mu.Lock()
	ts.closed = true
	for _, l := range ts.loops {
		l.cancel()
	}
	ts.mu.Unlock()
	ts.wg.Wait()
}
