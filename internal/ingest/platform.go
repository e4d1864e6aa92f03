package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// dedupe, echo suppression and the audit are the same), the queue of
// notices (webhooks that only name a change, fetched in the background)
// and the keeping of Notion's verification token.
type PlatformGate interface {
	CapturePolled(ctx context.Context, b pipeline.PollBatch) (pipeline.PollResult, error)
	NoticeReceived(ctx context.Context, in pipeline.NoticeInput) (pipeline.NoticeResult, error)
	HookTokenReceived(ctx context.Context, source, platform, token string) error
}

// platformAnswer is the body of a 200 to a platform's change webhook.
type platformAnswer struct {
	pipeline.PollResult
	// Queued counts notices committed for a background fetch; the
	// platform's retry of one is counted in Duplicates.
	Queued int `json:"queued,omitempty"`
}

// platform serves a source that receives a platform's own webhooks: it
// verifies the platform's signature, answers the platform's handshakes,
// captures each changed record the request carries once (the platform's
// event ID is the idempotency key, so a retry is answered as a duplicate)
// and commits a notice for each change it only names (Notion's page
// events, Airtable's notification), fetched in the background: nothing
// here calls the platform.
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
		// The notification is committed as a notice and answered; the
		// payloads are listed in the background from the source's cursor.
		key := "airtable:" + notice.Ping.Webhook + ":" + notice.Ping.Timestamp
		if notice.Ping.Timestamp == "" {
			sum := sha256.Sum256(body)
			key = "airtable:" + notice.Ping.Webhook + ":sha256:" + hex.EncodeToString(sum[:])
		}
		res, err := h.platformGate().NoticeReceived(r.Context(), pipeline.NoticeInput{Source: name, Platform: kind, Key: key, Type: "ping"})
		if err != nil {
			return h.noticeError(name, err)
		}
		h.noticed(name, res)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	var ans platformAnswer
	records := make([]pipeline.PolledRecord, 0, len(notice.Changes))
	object := ""
	for _, c := range notice.Changes {
		if c.Fetch {
			// The event only names the record (Notion): committed as a
			// notice, read in the background. Nothing here waits on the
			// platform.
			res, err := h.platformGate().NoticeReceived(r.Context(), pipeline.NoticeInput{Source: name, Platform: kind,
				Key: kind + ":" + c.EventID, Type: c.Type, Object: c.Object, RecordID: c.RecordID, OccurredAt: c.At})
			if err != nil {
				return h.noticeError(name, err)
			}
			h.noticed(name, res)
			if res.Duplicate {
				ans.Duplicates++
			} else {
				ans.Queued++
			}
			continue
		}
		rec := pipeline.PolledRecord{RecordID: c.RecordID, ModifiedAt: c.At, Deleted: c.Deleted, Fields: c.Fields,
			IdemKey: kind + ":" + c.EventID, WrittenBy: c.WrittenBy}
		if object == "" {
			object = c.Object
		}
		records = append(records, rec)
	}
	if len(records) == 0 {
		if ans.Queued+ans.Duplicates == 0 {
			h.observe(name, "ignored")
		}
		httperr.JSON(w, http.StatusOK, ans)
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
		h.OnCaptured(nil)
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
	res.Duplicates += ans.Duplicates
	httperr.JSON(w, http.StatusOK, platformAnswer{PollResult: res, Queued: ans.Queued})
	return nil
}

// noticed counts a committed notice and wakes the worker that fetches it.
func (h *Handler) noticed(name string, res pipeline.NoticeResult) {
	if res.Duplicate {
		h.observe(name, "duplicate")
		return
	}
	h.observe(name, "queued")
	if h.OnNotice != nil {
		h.OnNotice()
	}
}

func (h *Handler) noticeError(name string, err error) error {
	if errors.Is(err, pipeline.ErrUnknownSource) {
		return httperr.New(http.StatusNotFound, "unknown_source", fmt.Sprintf("no flow reads source %q", name))
	}
	return h.storeError(name, err)
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
