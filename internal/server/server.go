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
	"reflect"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	_ "github.com/sluicehq/sluice/internal/connector/airtable" // registers "airtable"
	_ "github.com/sluicehq/sluice/internal/connector/httpdest" // registers "http"
	_ "github.com/sluicehq/sluice/internal/connector/hubspot"  // registers "hubspot"
	_ "github.com/sluicehq/sluice/internal/connector/notion"   // registers "notion"
	_ "github.com/sluicehq/sluice/internal/connector/sheets"   // registers "sheets"
	_ "github.com/sluicehq/sluice/internal/connector/slack"    // registers "slack"
	_ "github.com/sluicehq/sluice/internal/connector/sqldest"  // registers "sql"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/control"
	"github.com/sluicehq/sluice/internal/credential"
	"github.com/sluicehq/sluice/internal/delivery"
	"github.com/sluicehq/sluice/internal/egress"
	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/lint"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/redact"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
	"github.com/sluicehq/sluice/internal/ticket"
	"github.com/sluicehq/sluice/internal/trigger"
	"github.com/sluicehq/sluice/internal/version"
)

// Server is one running Sluice instance.
type Server struct {
	creds *credentials // credentials.go
	// Config is the config the server started with. Settings that cannot
	// change live (listen, store, delivery, alerts, retention,
	// consistency, poll sources) are read from it; the rest follow
	// reloads (reload.go).
	Config    *config.Config
	Driver    store.Driver
	Committer *store.Committer
	Gate      *pipeline.Gate
	// Tickets is the escalation ticket workflow, writing through Gate.
	Tickets *ticket.Workflow
	Engine  *delivery.Engine
	// Handler serves the HTTP handlers of the config in force.
	Handler http.Handler
	// AdminHandler serves the admin API and metrics: what Run serves on
	// admin_listen when it is set (else Handler serves them too).
	AdminHandler http.Handler
	// AdminListener, when set before Run, is used for admin_listen
	// instead of listening on the configured address (tests, socket
	// activation).
	AdminListener net.Listener
	certs         *certReloader
	Metrics       *metrics.Metrics
	Alerter       *alert.Alerter
	SLA           *control.SLAWatcher
	Drift         *control.SourceDrift
	Console       *console.Console // console.go: the operator console under /ui/
	Rollups       *control.Rollups // the console's per-minute rollups
	Log           *slog.Logger
	// Load reads the config again for Reload (SIGHUP, POST
	// /v1/config/reload); nil: the server cannot reload.
	Load func() (*config.Config, error)

	red      *redact.Redactor
	unlock   func() // releases the SQLite serve lock
	failures *control.FailureCounter
	gen      atomic.Pointer[generation] // the config in force
	reloadMu sync.Mutex                 // one reload at a time
	// trig runs the pollers, Airtable listings and webhook keepers of the
	// config in force (triggers.go).
	trig *triggerSet
	// notices works off the queue of platform notices (hook.go).
	notices  *trigger.NoticeWorker
	peers    *peers // cluster.go
	ready    bool
	draining atomic.Bool    // stopping: new requests get 503
	report   ShutdownReport // of the last stop
	mu       sync.Mutex
}

// Checker is the consistency checker of the config in force.
func (s *Server) Checker() *control.Checker { return s.gen.Load().checker }

// Version is the version (content hash) of the config in force.
func (s *Server) Version() string { return s.gen.Load().plan.Version }

func (s *Server) isReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}

// Check compiles everything a config describes without opening the store:
// schemas, mappings, conditions, signature settings and connector options.
// It is `sluice check`. Its connectors are built with credentials that
// request nothing, and closed before it returns.
func Check(c *config.Config) error {
	conns, _, es := buildConns(c, nil, checkParams)
	defer closeAll(mapValues(conns))
	return checkWith(c, conns, es)
}

// secrets are the values the redactor masks in logs and errors. For a
// destination whose connector has a Spec, its scalar options are secret
// when the spec says so (so a key_field or key_column is not mistaken for
// a key by its name); its URLs, mappings and lists, and options the spec
// does not know, go through redact's search by name as before.
func secrets(c *config.Config) []string {
	cc := *c
	cc.Destinations = make(map[string]*config.Destination, len(c.Destinations))
	var out []string
	for _, name := range sortedNames(c.Destinations) {
		d := c.Destinations[name]
		if d == nil {
			continue
		}
		spec, ok := connector.SpecOf(d.Type)
		if !ok {
			cc.Destinations[name] = d
			continue
		}
		out = append(out, spec.Secrets(d.Options)...)
		rest := map[string]any{}
		for k, v := range d.Options {
			if o, known := spec.Option(k); !known || o.Type == connector.URL || o.Type == connector.StringMap || o.Type == connector.StringList || o.Type == connector.Any {
				rest[k] = v
			}
		}
		dd := *d
		dd.Options = rest
		cc.Destinations[name] = &dd
	}
	return append(redact.FromConfig(&cc), out...)
}

// precheck is the part of Check that needs no connector: the flows
// compile and every destination's options pass its connector's Spec.
func precheck(c *config.Config) error {
	var es config.Errors
	if _, err := pipeline.Compile(c); err != nil {
		if !errors.As(err, &es) {
			return err
		}
	}
	for _, name := range sortedNames(c.Destinations) {
		d := c.Destinations[name]
		spec, ok := connector.SpecOf(d.Type)
		if !ok {
			continue // unknown types and connectors without a spec fail when built
		}
		p, err := checkParams(name, *d)
		if err == nil {
			_, err = spec.Normalize(p)
		}
		if err != nil {
			addConnError(&es, name, err)
		}
	}
	return es.Err()
}

// checkParams are a destination's connector.Params for Check: its
// credential block is validated, and stands in for a credential that is
// never opened.
func checkParams(name string, d config.Destination) (connector.Params, error) {
	params := connector.Params{Name: name, Options: d.Options, AllowPrivateNetwork: d.AllowPrivateNetwork}
	if d.Credential != nil {
		if err := credential.Validate(d.Type, *d.Credential, nil); err != nil {
			return params, err
		}
		params.Credential = unopened{}
	}
	return params, nil
}

// buildConns builds the connector of every destination of c, in the
// lifecycle's build-and-validate step: options decoded through the
// connector's Spec, values checked. A destination whose settings equal
// prev's keeps prev's connector (its rate limiter, circuit and
// connections); fresh lists the ones built here, which the caller closes
// when it does not keep them. Problems carry the field path of the option
// at fault (destinations.<name>.options.<opt>).
func buildConns(c *config.Config, prev *generation, params func(string, config.Destination) (connector.Params, error)) (conns map[string]connector.Connector, fresh []connector.Connector, es config.Errors) {
	conns = map[string]connector.Connector{}
	for _, name := range sortedNames(c.Destinations) {
		dc := c.Destinations[name]
		if prev != nil && reflect.DeepEqual(prev.cfg.Destinations[name], dc) && prev.conns[name] != nil {
			conns[name] = prev.conns[name]
			continue
		}
		p, err := params(name, *dc)
		var conn connector.Connector
		if err == nil {
			conn, err = connector.New(dc.Type, p)
		}
		if err != nil {
			addConnError(&es, name, err)
			continue
		}
		conns[name] = conn
		fresh = append(fresh, conn)
	}
	return conns, fresh, es
}

// addConnError adds a connector's refusal of its options at the field path
// of each option at fault.
func addConnError(es *config.Errors, name string, err error) {
	addOptionError(es, "destinations."+name, err)
}

// addOptionError adds err at base, or below it at the option it names.
func addOptionError(es *config.Errors, base string, err error) {
	var oe *connector.OptionsError
	if errors.As(err, &oe) {
		for _, p := range oe.Problems {
			es.Add(base+"."+p.Path(), "%s", p.Message)
		}
		return
	}
	// Connectors name the option in their own checks too
	// ("options.base_id: ...").
	if m := optionPrefix.FindStringSubmatch(err.Error()); m != nil {
		es.Add(base+"."+m[1], "%s", m[2])
		return
	}
	es.Add(base, "%v", err)
}

var optionPrefix = regexp.MustCompile(`^(options(?:\.[A-Za-z0-9_-]+|\[[0-9]+\])+): (.+)$`)

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// checkWith is the rest of Check over connectors already built (and the
// problems building them found): the compiled plan, TLS files, egress
// rules of the destinations and alert channels, poll feeds, and the names
// and types the flows use.
func checkWith(c *config.Config, conns map[string]connector.Connector, built config.Errors) error {
	var es config.Errors
	if _, err := pipeline.Compile(c); err != nil {
		var ce config.Errors
		if errors.As(err, &ce) {
			es = append(es, ce...)
		} else {
			es.Add("flows", "%v", err)
		}
	}
	if c.TLS != nil && c.TLS.CertFile != "" && c.TLS.KeyFile != "" {
		if _, err := newCertReloader(c); err != nil {
			es.Add("tls", "%v", err)
		}
	}
	es = append(es, built...)
	for _, name := range sortedNames(conns) {
		d := c.Destinations[name]
		params := connector.Params{Name: name, Options: d.Options, AllowPrivateNetwork: d.AllowPrivateNetwork}
		if err := connector.CheckEndpoints(params); err != nil {
			addConnError(&es, name, err)
		}
	}
	_, feedErrs := openFeeds(c, conns)
	es = append(es, feedErrs...)
	es = append(es, checkDeletes(c, conns)...)
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
	// Refuse a config whose flows or destination options are wrong before
	// opening anything. The connectors themselves are built once, by
	// provision below, which runs the rest of Check over them.
	if err := precheck(c); err != nil {
		return nil, err
	}
	plan, err := pipeline.Compile(c)
	if err != nil {
		return nil, err
	}
	red := redact.New(append(secrets(c), alert.Secrets(c.Alerts)...)...)
	log = slog.New(red.Handler(log.Handler()))
	// One server per SQLite file: a second one would claim the same work
	// believing it is the only writer.
	unlock := func() {}
	if kind, target := c.StoreKind(); kind == "sqlite" {
		if unlock, err = storesqlite.Lock(target); err != nil {
			return nil, err
		}
	}
	drv, err := OpenStore(ctx, c)
	if err != nil {
		unlock()
		return nil, err
	}
	s := &Server{Config: c, Driver: drv, Log: log, red: red, unlock: unlock}
	s.Committer = store.NewCommitter(drv, 512)
	s.Metrics = metrics.New(drv.Executor(), 5*time.Second, log)
	s.Metrics.SetDestinations(sortedNames(c.Destinations))
	s.Metrics.StoreCommits(s.Committer.Stats)
	// The one wall clock: every component that stamps or compares times
	// reads this.
	clock := o.Clock
	if clock == nil {
		clock = func() time.Time { return time.Now().UTC() }
	}
	credStore, _ := drv.(store.Credentials)
	s.creds = &credentials{st: credStore, now: clock}
	s.Gate = pipeline.New(pipeline.Config{Plan: plan, Driver: drv, Committer: s.Committer, Clock: clock, Log: log, Redact: red.String, Confirmed: s.Metrics.Confirmed,
		Settled: func(destination string, result pipeline.Settlement, retried bool) {
			s.Metrics.Settled(destination, string(result), retried)
		}})
	s.Tickets = ticket.New(ticket.Config{Gate: s.Gate, Read: drv.Executor(), Clock: clock})
	s.Alerter, err = alert.FromConfig(c.Alerts, clock)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.failures = &control.FailureCounter{Next: s.Metrics}
	s.SLA = &control.SLAWatcher{Gate: s.Gate, Store: drv.Executor(), Alerter: s.Alerter, Failures: s.failures, Log: log}
	s.Drift = &control.SourceDrift{Alerter: s.Alerter, Store: drv.Executor(), Now: clock, Log: log}
	if err := s.buildConsole(); err != nil {
		s.Close()
		return nil, err
	}
	g, err := s.provision(c, nil)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Gate.SetPlan(g.plan) // the same config, compiled once more by provision
	s.gen.Store(g)
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s:%d", host, os.Getpid())
	s.Engine = delivery.New(s.Gate, drv.Executor(), owner, c.Delivery.Lease.D(), c.Delivery.PollInterval.D(), log, g.dests)
	s.peers = newPeers(s, owner)
	t, err := s.buildTriggers(g)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.trig = newTriggerSet(s.peers.lead.Do, t)
	s.buildNoticeWorker()
	serve := func(pick func(*generation) http.Handler) http.Handler {
		return securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.draining.Load() {
				w.Header().Set("Connection", "close")
				httperr.Write(w, &httperr.Error{Code: http.StatusServiceUnavailable, Kind: "shutting_down", Msg: "sluice is shutting down; retry shortly", RetryAfter: 5 * time.Second})
				return
			}
			pick(s.gen.Load()).ServeHTTP(w, r)
		}))
	}
	s.Handler = serve(func(g *generation) http.Handler { return g.handler })
	s.AdminHandler = serve(func(g *generation) http.Handler { return g.admin })
	if c.TLS != nil {
		if s.certs, err = newCertReloader(c); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// registerOps adds the endpoints that are not the intake or the admin API:
// metrics and the health probes.
func (s *Server) registerOps(mux *http.ServeMux) {
	mux.Handle("GET /metrics", s.Metrics.Handler())
	s.registerHealth(mux)
}

// registerHealth adds the health probes, which both listeners serve.
func (s *Server) registerHealth(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httperr.JSON(w, http.StatusOK, map[string]any{"ok": true, "version": version.Get(), "config_version": s.Version()})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.isReady() {
			httperr.Write(w, httperr.New(http.StatusServiceUnavailable, "not_ready", "starting or stopping"))
			return
		}
		if _, err := s.Driver.Executor().DestinationStateGet(r.Context(), "_"); err != nil {
			httperr.Write(w, httperr.New(http.StatusServiceUnavailable, "store_unavailable", "store not reachable"))
			return
		}
		// Intake cannot accept anything while the store cannot write, so
		// the instance leaves rotation, and rejoins by itself once a probe
		// write succeeds again (space freed, file system writable).
		if err := s.Committer.Writable(r.Context()); err != nil {
			s.Log.Warn("readiness: store cannot write", "err", err)
			httperr.Write(w, &httperr.Error{Code: http.StatusServiceUnavailable, Kind: "store_unwritable", Msg: "store cannot write (disk full or read-only)", RetryAfter: 30 * time.Second})
			return
		}
		httperr.JSON(w, http.StatusOK, map[string]any{"ok": true, "leader": s.peers.lead.Leading(), "instances": s.peers.members.Count()})
	})
}

// securityHeaders gives every answer, JSON or not (metrics, a 404 from the
// mux), the headers httperr.SecurityHeaders describes.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httperr.SecurityHeaders(w.Header())
		h.ServeHTTP(w, r)
	})
}

// Run serves HTTP on ln and runs the engine until ctx ends, then shuts down
// in order: stop accepting, finish requests, finish attempts, commit, close.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler, ErrorLog: slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	engCtx, stopEngine := context.WithCancel(context.Background())
	waitPeers, err := s.startPeers(engCtx, ln.Addr())
	if err != nil {
		stopEngine()
		return err
	}
	engDone := make(chan struct{})
	go func() { s.Engine.Run(engCtx); close(engDone) }()
	errc := make(chan error, 2)
	ln = s.wrapTLS(ln)
	go func() { errc <- srv.Serve(ln) }()
	var adminSrv *http.Server
	if s.Config.AdminListen != "" {
		aln := s.AdminListener
		if aln == nil {
			if aln, err = net.Listen("tcp", s.Config.AdminListen); err != nil {
				err = fmt.Errorf("admin_listen: %w", err)
				errc <- err
			}
		}
		if aln != nil {
			adminSrv = &http.Server{Handler: s.AdminHandler, ErrorLog: srv.ErrorLog, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
			aln = s.wrapTLS(aln)
			go func() { errc <- adminSrv.Serve(aln) }()
		}
	}
	// The trigger loops and the notice worker run on the leader.
	s.trig.start(engCtx)
	noticesDone := make(chan struct{})
	go func() { s.peers.lead.Do(engCtx, s.notices.Run); close(noticesDone) }()
	rollDone := make(chan struct{})
	go func() { s.Rollups.Run(engCtx, RollupEvery); close(rollDone) }()
	slaDone := make(chan struct{})
	go func() { s.SLA.Run(engCtx, s.Config.Alerts.Interval.D()); close(slaDone) }()
	driftDone := make(chan struct{})
	go func() { s.Drift.Run(engCtx); close(driftDone) }()
	if every := s.Config.Consistency.Interval.D(); every > 0 {
		go s.peers.lead.Do(engCtx, func(ctx context.Context) { s.checkPeriodically(ctx, every) })
	}
	go s.peers.lead.Do(engCtx, func(ctx context.Context) { s.verifyPeriodically(ctx, time.Minute, completenessEvery) })
	go s.peers.lead.Do(engCtx, func(ctx context.Context) { s.sweepPeriodically(ctx, sweepFirst, sweepEvery) })
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Drain: new requests get 503 with Retry-After from now on (the
	// listener closes too); the engine claims nothing more, and the
	// attempts in flight get until the shutdown timeout to finish and
	// commit their outcomes. Requests already inside finish as well: a
	// capture that started is committed and answered.
	s.mu.Lock()
	s.ready = false
	s.mu.Unlock()
	s.draining.Store(true)
	began := time.Now()
	timeout := s.gen.Load().cfg.ShutdownTimeout.D()
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rep := ShutdownReport{InFlight: s.Engine.Attempting(), Timeout: timeout, Lease: s.Config.Delivery.Lease.D()}
	stopEngine()
	_ = srv.Shutdown(shutCtx)
	if adminSrv != nil {
		_ = adminSrv.Shutdown(shutCtx)
	}
	select {
	case <-engDone:
	case <-shutCtx.Done():
	}
	rep.Left = s.Engine.Attempting()
	rep.Finished = max(rep.InFlight-rep.Left, 0)
	rep.Took = time.Since(began)
	s.mu.Lock()
	s.report = rep
	s.mu.Unlock()
	s.Log.Info("sluice stopped", "in_flight", rep.InFlight, "finished", rep.Finished, "left_leased", rep.Left, "took", rep.Took.Round(time.Millisecond))
	<-slaDone
	<-rollDone
	<-driftDone
	s.trig.stop()
	<-noticesDone
	waitPeers()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ShutdownReport says what a graceful stop did.
type ShutdownReport struct {
	// InFlight deliveries were being attempted when the stop began;
	// Finished of them completed and were recorded; Left were still
	// running at the timeout and stay leased: the next start retries them
	// (as ambiguous, so nothing is written twice) once the lease expires.
	InFlight, Finished, Left int
	Took                     time.Duration
	Timeout, Lease           time.Duration
}

func (r ShutdownReport) String() string {
	s := fmt.Sprintf("stopped: intake closed; %d deliveries in flight, %d finished", r.InFlight, r.Finished)
	if r.Left > 0 {
		s += fmt.Sprintf(", %d still running after %s left leased: the next start retries them once their lease (%s) expires", r.Left, r.Timeout, r.Lease)
	} else {
		s += ", none left"
	}
	return s + fmt.Sprintf(" (took %s)", r.Took.Round(time.Millisecond))
}

// ShutdownReport is what the last Run's graceful stop did.
func (s *Server) ShutdownReport() ShutdownReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.report
}

// Close releases the connectors and the store. Run has waited for the
// deliveries in flight (up to shutdown_timeout) by then; the connectors get
// shutdown_timeout more to close.
func (s *Server) Close() error {
	if g := s.gen.Load(); g != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.closeTimeout())
		if err := closeConns(ctx, g.conns); err != nil {
			s.Log.Warn("close connectors", "err", err)
		}
		cancel()
	}
	if s.Committer != nil {
		s.Committer.Close()
	}
	err := s.Driver.Close()
	if s.unlock != nil {
		s.unlock()
	}
	return err
}

// checkPeriodically runs sampled consistency checks until ctx ends.
// completenessEvery is how often the leader re-proves that every event's
// audit trail explains its state (a full scan of the audit log).
const completenessEvery = 15 * time.Minute

// verifyPeriodically runs the audit completeness check first after first,
// then every every, and publishes the result as metrics (logging
// completeness); gaps are also logged.
func (s *Server) verifyPeriodically(ctx context.Context, first, every time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(every)
		comp, err := pipeline.VerifyComplete(ctx, s.Driver.Executor())
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Error("audit completeness check", "err", err)
			}
			continue
		}
		s.Metrics.Completeness(comp.Events, len(comp.Gaps), time.Now())
		for _, g := range comp.Gaps {
			s.Log.Warn("event audit trail incomplete", "event_id", g.EventID, "state", g.State, "trail_state", g.Trail, "reason", g.Reason)
		}
	}
}

func (s *Server) checkPeriodically(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		reps, err := s.Checker().Check(ctx, control.CheckParams{Sample: s.Config.Consistency.Sample})
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
