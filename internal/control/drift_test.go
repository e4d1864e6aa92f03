package control

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

func TestSourceDriftFindsNewMissingRetypedAndRenamed(t *testing.T) {
	d := &SourceDrift{Learn: 50, Window: 30}
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		d.Observe(ctx, "forms", map[string]any{"email": fmt.Sprintf("a%d@x.co", i), "phone": "555", "amount": float64(i),
			"company": map[string]any{"name": "Acme"}, "tags": []any{"a"}})
	}
	if f := d.findingsNow(ctx); len(f) != 0 {
		t.Fatalf("findings while learning: %v", f)
	}
	// Traffic as before: no drift.
	for i := 0; i < 10; i++ {
		d.Observe(ctx, "forms", map[string]any{"email": "b@x.co", "phone": "555", "amount": 3.0, "company": map[string]any{"name": "Acme"}, "tags": []any{}})
	}
	if f := d.findingsNow(ctx); len(f) != 0 {
		t.Fatalf("findings on unchanged traffic: %v", f)
	}
	// The sender renames phone to phone_number, sends amount as a string,
	// stops sending company and adds utm_source.
	for i := 0; i < 30; i++ {
		d.Observe(ctx, "forms", map[string]any{"email": "c@x.co", "phone_number": "555", "amount": "3", "utm_source": "ads", "tags": []any{"x"}})
	}
	got := map[string]string{}
	for _, f := range d.findingsNow(ctx) {
		got[f.Field] = f.Kind
		if f.Detail == "" || f.Source != "forms" {
			t.Errorf("finding without detail: %+v", f)
		}
	}
	want := map[string]string{"phone_number": "renamed_field", "amount": "retyped_field", "company": "missing_field",
		"company.name": "missing_field", "utm_source": "new_field"}
	for f, k := range want {
		if got[f] != k {
			t.Errorf("%s: got %q, want %q (all: %v)", f, got[f], k, got)
		}
	}
	if _, ok := got["email"]; ok {
		t.Errorf("email reported although unchanged: %v", got)
	}
	// Findings are reported once.
	n := len(d.findingsNow(ctx))
	for i := 0; i < 10; i++ {
		d.Observe(ctx, "forms", map[string]any{"email": "c@x.co", "phone_number": "555", "amount": "3", "utm_source": "ads", "tags": []any{}})
	}
	if len(d.findingsNow(ctx)) != n {
		t.Fatalf("findings grew on the same drift: %v", d.findingsNow(ctx))
	}
}

// findingsNow inspects what is queued, then lists the findings.
func (d *SourceDrift) findingsNow(ctx context.Context) []DriftFinding {
	d.Drain(ctx)
	return d.Findings()
}

// recorder is an alert channel that remembers what it was sent.
type recorder struct {
	mu   sync.Mutex
	sent []alert.Alert
}

func (r *recorder) Send(_ context.Context, a alert.Alert) error {
	r.mu.Lock()
	r.sent = append(r.sent, a)
	r.mu.Unlock()
	return nil
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.sent) }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// randomPayload is a form with its usual fields gone and fifty random
// field names instead (an attacker, or a broken sender).
func randomPayload(rng *rand.Rand) map[string]any {
	p := map[string]any{}
	for i := 0; i < 50; i++ {
		p[fmt.Sprintf("f%08x", rng.Uint32())] = "x"
	}
	return p
}

// TestDriftAlertsAreAggregatedOffTheRequestPath is issue 9 item 4: 20
// requests with random field names once produced 979 alert POSTs, sent
// inside the intake request, and an ever-growing findings map. Now
// Observe sends nothing, one alert per source per window goes out from
// the background loop, findings are bounded, and the learned baseline
// survives a restart through the store.
func TestDriftAlertsAreAggregatedOffTheRequestPath(t *testing.T) {
	ctx := context.Background()
	drv, err := storesqlite.Open(ctx, filepath.Join(t.TempDir(), "drift.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	clk := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	rec := &recorder{}
	al := alert.New(time.Minute, clk.Now)
	al.Add("rec", rec)
	newDrift := func() *SourceDrift {
		return &SourceDrift{Learn: 20, Window: 10, AlertEvery: 15 * time.Minute, MaxFindings: 8, Alerter: al, Store: drv.Executor(), Now: clk.Now}
	}
	d := newDrift()
	usual := func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("a%d@x.co", i), "phone": "555", "company": "Acme"}
	}
	for i := 0; i < 20; i++ {
		d.Observe(ctx, "forms", usual(i))
	}
	d.Drain(ctx)

	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		d.Observe(ctx, "forms", randomPayload(rng))
		if n := rec.count(); n != 0 {
			t.Fatalf("an alert was sent inside request %d", i)
		}
	}
	d.Drain(ctx)
	if n := rec.count(); n != 0 {
		t.Fatalf("%d alerts sent before the loop flushed", n)
	}
	d.Flush(ctx)
	if n := rec.count(); n != 1 {
		t.Fatalf("%d alerts for one source in one window, want 1", n)
	}
	if a := rec.sent[0]; a.Key != "drift:forms" || a.Count == 0 || len(a.Items) == 0 || len(a.Items) > 10 {
		t.Fatalf("alert: %+v", a)
	}
	if f := d.Findings(); len(f) == 0 || len(f) > 8 {
		t.Fatalf("%d findings kept, want 1..8", len(f))
	}

	// More of the same inside the window: no alert; after it, at most one.
	for i := 0; i < 20; i++ {
		d.Observe(ctx, "forms", randomPayload(rng))
	}
	d.Drain(ctx)
	d.Flush(ctx)
	if n := rec.count(); n != 1 {
		t.Fatalf("%d alerts within the window, want still 1", n)
	}
	clk.Add(16 * time.Minute)
	d.Flush(ctx)
	if n := rec.count(); n > 2 {
		t.Fatalf("%d alerts after two windows, want at most 2", n)
	}
	// Findings are pruned after their TTL.
	clk.Add(25 * time.Hour)
	d.Flush(ctx)
	if f := d.Findings(); len(f) != 0 {
		t.Fatalf("%d findings survived their TTL", len(f))
	}

	// A restarted instance reads the baseline instead of learning it:
	// the first odd payloads are judged at once.
	again := newDrift()
	for i := 0; i < 5; i++ {
		again.Observe(ctx, "forms", map[string]any{"email": "b@x.co", "company": "Acme"})
	}
	got := map[string]string{}
	for _, f := range again.findingsNow(ctx) {
		got[f.Field] = f.Kind
	}
	if got["phone"] != "missing_field" {
		t.Fatalf("after restart: findings %v, want phone missing (baseline from the store)", got)
	}
}

// TestObserveNeverBlocks: a full queue drops payloads (counted) instead
// of holding the request.
func TestObserveNeverBlocks(t *testing.T) {
	t.Parallel()
	d := &SourceDrift{Queue: 4}
	for i := 0; i < 10; i++ {
		d.Observe(context.Background(), "forms", map[string]any{"a": 1.0})
	}
	if d.Dropped() != 6 {
		t.Fatalf("dropped %d, want 6", d.Dropped())
	}
}
