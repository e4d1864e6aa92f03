package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/server"
	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/store"
)

// TestSweepLoopRepairsAndCounts: the leader's sweep loop settles an event
// left delivering after its delivery succeeded (made here by moving a
// delivered event back), audits it and counts it in
// sluice_settle_sweep_repaired_total.
func TestSweepLoopRepairsAndCounts(t *testing.T) {
	ns := startCountingSim(t, pollTokenA)
	h := startPollReload(t, pollSrc{name: "a", url: ns.url, token: pollTokenA, db: notionsim.DefaultDatabaseID, interval: "1h"})
	ns.createPage(t, notionsim.DefaultDatabaseID, "stuck@x.co")
	if _, err := h.srv.PollNow(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stuck@x.co delivered", func() bool { return h.sink.count("stuck@x.co") == 1 })
	ex := h.srv.Driver.Executor()
	var id string
	waitFor(t, "the event settled", func() bool {
		evs, err := ex.EventList(context.Background(), &store.EventListParams{State: store.EventDelivered})
		if err != nil || len(evs) != 1 {
			return false
		}
		id = evs[0].ID
		return true
	})
	tx, err := h.srv.Driver.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.EventUpdate(context.Background(), &store.EventUpdateParams{ID: id, State: store.EventDelivering, Now: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { server.SweepPeriodically(ctx, h.srv, 0, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()
	// The counter moves after the repair's commit is durable, which is a
	// sync after other connections can read it (ADR 0046): wait for both.
	repaired := func() float64 {
		mfs, err := h.srv.Metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var got float64
		for _, mf := range mfs {
			if mf.GetName() == "sluice_settle_sweep_repaired_total" {
				for _, m := range mf.GetMetric() {
					if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "delivered" {
						got = m.GetCounter().GetValue()
					}
				}
			}
		}
		return got
	}
	waitFor(t, "the sweep's repair, counted", func() bool {
		return hasAudit(t, h.srv.Driver, audit.ActionSettleSwept) && repaired() >= 1
	})
	if st, err := ex.EventStateGet(context.Background(), id); err != nil || st != store.EventDelivered {
		t.Fatalf("event after the sweep: %s %v", st, err)
	}
	if got := repaired(); got != 1 {
		t.Fatalf("sluice_settle_sweep_repaired_total{state=\"delivered\"} = %v, want 1", got)
	}
}
