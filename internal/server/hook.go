package server

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/store"
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
// source of c, and a trigger.HookKeeper for each whose destination can
// refresh its webhook. Both reach the destination through liveHookConn,
// so a reload that only rebuilt the connector keeps them running.
func (s *Server) buildHookFetchers(c *config.Config, conns map[string]connector.Connector) (map[string]*trigger.HookFetcher, map[string]*trigger.HookKeeper, error) {
	var es config.Errors
	fetchers, keepers := map[string]*trigger.HookFetcher{}, map[string]*trigger.HookKeeper{}
	for _, name := range sortedNames(c.Sources) {
		src := c.Sources[name]
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
		live := liveHookConn{s: s, dest: pc.Destination}
		fetchers[name] = &trigger.HookFetcher{
			Source: name, Destination: pc.Destination, WebhookID: pc.WebhookID, Platform: origin.Platform, Object: origin.Object,
			Lister: live, Gate: s.Gate, SuppressEchoes: *pc.SuppressEchoes, Interval: pc.Interval.D(), Log: s.Log, OnCaptured: s.wake,
		}
		if _, ok := conn.(connector.HookRefresher); ok {
			keepers[name] = &trigger.HookKeeper{Source: name, WebhookID: pc.WebhookID, Refresher: live, Gate: s.Gate,
				Log: s.Log, OnFailed: s.hookRefreshFailed, OnRecovered: s.catchUp}
		}
	}
	if err := es.Err(); err != nil {
		return nil, nil, err
	}
	return fetchers, keepers, nil
}

// liveHookConn is a destination's connector as the generation in force
// has it: the listings and refreshes built at start follow a reload that
// rebuilt the destination (a new token, another base URL) instead of
// using the retired connector.
type liveHookConn struct {
	s    *Server
	dest string
}

var (
	_ connector.HookLister    = liveHookConn{}
	_ connector.HookRefresher = liveHookConn{}
)

func (l liveHookConn) conn() (connector.Connector, error) {
	c, ok := l.s.gen.Load().conns[l.dest]
	if !ok {
		return nil, fmt.Errorf("destination %s is no longer in the config", l.dest)
	}
	return c, nil
}

// HookChanges is connector.HookLister.
func (l liveHookConn) HookChanges(ctx context.Context, webhookID, cursor string) (connector.HookPage, error) {
	c, err := l.conn()
	if err != nil {
		return connector.HookPage{}, err
	}
	hl, ok := c.(connector.HookLister)
	if !ok {
		return connector.HookPage{}, fmt.Errorf("destination %s cannot list webhook payloads", l.dest)
	}
	return hl.HookChanges(ctx, webhookID, cursor)
}

// HookOrigin is connector.HookLister.
func (l liveHookConn) HookOrigin() connector.Origin {
	c, err := l.conn()
	if err != nil {
		return connector.Origin{}
	}
	if hl, ok := c.(connector.HookLister); ok {
		return hl.HookOrigin()
	}
	return connector.Origin{}
}

// RefreshHook is connector.HookRefresher.
func (l liveHookConn) RefreshHook(ctx context.Context, webhookID string) (time.Time, error) {
	c, err := l.conn()
	if err != nil {
		return time.Time{}, err
	}
	rf, ok := c.(connector.HookRefresher)
	if !ok {
		return time.Time{}, fmt.Errorf("destination %s cannot refresh webhooks", l.dest)
	}
	return rf.RefreshHook(ctx, webhookID)
}

// hookRefreshFailed alerts people that a webhook subscription could not
// be refreshed: a warning while it has more than two days left, critical
// once it has less, has lapsed, or its expiry is unknown.
func (s *Server) hookRefreshFailed(source string, expires time.Time, cause error) {
	now := s.Gate.Now()
	sev, left := alert.SeverityCritical, "its expiry is unknown (no refresh has succeeded since Sluice started)"
	switch {
	case expires.IsZero():
	case !now.Before(expires):
		left = "it expired at " + expires.UTC().Format(time.RFC3339) + ": the platform no longer notifies Sluice; changes are listed every interval and caught up once a refresh succeeds"
	default:
		left = "it expires at " + expires.UTC().Format(time.RFC3339)
		if expires.Sub(now) > 48*time.Hour {
			sev = alert.SeverityWarning
		}
	}
	al := alert.Alert{Key: "hook_refresh:" + source, Kind: alert.KindHookExpiring, Severity: sev,
		Title: fmt.Sprintf("Source %s: webhook subscription refresh failed", source),
		Text:  fmt.Sprintf("Sluice could not refresh the webhook of source %s: %v; %s. Sluice retries.", source, cause, left)}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Alerter.Notify(ctx, al); err != nil {
			s.Log.Error("webhook refresh alert", "source", source, "err", err)
		}
	}()
}

// catchUp lists a webhook source's payloads now: after a lapse in its
// subscription, what the platform kept is read from the cursor.
func (s *Server) catchUp(source string) {
	if f := s.trig.current().fetchers[source]; f != nil {
		f.Kick()
	}
}

// RefreshHooksNow refreshes every webhook subscription Sluice keeps alive
// at once (tests); it returns the first error.
func (s *Server) RefreshHooksNow(ctx context.Context) error {
	var first error
	cur := s.trig.current()
	for _, name := range sortedNames(cur.keepers) {
		if err := cur.keepers[name].RefreshOnce(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// buildNoticeWorker makes the worker of the notice queue: Notion notices
// are read through the current generation's connectors, Airtable notices
// answered by the source's HookFetcher.
func (s *Server) buildNoticeWorker() {
	s.notices = &trigger.NoticeWorker{Gate: s.Gate, Sources: s.noticeSources, Log: s.Log, Now: s.Gate.Now,
		OnCaptured: s.wake, OnEscalated: s.noticeEscalated}
}

// noticeSources is the notice worker's view of the sources in force.
func (s *Server) noticeSources() map[string]*trigger.NoticeSource {
	g := s.gen.Load()
	out := map[string]*trigger.NoticeSource{}
	for name, rd := range g.readers {
		src := g.cfg.Sources[name]
		if src == nil || src.Platform == nil {
			continue
		}
		pc := src.Platform.PlatformDefaults()
		out[name] = &trigger.NoticeSource{Destination: pc.Destination, Reader: rd, SuppressEchoes: pc.Destination != "" && *pc.SuppressEchoes}
	}
	for name, f := range s.trig.current().fetchers {
		out[name] = &trigger.NoticeSource{Destination: f.Destination, Fetcher: f, SuppressEchoes: f.SuppressEchoes}
	}
	return out
}

// wakeNotices is ingest's OnNotice: the leader's worker fetches the new
// notice now, wherever it was committed.
func (s *Server) wakeNotices() { s.peers.notices.Wake() }

// kickNotices wakes this instance's notice worker (it only runs while
// this instance leads).
func (s *Server) kickNotices() {
	if s.notices != nil {
		s.notices.Kick()
	}
}

// noticeEscalated alerts people of a notice that keeps failing, off the
// worker's path (alert channels are network calls).
func (s *Server) noticeEscalated(n *store.HookNotice, cause error) {
	al := alert.Alert{Key: "notice:" + n.Source, Kind: alert.KindNoticeEscalated, Severity: alert.SeverityWarning,
		Title: fmt.Sprintf("Source %s: a %s webhook cannot be fetched", n.Source, n.Platform),
		Text: fmt.Sprintf("Notice %s (%s %s %s) failed %d times: %v. Sluice keeps retrying it; the change arrives once the fetch succeeds.",
			n.ID, n.Platform, n.Type, n.RecordID, n.Attempts+1, cause)}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Alerter.Notify(ctx, al); err != nil {
			s.Log.Error("notice alert", "source", n.Source, "err", err)
		}
	}()
}

// FetchHookNow lists a webhook source's changes at once (tests).
func (s *Server) FetchHookNow(ctx context.Context, source string) (int, error) {
	if f := s.trig.current().fetchers[source]; f != nil {
		res, err := f.FetchOnce(ctx)
		return res.Captured, err
	}
	return 0, nil
}

// ProcessNoticesNow works off the notices due now (tests, `sluice`
// operators through the API); it reports how many it settled.
func (s *Server) ProcessNoticesNow(ctx context.Context) (trigger.NoticePass, error) {
	return s.notices.ProcessDue(ctx)
}
