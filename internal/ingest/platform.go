package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/platformhook"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/store"
)

// PlatformGate is what a platform-webhook source needs of the gate beyond
// Pipeline: the capture of changed records (shared with poll sources, so
// dedupe, echo suppression and the audit are the same) and the keeping of
// Notion's verification token.
type PlatformGate interface {
	CapturePolled(ctx context.Context, b pipeline.PollBatch) (pipeline.PollResult, error)
	HookTokenReceived(ctx context.Context, source, platform, token string) error
}

// ReadTimeout bounds the read of one record a thin webhook names (Notion):
// past it the platform is answered 503 and retries the event.
const ReadTimeout = 10 * time.Second

// platformAnswer is the body of a 200 to a platform's change webhook.
type platformAnswer struct {
	pipeline.PollResult
	Retry bool `json:"retry,omitempty"`
}

// platform serves a source that receives a platform's own webhooks: it
// verifies the platform's signature, answers the platform's handshakes,
// and captures each changed record once (the platform's event ID is the
// idempotency key, so a retry is answered as a duplicate).
func (h *Handler) platform(w http.ResponseWriter, r *http.Request, name string, pc *config.Platform, body []byte) error {
	kind := pc.Kind
	notice, perr := platformhook.Parse(kind, body)
	// Notion's handshake is the one unsigned request: it carries the key
	// later requests are signed with. It is kept, never trusted: events
	// verify only against platform.secrets, which the operator sets.
	if perr == nil && notice.VerificationToken != "" {
		if err := h.platformGate().HookTokenReceived(r.Context(), name, kind, notice.VerificationToken); err != nil {
			return h.storeError(name, err)
		}
		h.observe(name, "verification")
		h.Log.Warn("notion verification token received; show it with `sluice sources token` and paste it into Notion, then set platform.secrets", "source", name)
		httperr.JSON(w, http.StatusOK, map[string]string{"status": "verification token received"})
		return nil
	}
	if err := h.platformVerifiers[name].Verify(r.Method, h.platformURL(r, pc), r.Header, body, h.Now()); err != nil {
		h.observe(name, "bad_signature")
		return &httperr.Error{Code: http.StatusUnauthorized, Kind: "bad_signature", Msg: err.Error()}
	}
	if wait := h.quotas[name].bytes(h.Now(), len(body)); wait > 0 {
		h.observe(name, "over_quota")
		return &httperr.Error{Code: http.StatusTooManyRequests, Kind: "over_quota", Msg: fmt.Sprintf("source %q is over its quota of bytes per second; retry later", name), RetryAfter: wait}
	}
	if perr != nil {
		h.observe(name, "malformed")
		return &httperr.Error{Code: http.StatusBadRequest, Kind: "malformed", Msg: perr.Error()}
	}
	switch {
	case notice.Challenge != "":
		h.observe(name, "verification")
		httperr.JSON(w, http.StatusOK, map[string]string{"challenge": notice.Challenge})
		return nil
	case notice.Ping != nil:
		if notice.Ping.Webhook != pc.WebhookID {
			h.observe(name, "malformed")
			return httperr.New(http.StatusBadRequest, "unknown_webhook", fmt.Sprintf("notification for webhook %q; this source lists webhook %q", notice.Ping.Webhook, pc.WebhookID))
		}
		// The payloads are listed off the request path, by the source's
		// cursor; the notification is only a nudge.
		if h.OnPing != nil {
			h.OnPing(name)
		}
		h.observe(name, "notified")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	records := make([]pipeline.PolledRecord, 0, len(notice.Changes))
	object := ""
	for _, c := range notice.Changes {
		rec := pipeline.PolledRecord{RecordID: c.RecordID, ModifiedAt: c.At, Deleted: c.Deleted, Fields: c.Fields,
			IdemKey: kind + ":" + c.EventID}
		if c.Fetch {
			read, err := h.readRecord(r.Context(), name, c.RecordID)
			if err != nil {
				h.observe(name, "read_failed")
				return &httperr.Error{Code: http.StatusServiceUnavailable, Kind: "read_failed",
					Msg: fmt.Sprintf("could not read %s %s from %s; retry later", c.Object, c.RecordID, kind), RetryAfter: 5 * time.Second, Err: err}
			}
			rec.Fields, rec.Deleted = read.Fields, read.Deleted
			if !read.ModifiedAt.IsZero() && read.ModifiedAt.After(rec.ModifiedAt) {
				rec.ModifiedAt = read.ModifiedAt
			}
		}
		if object == "" {
			object = c.Object
		}
		records = append(records, rec)
	}
	if len(records) == 0 {
		h.observe(name, "ignored")
		httperr.JSON(w, http.StatusOK, platformAnswer{})
		return nil
	}
	batch := pipeline.PollBatch{Source: name, Platform: kind, Object: object, Via: "webhook",
		EchoDestination: pc.Destination, Records: records}
	if pc.Destination != "" && (pc.SuppressEchoes == nil || *pc.SuppressEchoes) {
		batch.SameAsWritten = func(wrote, got map[string]any) bool { return len(connector.CompareFields(wrote, got)) == 0 }
	}
	res, err := h.platformGate().CapturePolled(r.Context(), batch)
	if err != nil {
		if errors.Is(err, pipeline.ErrUnknownSource) {
			return httperr.New(http.StatusNotFound, "unknown_source", fmt.Sprintf("no flow reads source %q", name))
		}
		return h.storeError(name, err)
	}
	if res.Captured > 0 && h.OnCaptured != nil {
		h.OnCaptured()
	}
	if res.Deferred > 0 {
		// Sluice is writing one of these records to the platform right now;
		// the platform's retry brings the rest once that write confirmed
		// (what was captured already is then a duplicate).
		h.observe(name, "deferred")
		return &httperr.Error{Code: http.StatusServiceUnavailable, Kind: "write_in_flight",
			Msg: "a record in this request is being written by Sluice right now; retry shortly", RetryAfter: time.Second}
	}
	switch {
	case res.Captured > 0:
		h.observe(name, "captured")
	case res.Echoes > 0:
		h.observe(name, "echo")
	default:
		h.observe(name, "duplicate")
	}
	httperr.JSON(w, http.StatusOK, platformAnswer{PollResult: res})
	return nil
}

func (h *Handler) platformGate() PlatformGate { return h.Gate.(PlatformGate) }

// platformURL is the address the platform signed: the configured public
// URL, else the request's own.
func (h *Handler) platformURL(r *http.Request, pc *config.Platform) string {
	if pc.URL != "" {
		return pc.URL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

func (h *Handler) readRecord(ctx context.Context, source, id string) (connector.Change, error) {
	rd := h.Readers[source]
	if rd == nil {
		return connector.Change{}, fmt.Errorf("source %s: no connector reads its records", source)
	}
	ctx, cancel := context.WithTimeout(ctx, ReadTimeout)
	defer cancel()
	return rd.ReadRecord(ctx, id)
}

func (h *Handler) storeError(name string, err error) error {
	if errors.Is(err, store.ErrUnwritable) {
		h.observe(name, "store_unwritable")
		return &httperr.Error{Code: http.StatusServiceUnavailable, Kind: "store_unwritable", Msg: "the store cannot write right now; retry later", RetryAfter: 30 * time.Second, Err: err}
	}
	if errors.Is(err, store.ErrClosed) {
		return &httperr.Error{Code: http.StatusServiceUnavailable, Kind: "shutting_down", Msg: "shutting down; retry shortly", RetryAfter: time.Second, Err: err}
	}
	return err
}

// newPlatformVerifier compiles a platform source's secrets.
func newPlatformVerifier(pc *config.Platform) (*signature.PlatformVerifier, error) {
	return signature.NewPlatform(signature.Platform(pc.Kind), pc.Keys())
}
