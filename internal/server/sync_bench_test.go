package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/simrun"
	"github.com/sluicehq/sluice/internal/store"
)

// syncBench captures n leads while the destination is paused, resumes it
// and measures how long the simulators, enforcing the platforms' documented
// limits, take to receive them all.
func syncBench(b *testing.B, platform string, route string, n int) {
	sims, err := simrun.Start(simrun.Options{Seed: 5})
	if err != nil {
		b.Fatal(err)
	}
	defer sims.Close()
	cfgText := fmt.Sprintf(`store: %q
admin_tokens: [{name: ops, token: ops-token-0123456789, role: admin}]
sources: {forms: {allow_unsigned: true, quota: {requests_per_second: 1000000, bytes_per_second: 1073741824}}}
delivery: {poll_interval: 10ms, lease: 60s}
entities:
  lead: {key: email}
flows:
  leads:
    source: forms
    entity: lead
    normalize:
      fields:
        email: {from: contact.email, type: email}
        name: {from: contact.name}
        company: {from: company}
        amount: {from: amount, type: number}
    routes:
      only:
        destination: %s
        %s
`, filepath.Join(b.TempDir(), "sync.db"), platform, route) + sims.DestinationsYAML(false, 10)
	c, err := config.Parse([]byte(cfgText), os.LookupEnv)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()
	h := &harness{t: &testing.T{}, url: "http://" + ln.Addr().String()}
	h.admin("POST", "/v1/destinations/"+platform+"/pause", `{"reason":"loading"}`)

	client := benchClient()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			body := fmt.Sprintf(`{"contact":{"email":"s%05d@sync.example","name":"S %d"},"company":"Co","amount":%d}`, i, i, i)
			req, _ := http.NewRequest("POST", h.url+"/v1/sources/forms/events", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	before := sims.Stats()[platform]
	b.ResetTimer()
	start := time.Now()
	h.admin("POST", "/v1/destinations/"+platform+"/resume", ``)
	ex := srv.Driver.Executor()
	for {
		counts, _ := ex.EventCountByState(context.Background())
		if counts[string(store.EventDelivered)] >= int64(n) {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("not delivered: %v", counts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	st := sims.Stats()[platform]
	reqs := st.Requests - before.Requests
	limited := st.RateLimited - before.RateLimited
	b.ReportMetric(el.Seconds(), "seconds")
	b.ReportMetric(float64(reqs), "requests")
	b.ReportMetric(float64(limited), "429s")
	b.ReportMetric(100*float64(limited)/float64(max(reqs, 1)), "429-pct")
	if got := len(sims.Keys()[platform]); got != n {
		b.Fatalf("%s holds %d records, want %d", platform, got, n)
	}
}

// BenchmarkSyncHubSpot10k: 10,000 contacts to HubSpot at 100 requests per
// 10 s and 100 per batch; the bound is 10 s.
func BenchmarkSyncHubSpot10k(b *testing.B) {
	syncBench(b, "hubspot", `map: {fields: {email: {from: email}, firstname: {from: name}}}`, 10000)
}

// BenchmarkSyncAirtable1k: 1,000 records to Airtable at 5 requests per
// second per base and 10 per batch; the bound is 20 s, and a single 429
// would cost a 30 s penalty.
func BenchmarkSyncAirtable1k(b *testing.B) {
	syncBench(b, "airtable", `map: {fields: {Email: {from: email}, Name: {from: name}}}`, 1000)
}
