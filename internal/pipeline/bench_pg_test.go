package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/pipeline/pipelinetest"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
)

// BenchmarkCaptureClaimSettlePostgres is BenchmarkCaptureClaimSettle on
// PostgreSQL (a fresh schema in SLUICE_TEST_POSTGRES): 64 callers capture
// b.N events, then 8 workers claim 32 at a time and settle each claimed
// delivery concurrently, through one group committer, with what the
// engine reads before sending (the identity comes with the claim). It
// reports CPU per event of this process (the gate, the committer, pgx) and
// of the PostgreSQL server processes serving its pool, and round trips and
// statements per event, without the HTTP of `sluice bench` around them.
func BenchmarkCaptureClaimSettlePostgres(b *testing.B) {
	plan := pipelinetest.Plan(b, cfg)
	drv, err := storepg.Open(context.Background(), pgSchema(b))
	if err != nil {
		b.Fatal(err)
	}
	com := store.NewCommitter(drv, 0) // the server's default batch bound
	defer func() { com.Close(); drv.Close() }()
	clk := pipelinetest.NewClock(pipelinetest.Start)
	g := pipeline.New(pipeline.Config{Plan: plan, Driver: drv, Committer: com, Clock: clk.Now})

	b.ResetTimer()
	cpu0, be0 := processCPU(), backendCPU(drv)
	rt0, st0 := drv.RoundTrips()
	var cpu1, be1 time.Duration
	captureThenSettle(b, g, func() { cpu1, be1 = processCPU(), backendCPU(drv) })
	cpu2, be2 := processCPU(), backendCPU(drv)
	rt1, st1 := drv.RoundTrips()
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(per(cpu1-cpu0), "cpu-µs/capture")
	b.ReportMetric(per(cpu2-cpu1), "cpu-µs/claim+settle")
	b.ReportMetric(per(be1-be0), "pg-cpu-µs/capture")
	b.ReportMetric(per(be2-be1), "pg-cpu-µs/claim+settle")
	b.ReportMetric(float64(rt1-rt0)/float64(b.N), "round-trips/event")
	b.ReportMetric(float64(st1-st0)/float64(b.N), "statements/event")
	b.ReportMetric(float64(drv.Reruns()), "reruns")
}

// backendCPU is the CPU time of the PostgreSQL server processes serving
// drv's pool (0 where /proc cannot tell).
func backendCPU(drv *storepg.Driver) time.Duration {
	d, _ := drv.BackendCPU()
	return d
}
