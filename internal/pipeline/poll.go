package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/store"
)

// PolledRecord is one change a poll read from a platform.
type PolledRecord struct {
	RecordID   string
	ModifiedAt time.Time
	Deleted    bool
	Fields     map[string]any
	// Cursor is the source's position after this record ("" for a
	// webhook that has none: the source's cursor is then left alone).
	Cursor string
	// IdemKey, when set, replaces PollIdemKey: a platform webhook dedupes
	// by the platform's own event ID, which its retries repeat.
	IdemKey string
	// WrittenBy is the delivery the platform says created this record
	// (platformhook.Change.WrittenBy): a delivery to the echo destination
	// makes the record Sluice's own, whatever its fields look like (a Slack
	// message's text is rendered from a template, not the delivery's
	// payload) and even before that delivery is confirmed.
	WrittenBy string
}

// PollBatch is one page of a poll source's changes and the cursor after
// them. The records and the cursor commit in one transaction, so a crash
// neither skips a change (the cursor never runs ahead of the captures) nor
// captures one twice (a repeat has the same idempotency key).
type PollBatch struct {
	Source   string
	Platform string
	Object   string
	// EchoDestination is the destination the poll reads (whose writes by
	// Sluice come back through it), for the audit of suppressed echoes.
	EchoDestination string
	Records         []PolledRecord
	// Cursor, when set, is the source's position after the whole batch,
	// stored when no record was deferred: a listing whose page held none
	// of this source's records still moves past it.
	Cursor string
	// Via names how the records arrived, for the audit: "poll" (the
	// default) or "webhook" (a platform's own webhook).
	Via string
	// SameAsWritten reports whether a polled record's fields still hold
	// every value Sluice last wrote (the connectors' lenient comparison);
	// nil turns echo suppression off.
	SameAsWritten func(wrote, polled map[string]any) bool
	// ReadAt is when the read of these records began, on the gate's clock
	// (Gate.Now). A write Sluice confirmed after it may have landed after
	// the read, so the read may show an earlier write of Sluice's as the
	// record's version: echo suppression compares with every write since.
	// Zero (a platform webhook) compares with writes not yet confirmed.
	ReadAt time.Time
	// Notices are the queued notices this batch answers (the fetch of a
	// Notion page event): they are settled in the capture's transaction
	// unless a record was deferred, so a crash leaves them pending and
	// their re-fetch is a duplicate by key.
	Notices []string
}

// PollResult counts what a batch did.
type PollResult struct {
	Captured   int `json:"captured"`
	Duplicates int `json:"duplicates"`
	Echoes     int `json:"echoes"`
	// Deferred counts records left for the next poll (and the cursor not
	// moved past them): Sluice was writing that record to the polled
	// destination at that moment, so the change may be its own write
	// whose confirmation has not committed yet.
	Deferred int `json:"deferred"`
}

// PolledPayload is the body of a polled event, what a flow's normalize
// block maps from: fields under "fields", the origin beside them.
type PolledPayload struct {
	Platform   string         `json:"platform"`
	Object     string         `json:"object"`
	ID         string         `json:"id"`
	ModifiedAt string         `json:"modified_at"`
	Deleted    bool           `json:"deleted"`
	Fields     map[string]any `json:"fields"`
}

// PollIdemKey is the idempotency key of one version of a polled record:
// the same record at the same modification stamp with the same content is
// one capture however many overlapping polls read it, while two updates
// within one stamp unit (Notion's minutes, a coarse updated_at) differ in
// content and are both captured.
func PollIdemKey(recordID string, modifiedAt time.Time, body []byte) string {
	sum := sha256.Sum256(body)
	return fmt.Sprintf("poll:%s@%d#%s", recordID, modifiedAt.UnixNano(), hex.EncodeToString(sum[:8]))
}

// CapturePolled captures a page of polled changes through the same gate as
// webhooks (normalize, validate, hold, route) and moves the source's cursor
// in the same transaction.
func (g *Gate) CapturePolled(ctx context.Context, b PollBatch) (PollResult, error) {
	plan := g.Plan()
	f := plan.FlowForSource(b.Source)
	if f == nil {
		return PollResult{}, ErrUnknownSource
	}
	now := g.now()
	preps := make([]preparedCapture, len(b.Records))
	for i, r := range b.Records {
		p := PolledPayload{Platform: b.Platform, Object: b.Object, ID: r.RecordID,
			ModifiedAt: r.ModifiedAt.UTC().Format(time.RFC3339Nano), Deleted: r.Deleted, Fields: r.Fields}
		if p.Fields == nil {
			p.Fields = map[string]any{}
		}
		body, err := json.Marshal(p)
		if err != nil {
			return PollResult{}, fmt.Errorf("poll %s: record %s: %w", b.Source, r.RecordID, err)
		}
		var payload any
		if err := json.Unmarshal(body, &payload); err != nil {
			return PollResult{}, fmt.Errorf("poll %s: record %s: %w", b.Source, r.RecordID, err)
		}
		idem := r.IdemKey
		if idem == "" {
			idem = PollIdemKey(r.RecordID, r.ModifiedAt, body)
		}
		in := CaptureInput{Source: b.Source, ContentType: "application/json", Body: body,
			Payload: payload, IdemKey: idem}
		if r.Deleted {
			in.Operation = store.OpDelete
			in.Ref = &ExternalRef{Destination: b.EchoDestination, ExternalID: r.RecordID}
			if err := g.resolveRef(ctx, &in); err != nil {
				return PollResult{}, fmt.Errorf("poll %s: %w", b.Source, err)
			}
		}
		preps[i] = g.prepare(plan, f, in, now)
	}
	var res PollResult
	err := g.com.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		res = PollResult{} // the unit may run twice; count from scratch
		via, verb := "poll", "polled"
		if b.Via == "webhook" {
			via, verb = "webhook", "webhook:"
		}
		actor := via + ":" + b.Source
		cursor := ""
		for i, r := range b.Records {
			if b.EchoDestination != "" && preps[i].ev.RecordKey != "" {
				busy, err := tx.DeliveryInFlight(ctx, b.EchoDestination, preps[i].ev.RecordKey)
				if err != nil {
					return err
				}
				if busy {
					res.Deferred = len(b.Records) - i
					break
				}
			}
			if r.Cursor != "" {
				cursor = r.Cursor
			}
			origin := fmt.Sprintf(verb+" %s %s %s modified %s", b.Platform, b.Object, r.RecordID, r.ModifiedAt.UTC().Format(time.RFC3339Nano))
			echoOf, why, err := g.echoOf(ctx, tx, b, r, preps[i].ev.RecordKey)
			if err != nil {
				return err
			}
			if echoOf != "" {
				err := g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: actor, Action: audit.ActionEchoSuppressed, Outcome: "suppressed",
					Message: fmt.Sprintf("%s: matches %s to %s for %s; not captured", origin, why, b.EchoDestination, echoOf)})
				if err != nil {
					return err
				}
				res.Echoes++
				continue
			}
			cr, err := g.commitCapture(ctx, tx, preps[i], actor, origin, now)
			if err != nil {
				return err
			}
			if cr.Duplicate {
				res.Duplicates++
			} else {
				res.Captured++
			}
		}
		if res.Deferred == 0 && b.Cursor != "" {
			cursor = b.Cursor
		}
		if res.Deferred == 0 {
			if err := g.settleNotices(ctx, tx, b.Notices, now); err != nil {
				return err
			}
		}
		if cursor == "" {
			return nil
		}
		return tx.PollCursorPut(ctx, b.Source, cursor, now)
	})
	if err != nil {
		return PollResult{}, fmt.Errorf("capture poll %s: %w", b.Source, err)
	}
	return res, nil
}

// PollCursor is a poll source's committed cursor, "" before its first
// capture.
func (g *Gate) PollCursor(ctx context.Context, source string) (string, error) {
	c, err := g.drv.Executor().PollCursorGet(ctx, source)
	if errors.Is(err, store.ErrNotFound) { // PostgreSQL wraps it
		return "", nil
	}
	return c, err
}

// recordSyncPoint runs when a delivery succeeds. If its event was polled
// from a destination, the version it carried is now on both sides: it
// becomes that destination's sync baseline for the record (and the
// identity map learns the record's ID there), so a later write into that
// destination can tell whether someone changed the record there since.
func (g *Gate) recordSyncPoint(ctx context.Context, tx store.ExecutorTx, d *store.Delivery, now time.Time) error {
	polled := g.Plan().polledDestinations()
	if len(polled) == 0 || d.RecordKey == "" {
		return nil
	}
	ev, err := tx.EventGetByID(ctx, d.EventID)
	if err != nil {
		return err
	}
	dest, ok := polled[ev.Source]
	if !ok || dest == d.Destination {
		return nil
	}
	var p PolledPayload
	if err := json.Unmarshal(ev.Raw, &p); err != nil || p.ID == "" || p.Deleted {
		return nil
	}
	fields, err := json.Marshal(p.Fields)
	if err != nil {
		return nil
	}
	if err := tx.SyncBaselinePut(ctx, &store.SyncBaseline{Destination: dest, RecordKey: d.RecordKey, ExternalID: p.ID, Fields: fields, SyncedAt: now}); err != nil {
		return err
	}
	return tx.IdentityPut(ctx, &store.IdentityPutParams{Destination: dest, RecordKey: d.RecordKey, ExternalID: p.ID, Now: now})
}

// echoOf returns the record key when r is Sluice's own write to the polled
// destination coming back, and which write it matched. The record is one
// Sluice wrote there: found by its ID in the identity map, or else by its
// key as the flow reads it (a create whose answer was lost left no
// identity yet) or by its ID (feeds whose record ID is the key). It is an
// echo when every field Sluice wrote still has the value it wrote, for
// one of the writes the read may show:
//   - the last confirmed write;
//   - a write not confirmed yet (waiting, pending, in flight): the platform
//     may have applied it and answered with an error or not at all, and
//     it is retried; its content is Sluice's own even before it is
//     confirmed, so nothing waits for it and the cursor moves on;
//   - the write the record held when the read began, when a later one was
//     confirmed since: the read may predate the later write (the next
//     poll reads that one, whose stamp is after this record's).
//
// A change to any field by someone else is a real change, and so is a
// record holding an older write of Sluice's read after a newer one was
// confirmed (a person restored it). It reads inside the capture's
// transaction, so a write confirmed a moment ago is seen.
func (g *Gate) echoOf(ctx context.Context, tx store.ExecutorTx, b PollBatch, r PolledRecord, flowKey string) (key, why string, err error) {
	if b.SameAsWritten == nil || b.EchoDestination == "" || r.RecordID == "" {
		return "", "", nil
	}
	if r.WrittenBy != "" && !r.Deleted {
		d, err := tx.DeliveryGetByID(ctx, r.WrittenBy)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", "", err
		}
		if err == nil && d.Destination == b.EchoDestination {
			return d.RecordKey, "Sluice's own post (delivery " + d.ID + ")", nil
		}
	}
	var keys []string
	k, err := tx.IdentityGetByExternalID(ctx, b.EchoDestination, r.RecordID)
	switch {
	case err == nil:
		keys = append(keys, k)
	case errors.Is(err, store.ErrNotFound):
		if flowKey != "" {
			keys = append(keys, flowKey)
		}
		if r.RecordID != flowKey {
			keys = append(keys, r.RecordID)
		}
	default:
		return "", "", err
	}
	since := b.ReadAt
	if since.IsZero() {
		since = g.now()
	}
	for _, k := range keys {
		why, err := g.echoOfKey(ctx, tx, b, r, k, since)
		if err != nil || why != "" {
			return k, why, err
		}
	}
	return "", "", nil
}

// echoOfKey says which write of Sluice's to record key r matches ("" for
// none): the last confirmed one, or one since (see echoOf).
func (g *Gate) echoOfKey(ctx context.Context, tx store.ExecutorTx, b PollBatch, r PolledRecord, key string, since time.Time) (string, error) {
	last, err := tx.DeliveryLatestSucceeded(ctx, b.EchoDestination, key)
	if errors.Is(err, store.ErrNotFound) {
		last, err = nil, nil
	}
	if err != nil {
		return "", err
	}
	if last != nil && g.sameAsWrite(b, last, r) {
		return "what Sluice last wrote", nil
	}
	writes, err := tx.DeliveryListWritesSince(ctx, b.EchoDestination, key, since)
	if err != nil {
		return "", err
	}
	for _, w := range writes {
		if last != nil && w.ID == last.ID {
			continue
		}
		if g.sameAsWrite(b, w, r) {
			if w.State == store.DeliverySucceeded {
				return "an earlier write by Sluice, read before a later one was confirmed", nil
			}
			return "a write by Sluice not confirmed yet (" + string(w.State) + ")", nil
		}
	}
	return "", nil
}

// sameAsWrite reports whether polled record r is what delivery d wrote
// (or is writing). A deletion matches a delete; a live version matches
// the payload of a write, and also of a delete (a live read racing
// Sluice's own deletion still holds what the record held when deleted),
// while a record Sluice wrote and someone deleted is a real change.
func (g *Gate) sameAsWrite(b PollBatch, d *store.Delivery, r PolledRecord) bool {
	if r.Deleted {
		return d.Operation == store.OpDelete
	}
	var wrote map[string]any
	if err := json.Unmarshal(d.Payload, &wrote); err != nil || len(wrote) == 0 {
		return false
	}
	common := 0
	for k := range wrote {
		if _, ok := r.Fields[k]; ok {
			common++
		}
	}
	return common > 0 && b.SameAsWritten(wrote, r.Fields)
}
