// Package server assembles a running Sluice from a config: the store, the
// compiled plan, the connectors, the gate, the delivery engine and the HTTP
// handlers. `sluice serve`, `sluice demo` and the end-to-end tests all start
// Sluice through it, so they run the same thing.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	_ "github.com/sluicehq/sluice/internal/connector/airtable" // registers "airtable"
	_ "github.com/sluicehq/sluice/internal/connector/httpdest" // registers "http"
	_ "github.com/sluicehq/sluice/internal/connector/hubspot"  // registers "hubspot"
	_ "github.com/sluicehq/sluice/internal/connector/notion"   // registers "notion"
	_ "github.com/sluicehq/sluice/internal/connector/sheets"   // registers "sheets"
	_ "github.com/sluicehq/sluice/internal/connector/slack"    // registers "slack"
	_ "github.com/sluicehq/sluice/internal/connector/sqldest"  // registers "sql"
	"github.com/sluicehq/sluice/internal/control"
	"github.com/sluicehq/sluice/internal/delivery"
	"github.com/sluicehq/sluice/internal/egress"
	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/ingest"
	"github.com/sluicehq/sluice/internal/lint"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
	"github.com/sluicehq/sluice/internal/trigger"
	"github.com/sluicehq/sluice/internal/version"
)

// Server is one running Sluice instance.
type Server struct {
	Config    *config.Config
	Plan      *pipeline.Plan
	Driver    store.Driver
	Committer *store.Committer
	Gate      *pipeline.Gate
	Engine    *delivery.Engine
	Handler   http.Handler
	Metrics   *metrics.Metrics
	Checker   *control.Checker
	Alerter   *alert.Alerter
	SLA       *control.SLAWatcher
	Drift     *control.SourceDrift
	Log       *slog.Logger
	conns     []connector.Connector
	pollers   []*trigger.Poller // poll.go
	peers     *peers            // cluster.go
	ready     bool
	mu        sync.Mutex
}

// Check compiles everything a config describes without opening the store:
// schemas, mappings, conditions, signature settings and connector options.
// It is `sluice check`.
func Check(c *config.Config) error {
	var es config.Errors
	if _, err := pipeline.Compile(c); err != nil {
		var ce config.Errors
		if errors.As(err, &ce) {
			es = append(es, ce...)
		} else {
			es.Add("flows", "%v", err)
		}
	}
	conns := map[string]connector.Connector{}
	for _, name := range sortedNames(c.Destinations) {
		d := c.Destinations[name]
		params := connector.Params{Name: name, Options: d.Options, AllowPrivateNetwork: d.AllowPrivateNetwork}
		conn, err := connector.New(d.Type, params)
		if err != nil {
			es.Add("destinations."+name, "%v", err)
			continue
		}
		conns[name] = conn
		if err := connector.CheckEndpoints(params); err != nil {
			es.Add("destinations."+name, "%v", err)
		}
	}
	_, feedErrs := openFeeds(c, conns)
	es = append(es, feedErrs...)
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	for i := range c.Alerts.Channels {
		ch := &c.Alerts.Channels[i]
		host := ch.Host
		if u, err := url.Parse(ch.URL); ch.URL != "" && err == nil {
			host = u.Hostname()
		}
		guard := egress.For("alert channel "+ch.Label(i), ch.AllowPrivateNetwork)
		if err := guard.CheckHost(host); err != nil {
			es.Add(fmt.Sprintf("alerts.channels[%d]", i), "%v", err)
		}
	}
	if len(es) == 0 {
		// Names and types checked against what the flows produce; only
		// worth it once every piece compiles on its own.
		es = append(es, lint.Check(c, conns)...)
	}
	return es.Err()
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// OpenStore opens the driver the config names.
func OpenStore(ctx context.Context, c *config.Config) (store.Driver, error) {
	kind, target := c.StoreKind()
	switch kind {
	case "sqlite":
		return storesqlite.Open(ctx, target)
	case "postgres":
		return storepg.Open(ctx, target)
	default:
		return nil, fmt.Errorf("store: %s is not supported by this build", kind)
	}
}

// Options are the rarely needed settings of NewWith.
type Options struct {
	// Clock is the one wall clock every component reads; nil means
	// time.Now in UTC. Tests move it.
	Clock func() time.Time
}

// New builds a server; nothing runs until Run.
func New(ctx context.Context, c *config.Config, log *slog.Logger) (*Server, error) {
	return NewWith(ctx, c, log, Options{})
}

// NewWith is New with options.
func NewWith(ctx context.Context, c *config.Config, log *slog.Logger, o Options) (*Server, error) {
	if err := Check(c); err != nil {
		return nil, err
	}
	plan, err := pipeline.Compile(c)
	if err != nil {
		return nil, err
	}
	red := redact.New(append(redact.FromConfig(c), alert.Secrets(c.Alerts)...)...)
	log = slog.New(red.Handler(log.Handler()))
	drv, err := OpenStore(ctx, c)
	if err != nil {
		return nil, err
	}
	s := &Server{Config: c, Plan: plan, Driver: drv, Log: log}
	s.Committer = store.NewCommitter(drv, 512)
	s.Metrics = metrics.New(drv.Executor(), 5*time.Second, log)
	s.Metrics.SetDestinations(sortedNames(c.Destinations))
	// The one wall clock: every component that stamps or compares times
	// reads this.
	clock := o.Clock
	if clock == nil {
		clock = func() time.Time { return time.Now().UTC() }
	}
	s.Gate = pipeline.New(pipeline.Config{Plan: plan, Driver: drv, Committer: s.Committer, Clock: clock, Log: log, Redact: red.String, Confirmed: s.Metrics.Confirmed})
	s.Alerter, err = alert.FromConfig(c.Alerts, clock)
	if err != nil {
		s.Close()
		return nil, err
	}
	failures := &control.FailureCounter{Next: s.Metrics}
	s.SLA = &control.SLAWatcher{Gate: s.Gate, Store: drv.Executor(), Alerter: s.Alerter, Failures: failures, Log: log}
	var dests []delivery.Destination
	s.Checker = &control.Checker{Gate: s.Gate, Store: drv.Executor(), Conns: map[string]connector.Connector{}, Observe: s.Metrics.Consistency, Unverifiable: s.Metrics.Unverifiable}
	for _, name := range sortedNames(c.Destinations) {
		dc := c.Destinations[name]
		conn, err := connector.New(dc.Type, connector.Params{Name: name, Options: dc.Options, AllowPrivateNetwork: dc.AllowPrivateNetwork})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("destinations.%s: %w", name, err)
		}
		s.conns = append(s.conns, conn)
		s.Checker.Conns[name] = conn
		dests = append(dests, delivery.Destination{Name: name, Conn: conn, Conf: dc, Observer: failures})
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s:%d", host, os.Getpid())
	s.Engine = delivery.New(s.Gate, drv.Executor(), owner, c.Delivery.Lease.D(), c.Delivery.PollInterval.D(), log, dests)
	s.peers = newPeers(s, owner)
	if err := s.buildPollers(s.Checker.Conns); err != nil {
		s.Close()
		return nil, err
	}

	ing, err := ingest.New(s.Gate, c, log)
	if err != nil {
		s.Close()
		return nil, err
	}
	ing.OnCaptured = s.wake
	ing.Observe = s.Metrics.Intake
	s.Drift = &control.SourceDrift{Alerter: s.Alerter, Now: clock, Log: log}
	ing.Inspect = s.Drift.Observe
	mux := http.NewServeMux()
	mux.Handle("POST /v1/sources/{source}/events", ing)
	(&api.API{Gate: s.Gate, Store: drv.Executor(), StoreName: drv.Name(), Checker: s.Checker, Drift: s.Drift, Config: c, Log: log, OnChange: s.wake}).Register(mux)
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httperr.JSON(w, http.StatusOK, map[string]any{"ok": true, "version": version.Get()})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ready := s.ready
		s.mu.Unlock()
		if !ready {
			httperr.Write(w, httperr.New(http.StatusServiceUnavailable, "not_ready", "starting or stopping"))
			return
		}
		if _, err := drv.Executor().DestinationStateGet(r.Context(), "_"); err != nil {
			httperr.Write(w, httperr.New(http.StatusServiceUnavailable, "store_unavailable", "store not reachable"))
			return
		}
		httperr.JSON(w, http.StatusOK, map[string]any{"ok": true, "leader": s.peers.lead.Leading(), "instances": s.peers.members.Count()})
	})
	s.Handler = mux
	return s, nil
}

// Run serves HTTP on ln and runs the engine until ctx ends, then shuts down
// in order: stop accepting, finish requests, finish attempts, commit, close.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	engCtx, stopEngine := context.WithCancel(context.Background())
	waitPeers, err := s.startPeers(engCtx, ln.Addr())
	if err != nil {
		stopEngine()
		return err
	}
	engDone := make(chan struct{})
	go func() { s.Engine.Run(engCtx); close(engDone) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	waitPollers := s.startPollers(engCtx)
	slaDone := make(chan struct{})
	go func() { s.SLA.Run(engCtx, s.Config.Alerts.Interval.D()); close(slaDone) }()
	if every := s.Config.Consistency.Interval.D(); every > 0 {
		go s.peers.lead.Do(engCtx, func(ctx context.Context) { s.checkPeriodically(ctx, every) })
	}
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.mu.Lock()
	s.ready = false
	s.mu.Unlock()
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	stopEngine()
	<-engDone
	<-slaDone
	waitPollers()
	waitPeers()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases the store and connectors.
func (s *Server) Close() error {
	for _, c := range s.conns {
		c.Close()
	}
	if s.Committer != nil {
		s.Committer.Close()
	}
	return s.Driver.Close()
}

// checkPeriodically runs sampled consistency checks until ctx ends.
func (s *Server) checkPeriodically(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		reps, err := s.Checker.Check(ctx, control.CheckParams{Sample: s.Config.Consistency.Sample})
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Error("consistency check", "err", err)
			}
			continue
		}
		for _, r := range reps {
			if len(r.Findings) > 0 {
				s.Log.Warn("consistency check found differences", "destination", r.Destination, "checked", r.Checked, "inconsistent", len(r.Findings))
			}
		}
	}
}
