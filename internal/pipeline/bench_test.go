package pipeline_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// BenchmarkCaptureClaimSettle is the store side of one event's way through
// the gate on SQLite, without HTTP on either side: 64 callers capture b.N
// events, then 8 workers claim 32 at a time and settle each claimed
// delivery concurrently, as the intake and the delivery engine do, all
// through one group committer as in the server. It reports CPU per event
// (user+system of the whole process: the gate, the committer and SQLite),
// which is steadier than wall time on a shared machine, split into the
// capture and the claim-and-settle phases.
func BenchmarkCaptureClaimSettle(b *testing.B) {
	plan := pipelinetest.Plan(b, cfg)
	drv, err := storesqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	com := store.NewCommitter(drv, 0) // the server's default batch bound
	defer func() { com.Close(); drv.Close() }()
	clk := pipelinetest.NewClock(pipelinetest.Start)
	g := pipeline.New(pipeline.Config{Plan: plan, Driver: drv, Committer: com, Clock: clk.Now})

	b.ResetTimer()
	cpu0 := processCPU()
	var cpu1 time.Duration
	captureThenSettle(b, g, func() { cpu1 = processCPU() })
	cpu2 := processCPU()
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(per(cpu1-cpu0), "cpu-µs/capture")
	b.ReportMetric(per(cpu2-cpu1), "cpu-µs/claim+settle")
}

// captureThenSettle is the work of the CaptureClaimSettle benchmarks on
// g: 64 callers capture b.N events, then 8 workers claim 32 at a time and
// settle each claimed delivery concurrently, as the intake and the
// delivery engine do. between runs once the captures are done, to read
// the counters that split the two phases.
func captureThenSettle(b *testing.B, g *pipeline.Gate, between func()) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				body := []byte(fmt.Sprintf(`{"email":"u%d@example.com","company":"Acme %d"}`, i, i%50))
				v, err := payload.Parse(body, true)
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := g.Capture(ctx, pipeline.CaptureInput{Source: "forms", ContentType: "application/json", Body: body, Payload: v}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	between()
	var settled atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ds, err := g.ClaimDeliveries(ctx, "d", fmt.Sprintf("w%d", w), time.Minute, 32)
				if err != nil {
					b.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				var sw sync.WaitGroup
				for _, d := range ds {
					sw.Add(1)
					go func() {
						defer sw.Done()
						if err := g.DeliverySucceeded(ctx, d, "x-"+d.ID, pipeline.Attempt{Status: 200}); err != nil {
							b.Error(err)
						}
						settled.Add(1)
					}()
				}
				sw.Wait()
			}
		}()
	}
	wg.Wait()
	if settled.Load() != int64(b.N) {
		b.Fatalf("settled %d of %d", settled.Load(), b.N)
	}
}
