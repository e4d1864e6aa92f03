// Package trigger runs poll sources: it reads a platform's change feed
// through a destination's connector and hands each page of changes, with
// the cursor after it, to the gate, which captures both in one transaction.
// It owns the polling loop (interval, overlap window, paging, backoff on
// errors). Echo detection (a change that only reflects what Sluice itself
// last wrote, so two-way sync does not loop) runs in the gate, inside the
// capture's transaction; the poller lends it the connectors' comparison.
// It writes nothing itself: every capture and every suppressed echo is a
// pipeline transition.
package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
)

// Capturer is the gate as a poller needs it.
type Capturer interface {
	CapturePolled(ctx context.Context, b pipeline.PollBatch) (pipeline.PollResult, error)
	PollCursor(ctx context.Context, source string) (string, error)
}

// CursorKeeper is the gate's check, before a loop's first read, that the
// source's stored position is one in the object the loop reads, resetting
// it (audited) when it is not (pipeline.Gate.PollCursorIdentify).
type CursorKeeper interface {
	PollCursorIdentify(ctx context.Context, source, identity, reason string) (reset bool, err error)
}

// Poller polls one source.
type Poller struct {
	Source      string
	Destination string
	Feed        connector.Feed
	// Conf has its defaults filled in (config.Poll.PollDefaults).
	Conf config.Poll
	Gate Capturer
	Log  *slog.Logger
	// OnCaptured runs after a page that captured something (wakes the
	// delivery engine); may be nil.
	OnCaptured func()
	// Sleep waits between polls; tests replace it. nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the gate's clock (pipeline.Gate.Now), which stamps when each
	// read began (pipeline.PollBatch.ReadAt); nil: time.Now.
	Now func() time.Time
	// Identity names the platform object the source's cursor is a
	// position in ("poll of notion <db>"); the first poll has the gate
	// (CursorKeeper) compare it with the one stored with the cursor and
	// reset the cursor, audited, when they differ.
	Identity string
	// ResetCursor, when set, is why the stored cursor belongs to another
	// platform object (a reload changed the source's identity): the first
	// poll resets it, audited with this reason, whatever is stored.
	ResetCursor string

	mu         sync.Mutex // one poll at a time (Run and PollNow); guards ResetCursor and identified
	identified bool       // the first poll's identity check committed
}

// maxBackoff bounds the wait after repeated poll errors.
const maxBackoff = 5 * time.Minute

// PollOnce reads every change after the committed cursor (less the overlap
// window) and captures it page by page. Each page commits with the cursor
// after it, so an error or a crash between pages loses nothing: the next
// poll starts from the last committed page.
func (p *Poller) PollOnce(ctx context.Context) (pipeline.PollResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var total pipeline.PollResult
	if err := identify(ctx, p.Gate, p.Source, p.Identity, &p.ResetCursor, &p.identified); err != nil {
		return total, fmt.Errorf("poll %s: %w", p.Source, err)
	}
	raw, err := p.Gate.PollCursor(ctx, p.Source)
	if err != nil {
		return total, fmt.Errorf("poll %s: cursor: %w", p.Source, err)
	}
	var cur connector.Position
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &cur); err != nil {
			return total, fmt.Errorf("poll %s: stored cursor %q: %w", p.Source, raw, err)
		}
	}
	since := connector.Position{}
	if !cur.At.IsZero() {
		since = connector.Position{At: cur.At.Add(-p.Conf.Overlap.D())}
	}
	origin := p.Feed.Origin()
	now := p.Now
	if now == nil {
		now = time.Now
	}
	for {
		readAt := now()
		page, err := p.Feed.Changes(ctx, since, p.Conf.Batch)
		if err != nil {
			return total, fmt.Errorf("poll %s: read %s %s: %w", p.Source, origin.Platform, origin.Object, err)
		}
		if len(page.Changes) == 0 {
			return total, nil
		}
		next := cur
		records := make([]pipeline.PolledRecord, 0, len(page.Changes))
		for _, ch := range page.Changes {
			if pos := connector.PositionOf(ch); next.Before(pos) {
				next = pos
			}
			cursor, _ := json.Marshal(next)
			r := pipeline.PolledRecord{RecordID: ch.RecordID, ModifiedAt: ch.ModifiedAt, Deleted: ch.Deleted, Fields: ch.Fields, Cursor: string(cursor)}
			records = append(records, r)
		}
		batch := pipeline.PollBatch{Source: p.Source, Platform: origin.Platform, Object: origin.Object,
			EchoDestination: p.Destination, Records: records, ReadAt: readAt}
		if *p.Conf.SuppressEchoes {
			batch.SameAsWritten = sameAsWritten
		}
		res, err := p.Gate.CapturePolled(ctx, batch)
		if err != nil {
			return total, err
		}
		total.Captured += res.Captured
		total.Duplicates += res.Duplicates
		total.Echoes += res.Echoes
		if res.Captured > 0 && p.OnCaptured != nil {
			p.OnCaptured()
		}
		if res.Deferred > 0 {
			// Sluice is writing one of these records to the platform right
			// now; the rest waits for the next poll, which re-reads it.
			total.Deferred += res.Deferred
			return total, nil
		}
		cur = next
		if !page.More {
			return total, nil
		}
		since = connector.PositionOf(page.Changes[len(page.Changes)-1])
	}
}

// identify checks, once per loop (*done), that source's stored cursor is
// a position in identity, resetting it through g when it is not or when
// *reason says so; it clears *reason and sets *done once that committed.
// A loop without an identity (tests) and no reason checks nothing.
func identify(ctx context.Context, g Capturer, source, identity string, reason *string, done *bool) error {
	if *done || (identity == "" && *reason == "") {
		return nil
	}
	k, ok := g.(CursorKeeper)
	if !ok {
		return fmt.Errorf("cannot check the stored cursor's identity (%s)", identity)
	}
	if _, err := k.PollCursorIdentify(ctx, source, identity, *reason); err != nil {
		return fmt.Errorf("check cursor identity: %w", err)
	}
	*reason, *done = "", true
	return nil
}

// sameAsWritten is the connectors' lenient comparison: no field Sluice
// wrote differs in the polled record.
func sameAsWritten(wrote, polled map[string]any) bool {
	return len(connector.CompareFields(wrote, polled)) == 0
}

// Run polls every interval until ctx ends. After an error it waits
// longer each time (doubling from the interval up to 5 minutes) and logs
// it; a successful poll resets the wait. A poll that read a full page
// goes on at once (PollOnce pages until the feed is drained).
func (p *Poller) Run(ctx context.Context) {
	interval := p.Conf.Interval.D()
	wait := time.Duration(0)
	failures := 0
	for {
		if err := p.sleep(ctx, wait); err != nil {
			return
		}
		res, err := p.PollOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			wait = min(interval<<min(failures, 16), maxBackoff)
			p.Log.Warn("poll failed; backing off", "source", p.Source, "destination", p.Destination, "err", err,
				"failures", failures, "retry_in", wait)
			continue
		}
		if failures > 0 {
			p.Log.Info("poll recovered", "source", p.Source, "after_failures", failures)
		}
		failures, wait = 0, interval
		if res.Captured+res.Echoes > 0 {
			p.Log.Info("poll captured changes", "source", p.Source, "captured", res.Captured,
				"duplicates", res.Duplicates, "echoes_suppressed", res.Echoes)
		}
	}
}

func (p *Poller) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
