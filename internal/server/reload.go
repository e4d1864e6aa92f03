package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/control"
	"github.com/sluicehq/sluice/internal/delivery"
	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/ingest"
	"github.com/sluicehq/sluice/internal/pipeline"
)

// generation is everything built from one config that a reload replaces as
// a whole: the compiled plan, the connectors, the consistency checker and
// the HTTP handlers (intake with its signature verifiers, the admin API
// with its tokens). The store, the committer, the gate, the engine and the
// metrics live across generations.
type generation struct {
	cfg     *config.Config
	plan    *pipeline.Plan
	conns   map[string]connector.Connector // by destination name
	dests   []delivery.Destination
	checker *control.Checker
	// readers read the pages Notion notices name, by source.
	readers map[string]connector.RecordReader
	handler http.Handler
	admin   http.Handler // the same as handler without admin_listen
}

// provision builds a generation from c, reusing prev's connector of every
// destination whose settings did not change (so it keeps its rate limiter,
// circuit and connections). Everything that can fail fails here, before
// anything in force changes; on failure the connectors it built are closed.
func (s *Server) provision(c *config.Config, prev *generation) (*generation, error) {
	var es config.Errors
	plan, err := pipeline.Compile(c)
	if err != nil {
		var ce config.Errors
		if !errors.As(err, &ce) {
			return nil, err
		}
		es = append(es, ce...)
	}
	conns, fresh, built := buildConns(c, prev, s.creds.params)
	g := &generation{cfg: c, plan: plan, conns: conns}
	if err := es.Err(); err == nil {
		// The checks of `sluice check` over the connectors just built:
		// each is built once, here, not once more to check it.
		if err := checkWith(c, conns, built); err != nil {
			closeAll(fresh)
			return nil, err
		}
	} else {
		es = append(es, built...)
		closeAll(fresh)
		return nil, es.Err()
	}
	for _, name := range sortedNames(conns) {
		g.dests = append(g.dests, delivery.Destination{Name: name, Conn: conns[name], Conf: c.Destinations[name], Observer: s.failures})
	}
	g.checker = &control.Checker{Gate: s.Gate, Store: s.Driver.Executor(), Conns: g.conns, Observe: s.Metrics.Consistency, Unverifiable: s.Metrics.Unverifiable, Record: s.recordConsistency}
	ing, err := ingest.New(s.Gate, c, s.Log)
	if err != nil {
		closeAll(fresh)
		return nil, err
	}
	readers, res := platformReaders(c, g.conns)
	if err := res.Err(); err != nil {
		closeAll(fresh)
		return nil, err
	}
	g.readers = readers
	ing.OnNotice = s.wakeNotices
	ing.OnCaptured = s.wakeFor
	ing.Observe = s.Metrics.Intake
	ing.Inspect = s.Drift.Observe
	mux := http.NewServeMux()
	mux.Handle("POST /v1/sources/{source}/events", ing)
	// With admin_listen the admin API and metrics live on their own
	// listener; the intake listener keeps only intake and health probes.
	admin := mux
	if c.AdminListen != "" {
		admin = http.NewServeMux()
		s.registerHealth(mux)
	}
	(&api.API{Gate: s.Gate, Tickets: s.Tickets, Store: s.Driver.Executor(), StoreName: s.Driver.Name(), Checker: g.checker, Drift: s.Drift, SLA: s.SLA, Config: c, Log: s.Log, OnChange: s.wake, Reload: s.reloadFromAPI,
		Credentials: func(ctx context.Context) (any, error) { return CredentialStatus(ctx, s.Driver) }}).Register(admin)
	s.registerOps(admin)
	s.mountConsole(admin)
	g.handler = mux
	g.admin = admin
	return g, nil
}

// ReloadOptions says who reloads and whether destinations with unfinished
// deliveries may be removed.
type ReloadOptions struct {
	// Actor is written to the audit log: "admin:NAME" or "signal:SIGHUP".
	Actor string
	// Force removes destinations that still have unfinished deliveries;
	// those deliveries are escalated with the reason, never dropped.
	Force bool
}

// ReloadResult says what a reload changed.
type ReloadResult struct {
	Changed    bool   `json:"changed"`
	OldVersion string `json:"old_version"`
	NewVersion string `json:"new_version"`
	// Sections of the config that differ (flows, sources, entities,
	// destinations, admin_tokens, ...).
	Sections []string `json:"sections,omitempty"`
	Added    []string `json:"destinations_added,omitempty"`
	Removed  []string `json:"destinations_removed,omitempty"`
	Rebuilt  []string `json:"destinations_changed,omitempty"`
	// Escalated counts, per removed destination, the unfinished deliveries
	// a forced reload escalated.
	Escalated map[string]int `json:"escalated,omitempty"`
}

// ReloadError is a refused reload. Nothing changed; the old config still
// serves.
type ReloadError struct {
	// Kind: "invalid_config" (the file does not load or compile),
	// "not_live" (a setting that needs a restart changed),
	// "pending_deliveries" (a removed destination still has work), or
	// "unavailable" (the server is starting or stopping).
	Kind   string
	Errors config.Errors
	// Pending counts unfinished deliveries per removed destination.
	Pending map[string]int
	Err     error
}

func (e *ReloadError) Error() string {
	var parts []string
	for _, fe := range e.Errors {
		parts = append(parts, fe.Error())
	}
	return e.headline() + ": " + strings.Join(append(parts, e.reasons()...), "; ")
}

func (e *ReloadError) headline() string {
	return "config reload refused (" + e.Kind + "), the old config stays in force"
}

// reasons are the refusal's causes other than field errors.
func (e *ReloadError) reasons() []string {
	var parts []string
	for _, name := range sortedNames(e.Pending) {
		parts = append(parts, fmt.Sprintf("destinations.%s: removed, but %d deliveries to it are unfinished; reload with force to escalate them", name, e.Pending[name]))
	}
	if e.Err != nil {
		parts = append(parts, e.Err.Error())
	}
	return parts
}

func (e *ReloadError) Unwrap() error { return e.Err }

// notLive lists the settings a running server cannot change: the listener
// and the store are opened once; the engine's lease and poll interval,
// alert channels, retention and the consistency schedule are read by loops
// started once. Trigger sources (poll, platform webhooks) follow a reload
// (triggers.go, ADR 0089).
func notLive(old, c *config.Config) config.Errors {
	var es config.Errors
	check := func(path string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			es.Add(path, "cannot change while sluice serve runs; restart it to apply")
		}
	}
	check("listen", old.Listen, c.Listen)
	check("store", old.Store, c.Store)
	check("delivery", old.Delivery, c.Delivery)
	check("alerts", old.Alerts, c.Alerts)
	check("retention", old.Retention, c.Retention)
	check("consistency", old.Consistency, c.Consistency)
	return es
}

// Reload reads the config again through Load and applies it.
func (s *Server) Reload(ctx context.Context, o ReloadOptions) (*ReloadResult, error) {
	if s.Load == nil {
		return nil, &ReloadError{Kind: "unavailable", Err: errors.New("this server was not started from a config file")}
	}
	c, err := s.Load()
	if err != nil {
		re := &ReloadError{Kind: "invalid_config"}
		if !errors.As(err, &re.Errors) {
			re.Err = err
		}
		return nil, re
	}
	return s.Apply(ctx, c, o)
}

// Apply makes c the config in force, or refuses it and changes nothing.
// c is validated, compiled and provisioned completely first (plan,
// connectors, verifiers, handlers); a removed destination with unfinished
// deliveries is refused unless o.Force. Then the reload is audited and
// swapped in: the gate's plan, the HTTP handlers and the engine's
// destinations. Requests and transitions already running finish with what
// they started with; deliveries in flight finish on their old connector
// before a replaced destination's new worker may take its records, so none
// is sent twice and none is lost. Finally, with o.Force, the unfinished
// deliveries of removed destinations are escalated.
func (s *Server) Apply(ctx context.Context, c *config.Config, o ReloadOptions) (*ReloadResult, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if !s.isReady() {
		return nil, &ReloadError{Kind: "unavailable", Err: errors.New("the server is starting or stopping")}
	}
	// References, compilation and connector options first; provision
	// below builds the changed destinations' connectors (once) and runs
	// the rest of the start-up checks over them: egress rules, poll
	// feeds, alert channels, names and types.
	err := c.Validate()
	if err == nil {
		err = precheck(c)
	}
	if err != nil {
		re := &ReloadError{Kind: "invalid_config"}
		if !errors.As(err, &re.Errors) {
			re.Err = err
		}
		return nil, re
	}
	old := s.gen.Load()
	if es := notLive(old.cfg, c); len(es) > 0 {
		return nil, &ReloadError{Kind: "not_live", Errors: es}
	}
	res := &ReloadResult{OldVersion: old.plan.Version}
	for _, name := range sortedNames(old.cfg.Destinations) {
		if _, ok := c.Destinations[name]; !ok {
			res.Removed = append(res.Removed, name)
		}
	}
	pending := map[string]int{}
	for _, name := range res.Removed {
		ds, err := s.Gate.OpenDeliveries(ctx, name)
		if err != nil {
			return nil, &ReloadError{Kind: "unavailable", Err: err}
		}
		if len(ds) > 0 {
			pending[name] = len(ds)
		}
	}
	if len(pending) > 0 && !o.Force {
		return nil, &ReloadError{Kind: "pending_deliveries", Pending: pending}
	}
	// New credentials are masked from here on, even if the reload fails
	// (they may appear in its error).
	s.red.Extend(secrets(c)...)
	g, err := s.provision(c, old)
	if err != nil {
		re := &ReloadError{Kind: "invalid_config"}
		if !errors.As(err, &re.Errors) {
			re.Err = err
		}
		return nil, re
	}
	// The trigger loops of the new config, built (no I/O) before anything
	// changes; those whose source is unchanged carry over running.
	trig, err := s.buildTriggers(g)
	if err != nil {
		closeUnused(g, old)
		re := &ReloadError{Kind: "invalid_config"}
		if !errors.As(err, &re.Errors) {
			re.Err = err
		}
		return nil, re
	}
	trig.follow(s.trig.current())
	res.NewVersion = g.plan.Version
	res.Sections = changedSections(old.cfg, c)
	for _, name := range sortedNames(c.Destinations) {
		switch prev, ok := old.conns[name]; {
		case !ok:
			res.Added = append(res.Added, name)
		case prev != g.conns[name]:
			res.Rebuilt = append(res.Rebuilt, name)
		}
	}
	res.Changed = res.OldVersion != res.NewVersion
	if !res.Changed {
		closeUnused(g, old)
		return res, nil
	}
	summary := "changed " + strings.Join(res.Sections, ", ")
	if len(pending) > 0 {
		summary += fmt.Sprintf("; forced removal of destinations with unfinished deliveries: %v", pending)
	}
	if err := s.Gate.ConfigReloaded(ctx, o.Actor, res.OldVersion, res.NewVersion, summary); err != nil {
		closeUnused(g, old)
		return nil, &ReloadError{Kind: "unavailable", Err: fmt.Errorf("audit: %w", err)}
	}
	// The swap: from here on every capture is judged by the new plan and
	// every request meets the new handlers.
	s.Gate.SetPlan(g.plan)
	s.gen.Store(g)
	s.Metrics.SetDestinations(sortedNames(g.cfg.Destinations))
	// Pollers of removed or changed sources stop (their page in progress
	// commits whole or not at all) before their retired connectors close.
	s.trig.swap(trig)
	s.retire(s.Engine.Reconfigure(g.dests))
	for _, name := range sortedNames(pending) {
		if res.Escalated == nil {
			res.Escalated = map[string]int{}
		}
		reason := fmt.Sprintf("destination %s was removed from the config by %s (config %s -> %s)", name, o.Actor, res.OldVersion, res.NewVersion)
		n, err := s.Gate.EscalateRemoved(ctx, name, reason)
		res.Escalated[name] = n
		if err != nil {
			s.Log.Error("escalate deliveries of removed destination", "destination", name, "err", err)
		}
	}
	s.wake()
	s.Log.Info("config reloaded", "actor", o.Actor, "old_version", res.OldVersion, "new_version", res.NewVersion,
		"sections", strings.Join(res.Sections, ","), "added", strings.Join(res.Added, ","), "removed", strings.Join(res.Removed, ","), "changed", strings.Join(res.Rebuilt, ","))
	return res, nil
}

// closeUnused closes the connectors g built that old does not use, when g
// is not put in force.
func closeUnused(g, old *generation) {
	var unused []connector.Connector
	for name, c := range g.conns {
		if old.conns[name] != c {
			unused = append(unused, c)
		}
	}
	closeAll(unused)
}

// changedSections names the top-level config sections that differ.
func changedSections(a, b *config.Config) []string {
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	t := va.Type()
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// reloadFromAPI is POST /v1/config/reload.
func (s *Server) reloadFromAPI(ctx context.Context, actor string, force bool) (any, error) {
	res, err := s.Reload(ctx, ReloadOptions{Actor: actor, Force: force})
	var re *ReloadError
	if errors.As(err, &re) {
		msg := re.headline()
		if rs := re.reasons(); len(rs) > 0 {
			msg += ": " + strings.Join(rs, "; ")
		}
		he := &httperr.Error{Code: http.StatusUnprocessableEntity, Kind: re.Kind, Msg: msg}
		switch re.Kind {
		case "not_live", "pending_deliveries":
			he.Code = http.StatusConflict
		case "unavailable":
			he.Code = http.StatusServiceUnavailable
		}
		he.Details = map[string]any{}
		if len(re.Errors) > 0 {
			fields := make([]map[string]string, len(re.Errors))
			for i, fe := range re.Errors {
				fields[i] = map[string]string{"field": fe.Path, "message": fe.Message}
			}
			he.Details["errors"] = fields
		}
		if len(re.Pending) > 0 {
			he.Details["pending"] = re.Pending
		}
		return nil, he
	}
	return res, err
}
