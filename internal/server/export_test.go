package server

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

// ConnOf gives tests the connector of a destination in force, to check
// what happens to it after a reload retires it.
func ConnOf(s *Server, name string) connector.Connector { return s.gen.Load().conns[name] }

// SweepPeriodically runs the leader's settle sweep loop with the given
// timings until ctx ends.
func SweepPeriodically(ctx context.Context, s *Server, first, every time.Duration) {
	s.sweepPeriodically(ctx, first, every)
}
