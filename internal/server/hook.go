package server

import (
	"context"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/trigger"
)

// platformReaders maps each platform-webhook source whose webhooks only
// name a record (Notion) to the connector that reads it, or says, with
// the config path, why its destination cannot.
func platformReaders(c *config.Config, conns map[string]connector.Connector) (map[string]connector.RecordReader, config.Errors) {
	var es config.Errors
	out := map[string]connector.RecordReader{}
	for _, name := range sortedNames(c.Sources) {
		src := c.Sources[name]
		if src == nil || src.Platform == nil || src.Platform.Kind != "notion" {
			continue
		}
		conn, ok := conns[src.Platform.Destination]
		if !ok {
			continue // config.Validate names the unknown destination
		}
		rd, ok := conn.(connector.RecordReader)
		if !ok {
			es.Add("sources."+name+".platform.destination", "destination %q cannot read records by ID", src.Platform.Destination)
			continue
		}
		out[name] = rd
	}
	return out, es
}

// buildHookFetchers makes one trigger.HookFetcher per Airtable webhook
// source.
func (s *Server) buildHookFetchers(conns map[string]connector.Connector) error {
	var es config.Errors
	for _, name := range sortedNames(s.Config.Sources) {
		src := s.Config.Sources[name]
		if src == nil || src.Platform == nil || src.Platform.Kind != "airtable" {
			continue
		}
		pc := src.Platform.PlatformDefaults()
		conn, ok := conns[pc.Destination]
		if !ok {
			continue
		}
		hl, ok := conn.(connector.HookLister)
		if !ok {
			es.Add("sources."+name+".platform.destination", "destination %q cannot list webhook payloads", pc.Destination)
			continue
		}
		origin := hl.HookOrigin()
		s.hookFetchers = append(s.hookFetchers, &trigger.HookFetcher{
			Source: name, Destination: pc.Destination, WebhookID: pc.WebhookID, Platform: origin.Platform, Object: origin.Object,
			Lister: hl, Gate: s.Gate, SuppressEchoes: *pc.SuppressEchoes, Interval: pc.Interval.D(), Log: s.Log, OnCaptured: s.wake,
		})
	}
	return es.Err()
}

// kickHook is ingest's OnPing: a notification says changes wait.
func (s *Server) kickHook(source string) {
	for _, f := range s.hookFetchers {
		if f.Source == source {
			f.Kick()
		}
	}
}

// startHookFetchers runs every webhook listing on every instance: a
// notification reaches one instance, and listings by two are safe (the
// same cursor, the same idempotency keys).
func (s *Server) startHookFetchers(ctx context.Context) (wait func()) {
	done := make(chan struct{}, len(s.hookFetchers))
	for _, f := range s.hookFetchers {
		go func() { f.Run(ctx); done <- struct{}{} }()
	}
	return func() {
		for range s.hookFetchers {
			<-done
		}
	}
}

// FetchHookNow lists a webhook source's changes at once (tests).
func (s *Server) FetchHookNow(ctx context.Context, source string) (int, error) {
	for _, f := range s.hookFetchers {
		if f.Source == source {
			res, err := f.FetchOnce(ctx)
			return res.Captured, err
		}
	}
	return 0, nil
}
