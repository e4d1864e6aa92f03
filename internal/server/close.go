package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/delivery"
)

// idleCloseTimeout bounds closing connectors nothing ever ran on (those a
// refused config or `sluice check` built): there is nothing to wait for.
const idleCloseTimeout = 10 * time.Second

// closeAll closes connectors nothing ran on.
func closeAll(conns []connector.Connector) {
	ctx, cancel := context.WithTimeout(context.Background(), idleCloseTimeout)
	defer cancel()
	for _, c := range conns {
		_ = connector.Close(ctx, c)
	}
}

// closeTimeout bounds closing connectors after their deliveries in flight
// finished: the config's shutdown_timeout, the bound of a graceful stop.
func (s *Server) closeTimeout() time.Duration {
	if g := s.gen.Load(); g != nil && g.cfg.ShutdownTimeout.D() > 0 {
		return g.cfg.ShutdownTimeout.D()
	}
	return 30 * time.Second
}

// closeConns closes named connectors by ctx's deadline and joins their
// errors, each naming its destination.
func closeConns(ctx context.Context, conns map[string]connector.Connector) error {
	names := make([]string, 0, len(conns))
	for name := range conns {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := connector.Close(ctx, conns[name]); err != nil {
			errs = append(errs, fmt.Errorf("destination %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// retire closes the connectors of destinations a reload took out of the
// engine (removed, or rebuilt because their settings changed) once wait
// says their workers stopped: every attempt in flight on them finished and
// committed its outcome (an attempt is bounded by the destination's
// timeout, at most half the lease), so no delivery loses its connection
// mid-write. The closes are bounded by closeTimeout.
func (s *Server) retire(retired []delivery.Destination, wait func()) {
	wait()
	if len(retired) == 0 {
		return
	}
	conns := make(map[string]connector.Connector, len(retired))
	for _, d := range retired {
		conns[d.Name] = d.Conn
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.closeTimeout())
	defer cancel()
	if err := closeConns(ctx, conns); err != nil {
		s.Log.Warn("close retired connectors", "err", err)
	}
}
