package server

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/trigger"
)

// openFeeds opens the change feed of every poll source through its
// destination's connector, or says, with the config path, why it cannot.
func openFeeds(c *config.Config, conns map[string]connector.Connector) (map[string]connector.Feed, config.Errors) {
	var es config.Errors
	feeds := map[string]connector.Feed{}
	for _, name := range sortedNames(c.Sources) {
		src := c.Sources[name]
		if src == nil || src.Poll == nil {
			continue
		}
		p := "sources." + name + ".poll"
		conn, ok := conns[src.Poll.Destination]
		if !ok {
			continue // config.Validate names the unknown destination
		}
		fo, ok := conn.(connector.FeedOpener)
		if !ok {
			es.Add(p+".destination", "destination %q (type %s) cannot be polled", src.Poll.Destination, c.Destinations[src.Poll.Destination].Type)
			continue
		}
		f, err := fo.OpenFeed(src.Poll.Options)
		if err != nil {
			addOptionError(&es, p, err) // sources.<name>.poll.options.<opt>
			continue
		}
		feeds[name] = f
	}
	return feeds, es
}

// checkDeletes refuses a route that would send delete events to a
// destination whose connector cannot delete (connector.Deleter), naming
// the route's on_delete (or the flow's) as the setting to change.
func checkDeletes(c *config.Config, conns map[string]connector.Connector) config.Errors {
	var es config.Errors
	for _, fn := range sortedNames(c.Flows) {
		f := c.Flows[fn]
		if f == nil {
			continue
		}
		for _, rn := range sortedNames(f.Routes) {
			r := f.Routes[rn]
			if r == nil || !f.RoutesDeletes(rn) {
				continue
			}
			conn, ok := conns[r.Destination]
			if !ok {
				continue // an unknown or unbuildable destination is reported already
			}
			if _, ok := conn.(connector.Deleter); ok {
				continue
			}
			p := "flows." + fn + ".routes." + rn + ".on_delete"
			if r.OnDelete == "" {
				p = "flows." + fn + ".on_delete"
			}
			es.Add(p, "route %s sends deletes to destination %q (type %s), which cannot delete records; set on_delete: ignore on the route",
				rn, r.Destination, c.Destinations[r.Destination].Type)
		}
	}
	return es
}

// buildPollers makes one trigger.Poller per poll source of c, over the
// connectors conns (a generation's).
func (s *Server) buildPollers(c *config.Config, conns map[string]connector.Connector) (map[string]*trigger.Poller, error) {
	feeds, es := openFeeds(c, conns)
	if err := es.Err(); err != nil {
		return nil, err
	}
	out := map[string]*trigger.Poller{}
	for _, name := range sortedNames(feeds) {
		pc := c.Sources[name].Poll.PollDefaults()
		out[name] = &trigger.Poller{
			Source: name, Destination: pc.Destination, Feed: feeds[name], Conf: pc,
			Gate: s.Gate, Log: s.Log, OnCaptured: s.wake, Now: s.Gate.Now,
		}
	}
	return out, nil
}

// PollNow runs one poll of a source at once (tests, `sluice poll`), with
// the poller of the config in force.
func (s *Server) PollNow(ctx context.Context, source string) (int, error) {
	if p := s.trig.current().pollers[source]; p != nil {
		res, err := p.PollOnce(ctx)
		return res.Captured, err
	}
	return 0, fmt.Errorf("source %q does not poll", source)
}
