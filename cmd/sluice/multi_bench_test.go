package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of one and two instances on one PostgreSQL schema, through
// the built binary (each instance a process, as deployed):
//
//	SLUICE_TEST_POSTGRES=postgres://... go test ./cmd/sluice -run '^$' -bench Postgres -benchtime 4000x
//
// b.N is the number of events; use -benchtime Nx, since every run starts
// its instances anew.

// BenchmarkPostgresIngest measures signed captures acknowledged after a
// durable commit, 64 concurrent senders spread over the instances, with
// delivery paused so the figure is the intake alone.
func BenchmarkPostgresIngest(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			c := startCluster(b, n, "")
			c.admin(c.insts[0], "POST", "/v1/destinations/sink/pause")
			b.ResetTimer()
			el := c.blast(b, b.N, 64)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
		})
	}
}

// BenchmarkPostgresEndToEnd measures events captured and delivered to a
// local HTTP sink (distinct record keys, each delivered once), from the
// first send until the sink has applied every event.
func BenchmarkPostgresEndToEnd(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			c := startCluster(b, n, ", concurrency: 16")
			b.ResetTimer()
			start := time.Now()
			c.blast(b, b.N, 64)
			for {
				c.sink.mu.Lock()
				done := len(c.sink.effects)
				c.sink.mu.Unlock()
				if done >= b.N {
					break
				}
				if time.Since(start) > 5*time.Minute {
					b.Fatalf("%d of %d delivered after 5 minutes", done, b.N)
				}
				time.Sleep(5 * time.Millisecond)
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
		})
	}
}

// blast sends n events with distinct keys from senders goroutines, spread
// over the live instances, and returns how long until all were
// acknowledged.
func (c *cluster) blast(tb testing.TB, n, senders int) time.Duration {
	var next, fails atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < senders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				inst := c.insts[int(i)%len(c.insts)]
				body := fmt.Appendf(nil, `{"id":"b%d","email":"b%d@bench.example","n":1,"company":"Acme"}`, i, i)
				if _, ok := c.send(inst, body); !ok {
					fails.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if f := fails.Load(); f > 0 {
		tb.Fatalf("%d of %d sends failed", f, n)
	}
	return el
}

// TestBenchTwoInstances runs `sluice bench --instances 2` small against
// PostgreSQL: a second `sluice serve` joins the bench's schema, the load is
// spread over both, and every event is delivered.
func TestBenchTwoInstances(t *testing.T) {
	base := os.Getenv("SLUICE_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SLUICE_TEST_POSTGRES is not set; CI must provide PostgreSQL")
		}
		t.Skip("SLUICE_TEST_POSTGRES is not set")
	}
	out, err := exec.Command(buildBin(t), "bench", "-q", "-n", "300", "-c", "8", "--instances", "2", "--store", base).CombinedOutput()
	if err != nil {
		t.Fatalf("sluice bench --instances 2: %v\n%s", err, out)
	}
	for _, want := range []string{"instances:      2 ", "events:         300 sent, 0 refused or failed", "sink requests:  300 (300×200)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
