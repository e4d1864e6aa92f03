package server

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/pipeline"
)

// The settle sweep (pipeline.Gate.SweepSettles, ADR 0044) runs on the
// leader: first sweepFirst after it leads, then every sweepEvery, each time
// walking up to sweepWindows windows of sweepWindow delivering events and
// resuming there the next time. Events changed within sweepGrace are left
// to their own settle.
const (
	sweepFirst   = time.Minute
	sweepEvery   = 5 * time.Minute
	sweepWindow  = 500
	sweepWindows = 20
	sweepGrace   = time.Minute
)

// sweepPeriodically runs the settle sweep until ctx ends. Each repair is a
// warning in the log and a count in sluice_settle_sweep_repaired_total:
// it means some settle did not move its event, a bug to report.
func (s *Server) sweepPeriodically(ctx context.Context, first, every time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	after := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(every)
		for range sweepWindows {
			rep, err := s.Gate.SweepSettles(ctx, pipeline.SweepParams{AfterID: after, Limit: sweepWindow, Grace: sweepGrace})
			for _, r := range rep.Repaired {
				s.Metrics.SweepRepaired(string(r.State))
				s.Log.Warn("settle sweep repaired an event left delivering", "event_id", r.ID, "state", r.State)
			}
			if err != nil {
				if ctx.Err() == nil {
					s.Log.Error("settle sweep", "err", err)
				}
				break
			}
			if after = rep.Next; after == "" {
				break
			}
		}
	}
}
