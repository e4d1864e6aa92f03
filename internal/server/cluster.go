package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/cluster"
	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// peers is this instance's part in a group of instances sharing one store
// (package cluster): the leadership that runs the singleton loops
// (maintenance, scheduled consistency checks, retention), the heartbeat
// whose live count divides rate limits, and the wake-ups that let any idle
// instance claim new work at once. On SQLite the instance is alone: it
// leads, counts one, and wakes itself.
type peers struct {
	lead    *cluster.Leadership
	members *cluster.Members
	waker   *cluster.Waker
	// notices wakes the leader's notice worker when another instance
	// committed a notice.
	notices *cluster.Waker
}

// workChannel is the notification channel for "deliveries are ready";
// noticeChannel the one for "a platform notice was queued".
const (
	workChannel   = "work"
	noticeChannel = "notices"
)

func newPeers(s *Server, owner string) *peers {
	el, _ := s.Driver.(store.Elector)
	inst, _ := s.Driver.(store.Instances)
	no, _ := s.Driver.(store.Notifier)
	p := &peers{
		lead:    cluster.NewLeadership(el, "maintenance", s.Log),
		members: &cluster.Members{Inst: inst, ID: owner + ":" + id.New("inst", time.Now()), OnChange: s.Engine.ShareRate, Log: s.Log},
		waker:   &cluster.Waker{N: no, Channel: workChannel, Local: s.Engine.Kick, Log: s.Log},
		notices: &cluster.Waker{N: no, Channel: noticeChannel, Local: s.kickNotices, Log: s.Log},
	}
	s.Engine.Lead = p.lead.Do
	return p
}

// wake runs after a commit that created ready work (a capture, an
// operator's action): this instance's engine now, the others' through the
// store's notifications.
func (s *Server) wake() { s.peers.waker.Wake() }

// wakeFor is wake after a capture whose deliveries go to destinations:
// only their workers here (all of them when destinations is nil), the
// other instances as always (they wake every worker).
func (s *Server) wakeFor(destinations []string) {
	if destinations == nil {
		s.wake()
		return
	}
	s.Engine.KickFor(destinations)
	s.peers.waker.WakeOthers()
}

// startPeers joins the group (so the engine starts with this instance's
// share of each rate, not the whole) and starts the cluster loops and the
// leader-only retention loop. wait returns once they ended after ctx.
func (s *Server) startPeers(ctx context.Context, ln net.Addr) (wait func(), err error) {
	p := s.peers
	host, _ := os.Hostname()
	p.members.Info = fmt.Sprintf("host=%s pid=%d listen=%s", host, os.Getpid(), ln)
	if err := p.members.Join(ctx); err != nil {
		return nil, fmt.Errorf("join instances: %w", err)
	}
	var wg sync.WaitGroup
	for _, run := range []func(context.Context){p.lead.Run, p.members.Run, p.waker.Run, p.notices.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); run(ctx) }()
	}
	if r := s.Config.Retention; r.Enabled() {
		wg.Add(1)
		go func() { defer wg.Done(); p.lead.Do(ctx, s.retainPeriodically) }()
	}
	return wg.Wait, nil
}

// retainPeriodically runs retention (see pipeline.Gate.Prune) a minute
// after this instance becomes the leader, then every interval.
func (s *Server) retainPeriodically(ctx context.Context) {
	r := s.Config.Retention
	wait := min(time.Minute, r.Every())
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = r.Every()
		start := time.Now()
		rep, err := s.Gate.Prune(ctx, pipeline.RetentionParams{Events: r.Events.D(), Audit: r.Audit.D(), Batch: r.BatchSize(), Pause: 20 * time.Millisecond})
		if err != nil && ctx.Err() == nil {
			s.Log.Error("retention", "err", err, "events_deleted", rep.Events, "audit_entries_deleted", rep.AuditEntries)
			continue
		}
		if rep.Events > 0 || rep.AuditEntries > 0 {
			s.Log.Info("retention deleted old records", "events", rep.Events, "deliveries", rep.Deliveries,
				"audit_entries", rep.AuditEntries, "batches", rep.Batches, "took", time.Since(start).Round(time.Millisecond))
		}
	}
}
