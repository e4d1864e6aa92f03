package delivery

import (
	"math/rand/v2"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// drive sends n answers at perSec requests per second, a share of them 429s
// (at random with share429), and returns how many cuts the governor made.
func drive(g *rateGovernor, c *fakeClock, rng *rand.Rand, n int, perSec float64, share429 float64) int {
	cuts := 0
	step := time.Duration(float64(time.Second) / perSec)
	for range n {
		c.t = c.t.Add(step)
		if g.Observe(rng.Float64() < share429) {
			cuts++
		}
	}
	return cuts
}

// TestGovernorIgnoresRandom429s: 5% of answers being 429s at random, at
// high and at low request rates, is not a limit; the governor never slows
// the destination down.
func TestGovernorIgnoresRandom429s(t *testing.T) {
	for _, perSec := range []float64{2000, 50, 3} {
		c := &fakeClock{t: time.Unix(0, 0)}
		g := newRateGovernor(c.now)
		rng := rand.New(rand.NewPCG(1, uint64(perSec)))
		n := int(perSec * 120) // two minutes of traffic
		if cuts := drive(g, c, rng, n, perSec, 0.05); cuts != 0 {
			t.Errorf("%v req/s with 5%% random 429s: %d rate cuts, want 0", perSec, cuts)
		}
		if r := g.Rate(); r != 0 {
			t.Errorf("%v req/s: governor enabled at %v req/s", perSec, r)
		}
	}
}

// TestGovernorBacksOffFromARealLimit: a platform refusing everything past
// 100 requests/s while we send 300/s is a real limit: the governor cuts
// to beta of the measured rate, keeps cutting while the 429s go on, and,
// once they stop, grows back by CUBIC until it disables itself.
func TestGovernorBacksOffFromARealLimit(t *testing.T) {
	c := &fakeClock{t: time.Unix(0, 0)}
	g := newRateGovernor(c.now)
	rng := rand.New(rand.NewPCG(2, 2))
	cuts := drive(g, c, rng, 600, 300, 2.0/3) // two thirds refused
	if cuts == 0 {
		t.Fatal("no cut under a real limit")
	}
	first := g.Rate()
	if first <= 0 || first > 300*cubicBeta+1 {
		t.Fatalf("rate after cuts %v, want in (0, %v]", first, 300*cubicBeta)
	}
	// The limit is gone: answers are all successes at the allowed rate.
	// The rate grows back (never above twice what is sent) and finally
	// switches off.
	prev := first
	for i := 0; i < 600 && g.Rate() != 0; i++ {
		perSec := max(g.Rate(), 1)
		drive(g, c, rng, int(perSec/2)+1, perSec, 0)
		if r := g.Rate(); r != 0 && r+1e-9 < prev*0.99 {
			t.Fatalf("rate fell from %v to %v without 429s", prev, r)
		}
		prev = g.Rate()
	}
	if r := g.Rate(); r != 0 {
		t.Fatalf("governor still limiting at %v req/s long after the 429s stopped", r)
	}
}

// TestGovernorCutsOncePerWindow: a burst of 429s answered at once (one
// refused batch of concurrent requests) is one cut, not one per answer.
func TestGovernorCutsOncePerWindow(t *testing.T) {
	c := &fakeClock{t: time.Unix(0, 0)}
	g := newRateGovernor(c.now)
	for range 50 {
		c.t = c.t.Add(time.Millisecond)
		g.Observe(false)
	}
	cuts := 0
	for range 30 {
		c.t = c.t.Add(time.Millisecond)
		if g.Observe(true) {
			cuts++
		}
	}
	if cuts != 1 {
		t.Fatalf("%d cuts for one burst of 429s, want 1", cuts)
	}
}

func TestClampRetryAfter(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{-time.Second: 0, 0: 0, 30 * time.Second: 30 * time.Second, 24 * time.Hour: MaxRetryAfter} {
		if got := clampRetryAfter(in); got != want {
			t.Errorf("clampRetryAfter(%v) = %v, want %v", in, got, want)
		}
	}
}
