package sim_test

import (
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
)

// clock is a settable clock for window tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestWindowIsARollingWindow(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := sim.NewWindow(3, 10*time.Second, clk.Now)

	for i := range 3 {
		d := w.Take("tok")
		if !d.Allowed || d.Remaining != 2-i || d.Limit != 3 {
			t.Fatalf("request %d: %+v", i+1, d)
		}
		clk.Advance(time.Second)
	}
	// t=3s: the window holds hits at 0, 1, 2 s.
	d := w.Take("tok")
	if d.Allowed || d.RetryAfter != 7*time.Second {
		t.Fatalf("4th request in the window: %+v, want refused with 7s to wait", d)
	}
	if !w.Take("other").Allowed {
		t.Fatal("keys share a window")
	}
	// Refused requests use no capacity: at t=10s exactly the first hit has
	// left and one request fits.
	clk.Advance(7 * time.Second)
	if d := w.Take("tok"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("at 10s: %+v, want allowed with 0 remaining", d)
	}
	if d := w.Take("tok"); d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("next at 10s: %+v, want refused for 1s", d)
	}
	if w.Refused() != 2 {
		t.Fatalf("refused = %d", w.Refused())
	}
	if w.Remaining("tok") != 0 {
		t.Fatal("Remaining counted wrong")
	}
	w.Reset()
	if w.Remaining("tok") != 3 || w.Refused() != 0 {
		t.Fatal("Reset did not empty the window")
	}
}

func TestWindowUnlimited(t *testing.T) {
	t.Parallel()
	w := sim.NewWindow(0, time.Second, nil)
	for range 1000 {
		if !w.Take("k").Allowed {
			t.Fatal("limit 0 refused a request")
		}
	}
}
