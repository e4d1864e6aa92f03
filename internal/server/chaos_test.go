package server_test

import (
	"context"
	"encoding/json"
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

	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/simrun"
	"github.com/sluicehq/sluice/internal/store"
)

// TestChaosFivePlatforms sends 1,000 leads through all five simulated
// platforms while they fail: a 429 storm, 5xx answers, writes applied but
// never answered, partial batches. Every event must end delivered or
// escalated with a reason, and no platform may hold two records for a key.
func TestChaosFivePlatforms(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: skipped with -short")
	}
	const leads = 1000
	chaosDeadline := 4 * time.Minute
	if os.Getenv("CHAOS_QUICK") != "" {
		chaosDeadline = 40 * time.Second
	}
	sims, err := simrun.Start(simrun.Options{Seed: 11, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sims.Close()
	storm := sim.Faults{Errors: map[string]float64{"429": 0.3, "500": 0.05, "503": 0.05}, TimeoutAfterWrite: 0.02, PartialBatch: 0.1}
	steady := sim.Faults{Errors: map[string]float64{"500": 0.03, "503": 0.02}, TimeoutAfterWrite: 0.02, PartialBatch: 0.05}
	if err := sims.SetFaults(storm); err != nil {
		t.Fatal(err)
	}
	// Airtable and Sheets answer a 429 with a 30 s and 60 s penalty; keep
	// their storm to 5xx so the test stays short (their penalties are
	// covered by their own tests).
	sims.Airtable.SetFaults(steady)
	sims.Sheets.SetFaults(steady)

	cfgText := fmt.Sprintf("store: %q\nadmin_tokens: [{name: ops, token: ops-token-0123456789, role: admin}]\nsources: {forms: {allow_unsigned: true}}\ndelivery: {poll_interval: 20ms, lease: 30s}\n",
		filepath.Join(t.TempDir(), "chaos.db")) + sims.LeadFlowYAML("forms", 90000, true, 30)
	c := parseConfig(t, cfgText)
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()
	h := &harness{t: t, url: "http://" + ln.Addr().String()}

	ids := make([]string, leads)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < leads; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			body := fmt.Sprintf(`{"contact":{"email":"lead%04d@chaos.example","name":"Lead %d"},"company":"Co %d","amount":%d}`, i, i, i%50, (i%100)*1000)
			req, _ := http.NewRequest("POST", h.url+"/v1/sources/forms/events", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			var res struct {
				EventID string `json:"event_id"`
			}
			decodeJSON(resp.Body, &res)
			resp.Body.Close()
			if resp.StatusCode != 202 {
				t.Errorf("lead %d: %d", i, resp.StatusCode)
			}
			ids[i] = res.EventID
		}()
	}
	wg.Wait()
	// The storm lasts until a third of the leads are through, so every
	// platform, including those that run after the CRM, is caught in it.
	ex := srv.Driver.Executor()
	for start := time.Now(); time.Since(start) < 60*time.Second; time.Sleep(100 * time.Millisecond) {
		counts, _ := ex.EventCountByState(context.Background())
		if counts[string(store.EventDelivered)] >= leads/3 {
			break
		}
	}
	if err := sims.SetFaults(steady); err != nil { // the storm passes
		t.Fatal(err)
	}

	deadline := time.Now().Add(chaosDeadline)
	for {
		counts, err := ex.EventCountByState(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if counts[string(store.EventDelivering)] == 0 {
			t.Logf("final states: %v", counts)
			break
		}
		if time.Now().After(deadline) {
			stuck := map[string]int{}
			example := map[string]string{}
			for _, id := range ids {
				ds, _ := ex.DeliveryListByEvent(context.Background(), id)
				for _, d := range ds {
					if d.State == store.DeliverySucceeded || d.State == store.DeliveryEscalated || d.State == store.DeliveryCancelled {
						continue
					}
					k := fmt.Sprintf("%s/%s", d.Destination, d.State)
					stuck[k]++
					example[k] = fmt.Sprintf("attempts=%d next=%s ambiguous=%v err=%s", d.Attempts, time.Until(d.NextAt), d.Ambiguous, d.LastError)
				}
			}
			t.Fatalf("still delivering after the deadline: %v\nstuck: %v\nexamples: %v", counts, stuck, example)
		}
		time.Sleep(250 * time.Millisecond)
	}
	var delivered, escalated int
	for _, id := range ids {
		ev, err := ex.EventGetByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.State {
		case store.EventDelivered:
			delivered++
		case store.EventEscalated:
			escalated++
			escs, _ := ex.EscalationList(context.Background(), &store.EscalationListParams{EventID: id})
			if len(escs) == 0 || escs[0].Reason == "" {
				t.Errorf("event %s escalated without a reason", id)
			}
		default:
			t.Errorf("event %s ended %s", id, ev.State)
		}
	}
	keys := sims.Keys()
	for platform, ks := range keys {
		for i := 1; i < len(ks); i++ {
			if ks[i] == ks[i-1] {
				t.Errorf("%s holds two records for %s", platform, ks[i])
			}
		}
	}
	stats := sims.Stats()
	for p, st := range stats {
		if st.DuplicatesByKey != 0 {
			t.Errorf("%s counted %d duplicate keys", p, st.DuplicatesByKey)
		}
		t.Logf("%-8s records=%4d requests=%5d 429s=%4d injected=%4d timeouts-after-write=%3d partial-batch-items=%3d",
			p, len(keys[p]), st.Requests, st.RateLimited, st.InjectedErrors, st.TimeoutsAfterWrite, st.PartialBatchItems)
	}
	if len(keys["hubspot"]) < leads*9/10 {
		t.Errorf("only %d of %d leads reached HubSpot", len(keys["hubspot"]), leads)
	}
	t.Logf("%d delivered, %d escalated with a reason", delivered, escalated)
}

func decodeJSON(r io.Reader, v any) {
	_ = json.NewDecoder(r).Decode(v)
}
