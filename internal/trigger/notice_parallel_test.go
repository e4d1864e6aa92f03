package trigger_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/trigger"
)

const twoNoticeSourcesCfg = `
sources:
  slow: {platform: {kind: notion, secrets: ["secret_notion_token_0123"], destination: nt_slow}}
  fast: {platform: {kind: notion, secrets: ["secret_notion_token_4567"], destination: nt_fast}}
entities:
  contact: {key: email}
flows:
  slow_in:
    source: slow
    entity: contact
    normalize: {fields: {email: {from: fields.Email, type: email}}}
    routes: {out: {destination: sink}}
  fast_in:
    source: fast
    entity: contact
    normalize: {fields: {email: {from: fields.Email, type: email}}}
    routes: {out: {destination: sink}}
destinations:
  nt_slow: {type: notion}
  nt_fast: {type: notion}
  sink: {type: http, allow_private_network: true, options: {url: "http://127.0.0.1:1/x"}}
`

// blockingReader answers each read once released (or when the read's
// context ends); it counts the reads running at once.
type blockingReader struct {
	mu       sync.Mutex
	release  chan struct{}
	running  int
	max      int
	returned int
	started  chan struct{}
	// free reads answer at once (the first free ones).
	free, reads int
}

func newBlockingReader() *blockingReader {
	return &blockingReader{release: make(chan struct{}), started: make(chan struct{}, 100)}
}

func (r *blockingReader) ReadRecord(ctx context.Context, id string) (connector.Change, error) {
	r.mu.Lock()
	r.reads++
	if r.reads <= r.free {
		r.mu.Unlock()
		return connector.Change{RecordID: id, Fields: map[string]any{"Email": id + "@x.co"}}, nil
	}
	r.running++
	r.max = max(r.max, r.running)
	r.mu.Unlock()
	r.started <- struct{}{}
	defer func() {
		r.mu.Lock()
		r.running--
		r.returned++
		r.mu.Unlock()
	}()
	select {
	case <-r.release:
		return connector.Change{RecordID: id, Fields: map[string]any{"Email": id + "@x.co"}}, nil
	case <-ctx.Done():
		return connector.Change{}, ctx.Err()
	}
}

func (r *blockingReader) stats() (running, most, returned int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running, r.max, r.returned
}

type quickReader struct{}

func (quickReader) ReadRecord(_ context.Context, id string) (connector.Change, error) {
	return connector.Change{RecordID: id, Fields: map[string]any{"Email": id + "@x.co"}}, nil
}

func sourceEventCount(t *testing.T, drv store.Driver, source string) int {
	t.Helper()
	evs, err := drv.Executor().EventList(context.Background(), &store.EventListParams{Source: source, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func notionNotice(source, event, page string) pipeline.NoticeInput {
	return pipeline.NoticeInput{Source: source, Platform: "notion", Key: "notion:" + event, Type: "page.properties_updated",
		Object: "page", RecordID: page, OccurredAt: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
}

// TestNoticeHangingSourceDoesNotHoldUpAnother: a source whose platform
// does not answer holds up only its own notices: another source's notice,
// queued after it in the same pass, is captured while the hanging read is
// still waiting.
func TestNoticeHangingSourceDoesNotHoldUpAnother(t *testing.T) {
	clk := pipelinetest.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	e := pipelinetest.New(t, twoNoticeSourcesCfg, pipelinetest.WithClock(clk))
	ctx := context.Background()
	if _, err := e.Gate.NoticeReceived(ctx, notionNotice("slow", "ev-slow", "hangs")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Gate.NoticeReceived(ctx, notionNotice("fast", "ev-fast", "quick")); err != nil {
		t.Fatal(err)
	}
	slow := newBlockingReader()
	w := &trigger.NoticeWorker{Gate: e.Gate, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), FetchTimeout: time.Hour,
		Sources: func() map[string]*trigger.NoticeSource {
			return map[string]*trigger.NoticeSource{"slow": {Destination: "nt_slow", Reader: slow}, "fast": {Destination: "nt_fast", Reader: quickReader{}}}
		}}
	type result struct {
		pass trigger.NoticePass
		err  error
	}
	done := make(chan result, 1)
	go func() { p, err := w.ProcessDue(ctx); done <- result{p, err} }()
	released := false
	release := func() {
		if !released {
			released = true
			close(slow.release)
		}
	}
	t.Cleanup(release)
	<-slow.started
	for deadline := time.Now().Add(10 * time.Second); sourceEventCount(t, e.Driver, "fast") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the other source's notice waits behind the hanging read")
		}
	}
	if running, _, returned := slow.stats(); running != 1 || returned != 0 {
		t.Fatalf("hanging reads: %d running, %d returned; want the read still hanging", running, returned)
	}
	release()
	res := <-done
	if res.err != nil || res.pass.Settled != 2 {
		t.Fatalf("pass = %+v, %v; want both settled", res.pass, res.err)
	}
	if n := sourceEventCount(t, e.Driver, "slow"); n != 1 {
		t.Fatalf("slow source events = %d, want 1", n)
	}
}

// TestNoticeReadsOfOneSourceBounded: after a first read that succeeds,
// one source's notices are read PerSource at once, never more.
func TestNoticeReadsOfOneSourceBounded(t *testing.T) {
	clk := pipelinetest.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	e := pipelinetest.New(t, twoNoticeSourcesCfg, pipelinetest.WithClock(clk))
	ctx := context.Background()
	const notices = 10
	for i := range notices {
		id := string(rune('a' + i))
		if _, err := e.Gate.NoticeReceived(ctx, notionNotice("slow", "ev-"+id, "page-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	rd := newBlockingReader()
	rd.free = 1
	w := &trigger.NoticeWorker{Gate: e.Gate, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), FetchTimeout: time.Hour, PerSource: 3,
		Sources: func() map[string]*trigger.NoticeSource {
			return map[string]*trigger.NoticeSource{"slow": {Destination: "nt_slow", Reader: rd}}
		}}
	type result struct {
		pass trigger.NoticePass
		err  error
	}
	done := make(chan result, 1)
	go func() { p, err := w.ProcessDue(ctx); done <- result{p, err} }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if running, _, _ := rd.stats(); running == 3 {
			break
		}
		if time.Now().After(deadline) {
			close(rd.release)
			t.Fatal("never 3 reads of the source at once")
		}
	}
	close(rd.release)
	res := <-done
	pass, err := res.pass, res.err
	if err != nil || pass.Settled != notices {
		t.Fatalf("pass = %+v, %v", pass, err)
	}
	if _, most, _ := rd.stats(); most != 3 {
		t.Fatalf("%d reads of one source at once, want PerSource (3)", most)
	}
	if n := sourceEventCount(t, e.Driver, "slow"); n != notices {
		t.Fatalf("events = %d, want %d", n, notices)
	}
}

// latentReader answers every read after a fixed delay (a platform's
// latency).
type latentReader struct{ d time.Duration }

func (r latentReader) ReadRecord(ctx context.Context, id string) (connector.Change, error) {
	select {
	case <-time.After(r.d):
	case <-ctx.Done():
		return connector.Change{}, ctx.Err()
	}
	return connector.Change{RecordID: id, Fields: map[string]any{"Email": id + "@x.co"}}, nil
}

// BenchmarkNoticePass100At300ms: one pass over 100 notices of one source
// whose reads take 300 ms each (wall time per pass is the figure).
func BenchmarkNoticePass100At300ms(b *testing.B) {
	for range b.N {
		b.StopTimer()
		clk := pipelinetest.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
		e := pipelinetest.New(b, twoNoticeSourcesCfg, pipelinetest.WithClock(clk))
		ctx := context.Background()
		for i := range 100 {
			id := "p" + string(rune('A'+i/26)) + string(rune('a'+i%26))
			if _, err := e.Gate.NoticeReceived(ctx, notionNotice("slow", "ev-"+id, id)); err != nil {
				b.Fatal(err)
			}
		}
		w := &trigger.NoticeWorker{Gate: e.Gate, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Sources: func() map[string]*trigger.NoticeSource {
				return map[string]*trigger.NoticeSource{"slow": {Destination: "nt_slow", Reader: latentReader{300 * time.Millisecond}}}
			}}
		b.StartTimer()
		pass, err := w.ProcessDue(ctx)
		if err != nil || pass.Settled != 100 {
			b.Fatalf("pass = %+v, %v", pass, err)
		}
	}
}

// TestNoticeRunGoesOnWithoutAHangingSource: while one source's read
// hangs, Run's later passes go on without it: a notice of another source
// that arrives during the hang is captured before the hang ends, and the
// hanging source's notice is not read twice meanwhile.
func TestNoticeRunGoesOnWithoutAHangingSource(t *testing.T) {
	clk := pipelinetest.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	e := pipelinetest.New(t, twoNoticeSourcesCfg, pipelinetest.WithClock(clk))
	ctx, cancel := context.WithCancel(context.Background())
	slow := newBlockingReader()
	w := &trigger.NoticeWorker{Gate: e.Gate, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), FetchTimeout: time.Hour,
		Straggle: 20 * time.Millisecond,
		Sources: func() map[string]*trigger.NoticeSource {
			return map[string]*trigger.NoticeSource{"slow": {Destination: "nt_slow", Reader: slow}, "fast": {Destination: "nt_fast", Reader: quickReader{}}}
		}}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	released := false
	release := func() {
		if !released {
			released = true
			close(slow.release)
		}
	}
	t.Cleanup(func() { release(); cancel(); <-done })
	if _, err := e.Gate.NoticeReceived(ctx, notionNotice("slow", "ev-slow", "hangs")); err != nil {
		t.Fatal(err)
	}
	w.Kick()
	<-slow.started
	if _, err := e.Gate.NoticeReceived(ctx, notionNotice("fast", "ev-fast", "quick")); err != nil {
		t.Fatal(err)
	}
	w.Kick()
	for deadline := time.Now().Add(10 * time.Second); sourceEventCount(t, e.Driver, "fast") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a notice that arrived during the hang waits for it")
		}
	}
	if running, _, returned := slow.stats(); running != 1 || returned != 0 {
		t.Fatalf("hanging reads: %d running, %d returned; want the one read still hanging", running, returned)
	}
	release()
	for deadline := time.Now().Add(10 * time.Second); sourceEventCount(t, e.Driver, "slow") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow source's notice never captured")
		}
	}
	if _, most, _ := slow.stats(); most != 1 {
		t.Fatalf("the hanging notice was read %d times at once", most)
	}
}
