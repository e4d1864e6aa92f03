package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/signature"
)

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
}

// signedPost sends one signed event and returns the status.
func signedPost(c *http.Client, url string, n int64) (int, error) {
	body := fmt.Appendf(nil, `{"contact":{"email":"bench%d@example.com","name":"Bench"},"company":"Acme","amount":%d}`, n, n%500)
	id := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), n)
	now := time.Now()
	sig, _ := signature.SignStandardWebhooks(secret, id, now, body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("webhook-signature", sig)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body) // drain, so the connection is reused
	resp.Body.Close()
	return resp.StatusCode, nil
}

// BenchmarkIngestSigned measures signed captures acknowledged after a
// durable commit (SQLite, synchronous=FULL), with 64 concurrent senders.
// Delivery is paused so the figure is the intake alone.
func BenchmarkIngestSigned(b *testing.B) {
	defer server.TuneGC()() // the collector's target sluice serve runs with
	h := start(&testing.T{})
	defer h.cancel()
	h.admin("POST", "/v1/destinations/sink/pause", `{"reason":"benchmark"}`)
	url := h.url + "/v1/sources/forms/events"
	c := benchClient()
	var seq, fails atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N/64 + 1
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				code, err := signedPost(c, url, seq.Add(1))
				if err != nil || code != 202 {
					fails.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(seq.Load())/el.Seconds(), "events/s")
	if f := fails.Load(); f > 0 {
		b.Fatalf("%d requests failed", f)
	}
}

// BenchmarkIngestLatency2000 sends at a fixed 2,000 events/s (open loop)
// for b.N events and reports acknowledgement latency percentiles.
func BenchmarkIngestLatency2000(b *testing.B) {
	defer server.TuneGC()() // the collector's target sluice serve runs with
	h := start(&testing.T{})
	defer h.cancel()
	h.admin("POST", "/v1/destinations/sink/pause", `{"reason":"benchmark"}`)
	url := h.url + "/v1/sources/forms/events"
	c := benchClient()
	n := max(b.N, 4000)
	lat := make([]time.Duration, n)
	var fails atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / 2000
	b.ResetTimer()
	begin := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t0 := time.Now()
			code, err := signedPost(c, url, int64(i))
			lat[i] = time.Since(t0)
			if err != nil || code != 202 {
				fails.Add(1)
			}
		}(i)
	}
	wg.Wait()
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(n)/time.Since(begin).Seconds(), "events/s")
	if f := fails.Load(); f > 0 {
		b.Fatalf("%d requests failed", f)
	}
}

// BenchmarkEndToEnd measures events/s from the first send until every
// event is delivered to the local sink.
func BenchmarkEndToEnd(b *testing.B) {
	defer server.TuneGC()() // the collector's target sluice serve runs with
	h := start(&testing.T{})
	defer h.cancel()
	url := h.url + "/v1/sources/forms/events"
	c := benchClient()
	n := max(b.N, 2000)
	var seq, fails atomic.Int64
	b.ResetTimer()
	begin := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq.Load() < int64(n) {
				code, err := signedPost(c, url, seq.Add(1))
				if err != nil || code != 202 {
					fails.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	sent := seq.Load()
	for {
		_, st := h.admin("GET", "/v1/stats", "")
		ev, _ := st["events"].(map[string]any)
		if d, _ := ev["delivered"].(float64); int64(d) >= sent-fails.Load() {
			break
		}
		if time.Since(begin) > 5*time.Minute {
			b.Fatalf("not delivered in time: %v", st)
		}
		time.Sleep(250 * time.Millisecond) // counting is a scan; do not let the probe load the server
	}
	el := time.Since(begin)
	b.StopTimer()
	b.ReportMetric(float64(sent)/el.Seconds(), "events/s")
	if f := fails.Load(); f > 0 {
		b.Fatalf("%d requests failed", f)
	}
}
