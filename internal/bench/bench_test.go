package bench_test

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/bench"
)

// TestRunSmall runs the benchmark small, with the liveness faults, and
// checks what it reports adds up (not how fast it was).
func TestRunSmall(t *testing.T) {
	for _, drain := range []bool{false, true} {
		res, err := bench.Run(context.Background(), bench.Options{Events: 300, Concurrency: 8, Drain: drain,
			Faults: map[int]float64{429: 0.05, 500: 0.05}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Failed != 0 {
			t.Fatalf("drain=%v: %d sends failed", drain, res.Failed)
		}
		if res.IngestRate() <= 0 || res.EndToEndRate() <= 0 || res.AckP99 < res.AckP50 || res.DeliveryP99 < res.DeliveryP50 {
			t.Fatalf("drain=%v: implausible result %+v", drain, res)
		}
		ok := res.SinkStatuses[200]
		if ok < 300 || res.SinkRequests != ok+res.SinkStatuses[429]+res.SinkStatuses[500] {
			t.Fatalf("drain=%v: sink saw %d requests %v, want every event written", drain, res.SinkRequests, res.SinkStatuses)
		}
	}
}

func TestParseFaults(t *testing.T) {
	f, err := bench.ParseFaults("429=0.05, 500=0.1")
	if err != nil || f[429] != 0.05 || f[500] != 0.1 {
		t.Fatalf("%v %v", f, err)
	}
	for _, bad := range []string{"429", "200=0.1", "429=x", "429=0.6,500=0.5"} {
		if _, err := bench.ParseFaults(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

var events = flag.Int("bench-events", 20000, "events per benchmark run")

func report(b *testing.B, res *bench.Result) {
	b.ReportMetric(res.IngestRate(), "ingest/s")
	b.ReportMetric(res.EndToEndRate(), "e2e/s")
	b.ReportMetric(float64(res.AckP50.Microseconds())/1000, "ack-p50-ms")
	b.ReportMetric(float64(res.AckP99.Microseconds())/1000, "ack-p99-ms")
	b.ReportMetric(float64(res.DeliveryP99.Microseconds())/1000, "deliv-p99-ms")
	b.ReportMetric(float64(res.DestConcurrency), "dest-conc")
}

func run(b *testing.B, o bench.Options) {
	o.Events = *events
	o.Store = os.Getenv("SLUICE_BENCH_STORE")
	for range b.N {
		res, err := bench.Run(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		if res.Failed > 0 {
			b.Fatalf("%d sends failed", res.Failed)
		}
		report(b, res)
	}
}

// BenchmarkDrain times a captured backlog draining to a fast local sink
// (target 3's fault-free reference) with the destination tuned to 32.
func BenchmarkDrain(b *testing.B) { run(b, bench.Options{Drain: true, DestConcurrency: 32}) }

// BenchmarkDrainFaults is the same with 5% 429 (Retry-After: 1) and 5% 500
// answers: target 3 wants at least half the fault-free drain rate.
func BenchmarkDrainFaults(b *testing.B) {
	run(b, bench.Options{Drain: true, DestConcurrency: 32, Faults: map[int]float64{429: 0.05, 500: 0.05}})
}

// BenchmarkDrainUntuned drains with no concurrency configured: target 2
// wants at least 80% of BenchmarkDrain.
func BenchmarkDrainUntuned(b *testing.B) { run(b, bench.Options{Drain: true}) }

// BenchmarkDrainUntunedFaults: untuned and faulty at once.
func BenchmarkDrainUntunedFaults(b *testing.B) {
	run(b, bench.Options{Drain: true, Faults: map[int]float64{429: 0.05, 500: 0.05}})
}

// BenchmarkEndToEndTuned and BenchmarkEndToEndUntuned send and deliver at
// once (32 senders), tuned to 32 and untuned.
func BenchmarkEndToEndTuned(b *testing.B)   { run(b, bench.Options{DestConcurrency: 32}) }
func BenchmarkEndToEndUntuned(b *testing.B) { run(b, bench.Options{}) }
