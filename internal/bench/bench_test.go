package bench_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
	b.ReportMetric(res.EndToEnd99Rate(), "e2e99/s")
	b.ReportMetric(float64(res.AckP50.Microseconds())/1000, "ack-p50-ms")
	b.ReportMetric(float64(res.AckP99.Microseconds())/1000, "ack-p99-ms")
	b.ReportMetric(float64(res.DeliveryP99.Microseconds())/1000, "deliv-p99-ms")
	b.ReportMetric(float64(res.DestConcurrency), "dest-conc")
	b.ReportMetric(res.CPUPer1k(res.IngestCPU), "cpu-s/1k-ingest")
	b.ReportMetric(res.CPUPer1k(res.DeliverCPU), "cpu-s/1k-deliver")
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

var (
	history = flag.Int("bench-history", 1000000, "delivered events in the store for BenchmarkHistory")
	queued  = flag.Int("bench-queued", 100000, "queued deliveries (retrying ten years from now) for BenchmarkHistory")
)

// BenchmarkHistory measures ingest and a drain against a store that
// already holds -bench-history delivered events and -bench-queued queued
// ones (target 4: ingest >= 80% of the empty store's, claims as fast, RSS
// <= 200 MB). The store is built once per flag combination in the temp
// directory and copied for each run; short mode skips it.
func BenchmarkHistory(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a store of a million events; not in -short mode")
	}
	// The suffix changes with the schema a run would otherwise migrate
	// first (v3 has migration 0039's indexes, whose one-off build on a
	// million queued, 2 CPU-s and RSS to 216 MiB, is not what a run
	// measures) and with the prefill's meaning (v4: the queued retry ten
	// years out, not an hour, so a cached store stays a backlog; v5:
	// migration 0092, events_state_flow in place of three event indexes).
	path := filepath.Join(os.TempDir(), fmt.Sprintf("sluice-bench-history-%d-%d-v5.db", *history, *queued))
	if _, err := os.Stat(path); err != nil {
		b.Logf("building %s (once)", path)
		tmp := path + ".building"
		os.Remove(tmp)
		if err := bench.PrefillSQLite(context.Background(), tmp, *history, *queued); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		res, err := bench.Run(context.Background(), bench.Options{Events: *events, Drain: true, DestConcurrency: 32, From: path})
		if err != nil {
			b.Fatal(err)
		}
		report(b, res)
		b.ReportMetric(float64(res.PeakRSS>>20), "peak-rss-MiB")
	}
}

// BenchmarkEmpty is BenchmarkHistory's reference on an empty store.
func BenchmarkEmpty(b *testing.B) {
	for range b.N {
		res, err := bench.Run(context.Background(), bench.Options{Events: *events, Drain: true, DestConcurrency: 32})
		if err != nil {
			b.Fatal(err)
		}
		report(b, res)
		b.ReportMetric(float64(res.PeakRSS>>20), "peak-rss-MiB")
	}
}

// TestHistorySmall builds a small history store and runs on a copy of it:
// the new events are delivered, the queued ones wait for their retry.
func TestHistorySmall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	if err := bench.PrefillSQLite(context.Background(), path, 1000, 100); err != nil {
		t.Fatal(err)
	}
	res, err := bench.Run(context.Background(), bench.Options{Events: 100, Concurrency: 4, Drain: true, From: path})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.SinkStatuses[200] != 100 || res.SinkRequests != 100 {
		t.Fatalf("sink saw %d requests %v, want exactly the 100 new events", res.SinkRequests, res.SinkStatuses)
	}
}

// BenchmarkAckLatency2000 sends open loop at 2,000 events/s while the
// deliveries run (target 1: p99 acknowledgement <= 25 ms).
func BenchmarkAckLatency2000(b *testing.B) { run(b, bench.Options{Rate: 2000, DestConcurrency: 32}) }

// BenchmarkIngest is closed-loop intake with 64 senders and the
// destination paused (target 1: >= 10,000 events/s).
func BenchmarkIngest(b *testing.B) {
	run(b, bench.Options{Concurrency: 64, Drain: true, DestConcurrency: 32})
}
