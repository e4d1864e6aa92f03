package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/control"
	"github.com/sluicehq/sluice/internal/store"
)

// RollupEvery is how often each instance folds the audit log into the
// console's per-minute rollups.
var RollupEvery = 10 * time.Second

// buildConsole builds the operator console and its rollup job, once per
// server: sessions survive config reloads. The console reads the config
// and plan in force at each request.
func (s *Server) buildConsole() error {
	read, ok := s.Driver.Executor().(console.Reader)
	if !ok {
		return fmt.Errorf("console: store driver %s does not support the console's queries", s.Driver.Name())
	}
	s.Rollups = &control.Rollups{Driver: s.Driver, Log: s.Log}
	c, err := console.New(console.Config{
		Ops: s.Gate, Tickets: s.Tickets, Read: read, Plan: s.Gate.Plan,
		Config: func() *config.Config { return s.gen.Load().cfg },
		Lookup: s.consoleLookup, Extra: s.consoleExtras,
		Now: s.Gate.Now, Log: s.Log, OnChange: s.wake,
	})
	if err != nil {
		return err
	}
	s.Console = c
	return nil
}

// mountConsole adds /ui/ to a generation's mux (the console goes wherever
// the admin API goes).
func (s *Server) mountConsole(mux *http.ServeMux) {
	mux.Handle("/ui/", s.Console.Handler())
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
}

// recordConsistency adds a consistency check's counts to the rollups.
func (s *Server) recordConsistency(ctx context.Context, r control.DestinationReport) {
	if err := s.Rollups.Consistency(ctx, s.Gate.Now(), r.Destination, r.Checked, len(r.Findings)); err != nil {
		s.Log.Error("console rollups: consistency", "err", err)
	}
}

// consoleLookup reads a record back from a destination for the conflict
// view; destinations that cannot be read back answer ok=false.
func (s *Server) consoleLookup(ctx context.Context, destination, recordKey string) (map[string]any, bool, error) {
	conn := s.Checker().Conns[destination]
	lk, ok := conn.(connector.Looker)
	if !ok {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, fields, found, err := lk.Lookup(ctx, recordKey)
	if err != nil {
		return nil, false, fmt.Errorf("read back from %s: %w", destination, err)
	}
	return fields, found, nil
}

// consoleExtras collects what the Destinations page shows beside the
// store: each destination's worker (circuit, rate, latest failure, from
// the delivery engine), source drift and open SLA breaches.
func (s *Server) consoleExtras(ctx context.Context) console.DestinationExtras {
	ex := console.DestinationExtras{Health: map[string]console.DestinationHealth{}}
	for name := range s.gen.Load().cfg.Destinations {
		if s.Engine == nil {
			break
		}
		h, ok := s.Engine.Health(name)
		if !ok {
			continue
		}
		ex.Health[name] = console.DestinationHealth{Breaker: h.Breaker, Failures: h.Failures, Rate: h.Rate, Adaptive: h.Adaptive,
			Concurrency: h.Concurrency, LastErrorAt: h.LastErrorAt, LastClass: h.LastClass, LastStatus: h.LastStatus,
			LastError: s.Gate.Clean(h.LastError)}
	}
	if s.Drift != nil {
		for _, f := range s.Drift.Findings() {
			ex.Drift = append(ex.Drift, fmt.Sprintf("%s: %s %s (%s) since %s", f.Source, f.Kind, f.Field, f.Detail, f.Since.UTC().Format(time.RFC3339)))
		}
		sort.Strings(ex.Drift)
	}
	if sla, ok := s.Driver.Executor().(store.SLAStore); ok {
		bs, err := sla.SLABreachList(ctx, &store.SLABreachListParams{Status: "open", Limit: 50})
		if err == nil {
			for _, b := range bs {
				ex.SLA = append(ex.SLA, fmt.Sprintf("%s %s: %s since %s", b.Kind, b.Subject, string(b.Details), b.OpenedAt.UTC().Format(time.RFC3339)))
			}
		}
	}
	return ex
}
