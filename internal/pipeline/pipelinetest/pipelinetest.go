// Package pipelinetest builds a real gate for tests: a config compiled from
// YAML, a SQLite file in the test's temporary directory, its group commit,
// and a settable clock that the gate reads as its only wall clock. Tests of
// the packages around the gate (tickets, triggers, control, delivery) share
// it instead of each writing the same setup. It imports testing, so only
// test files may import it (TestBinaryDoesNotLinkTesting guards the binary).
package pipelinetest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// Start is where every Clock begins unless a test sets another time.
var Start = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// Clock is a settable clock, safe for the gate's goroutines and the test's.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time; pass it as the gate's (or a worker's) clock.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// Plan parses, validates and compiles a config given as YAML, with no
// environment variables set; any error fails the test.
func Plan(t testing.TB, yaml string) *pipeline.Plan {
	t.Helper()
	c, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// Env is one gate with what a test needs to look behind it.
type Env struct {
	Gate      *pipeline.Gate
	Driver    store.Driver
	Committer *store.Committer
	Clock     *Clock
}

// Option adjusts the gate before it is built.
type Option func(*settings)

type settings struct {
	redact func(string) string
	clock  *Clock
}

// WithRedact masks text the gate stores, as the server's redactor would.
func WithRedact(f func(string) string) Option {
	return func(s *settings) { s.redact = f }
}

// WithClock makes the gate read clk instead of a new Clock at Start.
func WithClock(clk *Clock) Option {
	return func(s *settings) { s.clock = clk }
}

// New builds a gate over a new SQLite file for the config in yaml; the
// store and its commit are closed when the test ends.
func New(t testing.TB, yaml string, opts ...Option) *Env {
	t.Helper()
	plan := Plan(t, yaml)
	drv, err := storesqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	com := store.NewCommitter(drv, 16)
	t.Cleanup(func() { com.Close(); drv.Close() })
	s := settings{clock: NewClock(Start)}
	for _, o := range opts {
		o(&s)
	}
	g := pipeline.New(pipeline.Config{Plan: plan, Driver: drv, Committer: com, Clock: s.clock.Now, Redact: s.redact})
	return &Env{Gate: g, Driver: drv, Committer: com, Clock: s.clock}
}
