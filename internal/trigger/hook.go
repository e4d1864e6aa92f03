package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/pipeline"
)

// HookFetcher lists the changes of a platform webhook whose notifications
// carry no data (Airtable): a notification only kicks it. Each page of
// changes is captured together with the list cursor after it, in one
// transaction, so a crash between the read and the commit re-reads the
// same page (nothing skipped) and a re-read captures nothing twice (the
// idempotency key is the webhook, payload number and record).
type HookFetcher struct {
	Source      string
	Destination string
	WebhookID   string
	Platform    string
	Object      string
	Lister      connector.HookLister
	Gate        Capturer
	// SuppressEchoes recognises Sluice's own writes to Destination.
	SuppressEchoes bool
	// Interval is how often the list is read without a notification (one
	// lost in a crash, or sent to another instance).
	Interval time.Duration
	Log      *slog.Logger
	// OnCaptured runs after a page that captured something; may be nil.
	OnCaptured func()
	// Identity and ResetCursor are as on Poller: what the stored cursor
	// must be a position in, and a reload's reason to reset it.
	Identity    string
	ResetCursor string
	identified  bool

	once sync.Once
	kick chan struct{}
	mu   sync.Mutex // one listing at a time in this process; guards ResetCursor and identified
}

func (f *HookFetcher) kicks() chan struct{} {
	f.once.Do(func() { f.kick = make(chan struct{}, 1) })
	return f.kick
}

// Kick asks Run to list the changes now; it never blocks.
func (f *HookFetcher) Kick() {
	select {
	case f.kicks() <- struct{}{}:
	default:
	}
}

// FetchOnce lists every change after the committed cursor and captures it
// page by page.
func (f *HookFetcher) FetchOnce(ctx context.Context) (pipeline.PollResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var total pipeline.PollResult
	if err := identify(ctx, f.Gate, f.Source, f.Identity, &f.ResetCursor, &f.identified); err != nil {
		return total, fmt.Errorf("webhook %s: %w", f.Source, err)
	}
	for {
		cursor, err := f.Gate.PollCursor(ctx, f.Source)
		if err != nil {
			return total, fmt.Errorf("webhook %s: cursor: %w", f.Source, err)
		}
		page, err := f.Lister.HookChanges(ctx, f.WebhookID, cursor)
		if err != nil {
			return total, fmt.Errorf("webhook %s: list %s payloads: %w", f.Source, f.Platform, err)
		}
		if page.Cursor == cursor && len(page.Changes) == 0 {
			return total, nil
		}
		records := make([]pipeline.PolledRecord, len(page.Changes))
		for i, ch := range page.Changes {
			records[i] = pipeline.PolledRecord{RecordID: ch.RecordID, ModifiedAt: ch.ModifiedAt, Deleted: ch.Deleted,
				Fields: ch.Fields, Cursor: ch.Cursor, IdemKey: f.Platform + ":" + ch.EventID}
		}
		batch := pipeline.PollBatch{Source: f.Source, Platform: f.Platform, Object: f.Object, Via: "webhook",
			EchoDestination: f.Destination, Records: records, Cursor: page.Cursor}
		if f.SuppressEchoes {
			batch.SameAsWritten = sameAsWritten
		}
		res, err := f.Gate.CapturePolled(ctx, batch)
		if err != nil {
			return total, err
		}
		total.Captured += res.Captured
		total.Duplicates += res.Duplicates
		total.Echoes += res.Echoes
		if res.Captured > 0 && f.OnCaptured != nil {
			f.OnCaptured()
		}
		if res.Deferred > 0 {
			// Sluice is writing one of these records right now; the rest
			// waits for the next listing, from the cursor before it.
			total.Deferred += res.Deferred
			return total, nil
		}
		if !page.More {
			return total, nil
		}
	}
}

// Run lists the changes whenever kicked, and every Interval, until ctx
// ends; after an error it waits longer each time (up to 5 minutes).
func (f *HookFetcher) Run(ctx context.Context) {
	kick := f.kicks()
	failures := 0
	wait := time.Duration(0)
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-kick:
		case <-t.C:
		}
		t.Stop()
		res, err := f.FetchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			wait = min(f.Interval<<min(failures, 16), maxBackoff)
			f.Log.Warn("webhook listing failed; backing off", "source", f.Source, "err", err, "failures", failures, "retry_in", wait)
			continue
		}
		failures, wait = 0, f.Interval
		if res.Deferred > 0 {
			wait = min(wait, time.Second)
		}
		if res.Captured+res.Echoes > 0 {
			f.Log.Info("webhook captured changes", "source", f.Source, "captured", res.Captured,
				"duplicates", res.Duplicates, "echoes_suppressed", res.Echoes)
		}
	}
}
