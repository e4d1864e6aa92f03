// Package trigger runs poll sources: it reads a platform's change feed
// through a destination's connector and hands each page of changes, with
// the cursor after it, to the gate, which captures both in one transaction.
// It owns the polling loop (interval, overlap window, paging, backoff on
// errors) and echo detection (a change that only reflects what Sluice
// itself last wrote is marked, so two-way sync does not loop). It writes
// nothing itself: every capture and every suppressed echo is a pipeline
// transition.
package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// Capturer is the gate as a poller needs it.
type Capturer interface {
	CapturePolled(ctx context.Context, b pipeline.PollBatch) (pipeline.PollResult, error)
	PollCursor(ctx context.Context, source string) (string, error)
}

// WriteLedger answers "what did Sluice last write to this record?", for
// echo detection.
type WriteLedger interface {
	IdentityGetByExternalID(ctx context.Context, destination, externalID string) (string, error)
	DeliveryLatestSucceeded(ctx context.Context, destination, recordKey string) (*store.Delivery, error)
}

// Poller polls one source.
type Poller struct {
	Source      string
	Destination string
	Feed        connector.Feed
	// Conf has its defaults filled in (config.Poll.PollDefaults).
	Conf   config.Poll
	Gate   Capturer
	Ledger WriteLedger // nil: no echo detection
	Log    *slog.Logger
	// OnCaptured runs after a page that captured something (wakes the
	// delivery engine); may be nil.
	OnCaptured func()
	// Sleep waits between polls; tests replace it. nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// maxBackoff bounds the wait after repeated poll errors.
const maxBackoff = 5 * time.Minute

// PollOnce reads every change after the committed cursor (less the overlap
// window) and captures it page by page. Each page commits with the cursor
// after it, so an error or a crash between pages loses nothing: the next
// poll starts from the last committed page.
func (p *Poller) PollOnce(ctx context.Context) (pipeline.PollResult, error) {
	var total pipeline.PollResult
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
	for {
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
			if *p.Conf.SuppressEchoes && p.Ledger != nil {
				key, err := p.echoOf(ctx, ch)
				if err != nil {
					return total, fmt.Errorf("poll %s: echo check of %s: %w", p.Source, ch.RecordID, err)
				}
				r.EchoOf = key
			}
			records = append(records, r)
		}
		res, err := p.Gate.CapturePolled(ctx, pipeline.PollBatch{Source: p.Source, Platform: origin.Platform, Object: origin.Object,
			EchoDestination: p.Destination, Records: records})
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

// echoOf returns the record key when ch is Sluice's own last write to the
// destination coming back: the record is one Sluice wrote (identity map)
// and every field Sluice wrote still has the value it wrote. A change to
// any of those fields by someone else is a real change and is captured.
func (p *Poller) echoOf(ctx context.Context, ch connector.Change) (string, error) {
	if ch.Deleted || ch.RecordID == "" {
		return "", nil
	}
	key, err := p.Ledger.IdentityGetByExternalID(ctx, p.Destination, ch.RecordID)
	if errors.Is(err, store.ErrNotFound) {
		// Feeds whose record ID is the key itself (a sheet's key column)
		// find Sluice's writes by key.
		key, err = ch.RecordID, nil
	}
	if err != nil {
		return "", err
	}
	last, err := p.Ledger.DeliveryLatestSucceeded(ctx, p.Destination, key)
	if errors.Is(err, store.ErrNotFound) || (err == nil && last == nil) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var wrote map[string]any
	if err := json.Unmarshal(last.Payload, &wrote); err != nil || len(wrote) == 0 {
		return "", nil
	}
	common := 0
	for k := range wrote {
		if _, ok := ch.Fields[k]; ok {
			common++
		}
	}
	if common == 0 || len(connector.CompareFields(wrote, ch.Fields)) > 0 {
		return "", nil
	}
	return key, nil
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
