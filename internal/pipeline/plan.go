// Package pipeline is the gate's state machine. It owns every transition an
// event and its deliveries go through (captured -> rejected | held |
// delivering -> delivered | escalated | discarded) and writes the audit entry
// for each in the same transaction as the change. The delivery engine and
// the admin API drive it; neither changes state on its own.
package pipeline

import (
	"fmt"
	"sort"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/normalize"
	"github.com/sluicehq/sluice/internal/validate"
)

// Plan is the compiled form of a config: mappings, schemas and conditions
// ready to run on the hot path.
type Plan struct {
	Config *config.Config
	// Version is the config's content hash (config.Version), recorded on
	// every event this plan captures.
	Version string
	flows   map[string]*Flow // by flow name
	bySrc   map[string]*Flow // by source name

	pollOnce sync.Once
	polled   map[string]string // poll source -> destination it reads
}

// Flow is one compiled flow.
type Flow struct {
	Name    string
	Source  string
	Entity  string
	Key     string
	Mapper  *normalize.Mapper
	Schema  *validate.Schema
	Require []string
	Conf    *config.Flow
	// Routes in dependency order: a route comes after those it runs after.
	Routes []*Route
}

// Route is one compiled route.
type Route struct {
	Name        string
	Destination string
	When        *vm.Program // nil: always
	Mapper      *normalize.Mapper
	Require     []string
	After       []string
	Fallback    string
	// Deletes is true when the route removes deleted records from its
	// destination (on_delete: route, the route's or the flow's).
	Deletes bool
}

// Compile builds the plan, collecting every problem with its config path.
func Compile(c *config.Config) (*Plan, error) {
	p := &Plan{Config: c, flows: map[string]*Flow{}, bySrc: map[string]*Flow{}}
	var es config.Errors
	names := make([]string, 0, len(c.Flows))
	for n := range c.Flows {
		names = append(names, n)
	}
	sort.Strings(names)
	schemas := map[string]*validate.Schema{}
	for en := range c.Entities {
		doc, err := c.SchemaJSON(en)
		if err != nil {
			es.Add("entities."+en, "%v", err)
			continue
		}
		if doc == nil {
			continue
		}
		s, err := validate.CompileSchema(en, doc)
		if err != nil {
			es.Add("entities."+en+".schema", "%v", err)
			continue
		}
		schemas[en] = s
	}
	for _, fn := range names {
		fc := c.Flows[fn]
		path := "flows." + fn
		f := &Flow{Name: fn, Source: fc.Source, Entity: fc.Entity, Schema: schemas[fc.Entity], Conf: fc}
		if e := c.Entities[fc.Entity]; e != nil {
			f.Key = e.Key
		}
		f.Require = append([]string{}, fc.Require...)
		if f.Key != "" && !contains(f.Require, f.Key) {
			f.Require = append(f.Require, f.Key)
		}
		m, err := normalize.Compile(fc.Normalize)
		if err != nil {
			es.Add(path+".normalize", "%v", err)
		}
		f.Mapper = m
		for _, rn := range routeOrder(fc.Routes) {
			rc := fc.Routes[rn]
			rp := path + ".routes." + rn
			r := &Route{Name: rn, Destination: rc.Destination, Require: rc.Require, After: rc.After, Fallback: rc.Fallback, Deletes: fc.RoutesDeletes(rn)}
			if rc.When != "" {
				prog, err := expr.Compile(rc.When, append([]expr.Option{expr.AsBool(), expr.AllowUndefinedVariables()}, normalize.ExprOptions()...)...)
				if err != nil {
					es.Add(rp+".when", "%v", err)
				}
				r.When = prog
			}
			if rc.Map != nil {
				rm, err := normalize.Compile(*rc.Map)
				if err != nil {
					es.Add(rp+".map", "%v", err)
				}
				r.Mapper = rm
			}
			f.Routes = append(f.Routes, r)
		}
		p.flows[fn] = f
		p.bySrc[fc.Source] = f
	}
	if v, err := c.Version(); err != nil {
		es.Add("", "%v", err)
	} else {
		p.Version = v
	}
	if err := es.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// FlowForSource returns the flow fed by source, nil if none.
func (p *Plan) FlowForSource(source string) *Flow { return p.bySrc[source] }

// FlowNames lists the flows, sorted.
func (p *Plan) FlowNames() []string {
	out := make([]string, 0, len(p.flows))
	for n := range p.flows {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Flow returns a flow by name.
func (p *Plan) Flow(name string) *Flow { return p.flows[name] }

// Route returns a route of the flow by name.
func (f *Flow) Route(name string) *Route {
	for _, r := range f.Routes {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// routeOrder sorts routes so each comes after its dependencies (config
// validation has already rejected cycles), ties broken by name.
func routeOrder(routes map[string]*config.Route) []string {
	names := make([]string, 0, len(routes))
	for n := range routes {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	done := map[string]bool{}
	var visit func(string, int)
	visit = func(n string, depth int) {
		if done[n] || depth > len(routes) {
			return
		}
		if r := routes[n]; r != nil {
			for _, a := range r.After {
				if _, ok := routes[a]; ok {
					visit(a, depth+1)
				}
			}
		}
		if !done[n] {
			done[n] = true
			out = append(out, n)
		}
	}
	for _, n := range names {
		visit(n, 0)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// matches evaluates the route's condition on a canonical record.
func (r *Route) matches(record map[string]any) (bool, error) {
	if r.When == nil {
		return true, nil
	}
	out, err := expr.Run(r.When, normalize.WithBudget(record))
	if err != nil {
		return false, fmt.Errorf("condition could not be evaluated on this record (check the route's when): %w", err)
	}
	b, _ := out.(bool)
	return b, nil
}

// polledDestinations maps each poll source to the destination it reads,
// and each platform-webhook source to the destination on that platform.
func (p *Plan) polledDestinations() map[string]string {
	p.pollOnce.Do(func() {
		p.polled = map[string]string{}
		for name, s := range p.Config.Sources {
			if s != nil && s.Poll != nil {
				p.polled[name] = s.Poll.Destination
			}
			if s != nil && s.Platform != nil && s.Platform.Destination != "" {
				p.polled[name] = s.Platform.Destination
			}
		}
	})
	return p.polled
}
