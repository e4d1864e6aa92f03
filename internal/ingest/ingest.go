// Package ingest is the front door: POST /v1/sources/{source}/events. It
// authenticates the sender (signature), bounds and parses the body, finds the
// idempotency key, hands the trigger to the gate and answers only after the
// gate's transaction committed. Every refusal is a clear JSON error and
// writes nothing half-done.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/payload"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/store"
)

// headerID is signature.HeaderID as net/http stores it, which Get then
// finds without canonicalising (allocating) the name on every request.
var headerID = http.CanonicalHeaderKey(signature.HeaderID)

// MaxDepth is the deepest JSON nesting accepted (see payload.MaxDepth).
const MaxDepth = payload.MaxDepth

// Pipeline is what intake needs of the gate (*pipeline.Gate implements
// it): the plan that says which sources exist, the capture transition, the
// commit backlog intake sheds load by, and the gate's clock, which
// signature timestamps are checked against.
type Pipeline interface {
	Plan() *pipeline.Plan
	Capture(ctx context.Context, in pipeline.CaptureInput) (pipeline.CaptureResult, error)
	Backlog() (pending, capacity int)
	Now() time.Time
}

// Handler serves the capture endpoint.
type Handler struct {
	Gate      Pipeline
	Config    *config.Config
	Log       *slog.Logger
	Now       func() time.Time
	verifiers map[string]*signature.Verifier
	// platformVerifiers check the sources that receive a platform's own
	// webhooks (sources.X.platform).
	platformVerifiers map[string]*signature.PlatformVerifier
	quotas            map[string]*quota
	// OnNotice is called after a platform webhook that only names a
	// change was committed as a notice (Notion, Airtable): it wakes the
	// worker that fetches it; may be nil.
	OnNotice func()
	// OnCaptured is called after a commit that created deliveries, with
	// the destinations they all go to when that is known (only their
	// workers need waking: every other one would look for work, and claim
	// nothing, once per capture), or nil for every destination.
	OnCaptured func(destinations []string)
	// Observe records the outcome for metrics; may be nil.
	Observe func(source, outcome string)
	// Inspect sees every authenticated, parsed payload (schema drift
	// detection); may be nil.
	Inspect func(ctx context.Context, source string, payload any)
}

// New builds the handler, compiling each source's signature settings.
func New(g Pipeline, c *config.Config, log *slog.Logger) (*Handler, error) {
	h := &Handler{Gate: g, Config: c, Log: log, Now: g.Now, verifiers: map[string]*signature.Verifier{},
		platformVerifiers: map[string]*signature.PlatformVerifier{}, quotas: map[string]*quota{}}
	for name, s := range c.Sources {
		maxBody := c.MaxBodyBytes
		if s.MaxBodyBytes > 0 {
			maxBody = s.MaxBodyBytes
		}
		h.quotas[name] = newQuota(s.Quota, maxBody)
		if s.Platform != nil {
			if _, ok := g.(PlatformGate); !ok {
				return nil, fmt.Errorf("sources.%s.platform: the gate cannot capture platform webhooks", name)
			}
			v, err := newPlatformVerifier(s.Platform)
			if err != nil {
				return nil, fmt.Errorf("sources.%s.platform.%w", name, err)
			}
			h.platformVerifiers[name] = v
			continue
		}
		if s.Signature == nil {
			continue
		}
		v, err := signature.New(signature.Config{
			Scheme: signature.Scheme(s.Signature.Scheme), Secrets: s.Signature.Secrets,
			Header: s.Signature.Header, Tolerance: s.Signature.Tolerance.D(),
		})
		if err != nil {
			return nil, fmt.Errorf("sources.%s.signature: %w", name, err)
		}
		h.verifiers[name] = v
	}
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	httperr.Handle(h.Log, h.capture).ServeHTTP(w, r)
}

func (h *Handler) observe(source, outcome string) {
	if h.Observe != nil {
		h.Observe(source, outcome)
	}
}

func (h *Handler) capture(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("source")
	src, ok := h.Config.Sources[name]
	if !ok || h.Gate.Plan().FlowForSource(name) == nil {
		h.observe("unknown", "unknown_source")
		return httperr.New(http.StatusNotFound, "unknown_source", fmt.Sprintf("no source named %q", name))
	}
	if src.Poll != nil {
		h.observe(name, "unknown_source")
		return httperr.New(http.StatusNotFound, "poll_source", fmt.Sprintf("source %q polls %s; it has no webhook endpoint", name, src.Poll.Destination))
	}
	q := h.quotas[name]
	if wait := q.request(h.Now()); wait > 0 {
		h.observe(name, "over_quota")
		return &httperr.Error{Code: http.StatusTooManyRequests, Kind: "over_quota", Msg: fmt.Sprintf("source %q is over its quota of requests per second; retry later", name), RetryAfter: wait}
	}
	if pending, capacity := h.Gate.Backlog(); pending > capacity*3/4 {
		h.observe(name, "overloaded")
		return &httperr.Error{Code: http.StatusServiceUnavailable, Kind: "overloaded", Msg: "the store is behind; retry shortly", RetryAfter: time.Second}
	}
	ctype, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		h.observe(name, "bad_content_type")
		return httperr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json or application/x-www-form-urlencoded")
	}
	isJSON := ctype == "application/json" || strings.HasSuffix(ctype, "+json")
	if !isJSON && ctype != "application/x-www-form-urlencoded" {
		h.observe(name, "bad_content_type")
		return httperr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("Content-Type %q is not accepted; use application/json or application/x-www-form-urlencoded", ctype))
	}
	if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") {
		h.observe(name, "bad_content_type")
		return httperr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "only UTF-8 bodies are accepted")
	}
	limit := h.Config.MaxBodyBytes
	if src.MaxBodyBytes > 0 {
		limit = src.MaxBodyBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.observe(name, "too_large")
			return httperr.New(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body exceeds %d bytes", limit))
		}
		h.observe(name, "bad_body")
		return &httperr.Error{Code: http.StatusBadRequest, Kind: "bad_body", Msg: "could not read body", Err: err}
	}
	if src.Platform != nil {
		return h.platform(w, r, name, src.Platform, body)
	}
	if v := h.verifiers[name]; v != nil {
		if err := v.Verify(r.Header, body, h.Now()); err != nil {
			h.observe(name, "bad_signature")
			return &httperr.Error{Code: http.StatusUnauthorized, Kind: "bad_signature", Msg: err.Error()}
		}
	}
	// Bytes are charged once the sender is authenticated, so a stranger's
	// junk cannot spend a signed source's budget; request counts above
	// bound the work strangers can cause.
	if wait := q.bytes(h.Now(), len(body)); wait > 0 {
		h.observe(name, "over_quota")
		return &httperr.Error{Code: http.StatusTooManyRequests, Kind: "over_quota", Msg: fmt.Sprintf("source %q is over its quota of bytes per second; retry later", name), RetryAfter: wait}
	}
	parsed, perr := payload.Parse(body, isJSON)
	if perr != nil {
		h.observe(name, "malformed")
		return perr
	}
	if h.Inspect != nil {
		h.Inspect(r.Context(), name, parsed)
	}
	idem := h.idempotencyKey(src, r.Header, parsed, body)
	if len(idem) > 256 {
		h.observe(name, "malformed")
		return httperr.New(http.StatusBadRequest, "bad_idempotency_key", "idempotency key longer than 256 characters")
	}
	res, err := h.Gate.Capture(r.Context(), pipeline.CaptureInput{Source: name, ContentType: ctype, Body: body, Payload: parsed, IdemKey: idem})
	if err != nil {
		if errors.Is(err, store.ErrUnwritable) {
			h.observe(name, "store_unwritable")
			return &httperr.Error{Code: http.StatusServiceUnavailable, Kind: "store_unwritable", Msg: "the store cannot write right now; retry later", RetryAfter: 30 * time.Second, Err: err}
		}
		if errors.Is(err, store.ErrClosed) {
			return &httperr.Error{Code: http.StatusServiceUnavailable, Kind: "shutting_down", Msg: "shutting down; retry shortly", RetryAfter: time.Second, Err: err}
		}
		return err
	}
	switch {
	case res.Duplicate:
		h.observe(name, "duplicate")
		httperr.JSON(w, http.StatusOK, res)
	case res.State == store.EventRejected:
		h.observe(name, "rejected")
		httperr.JSON(w, http.StatusUnprocessableEntity, res)
	default:
		h.observe(name, string(res.State))
		if h.OnCaptured != nil && !res.Duplicate && (res.State == store.EventDelivering || len(res.Released) > 0) {
			var to []string // released records may go anywhere
			if len(res.Released) == 0 {
				to = res.Destinations
			}
			h.OnCaptured(to)
		}
		answerAccepted(w, res)
	}
	return nil
}

// idempotencyKey names what makes two requests the same trigger. A
// configured payload field names the business identity of a trigger (a form
// submission ID) and so wins over transport-level message IDs, which only
// catch redeliveries of the same message.
//
// On a signed source only signed material may decide: an attacker who
// captured a signed request can add or change any header that is not
// signed, so an Idempotency-Key header there would turn one signed request
// into as many events as the attacker likes. Standard Webhooks signs
// webhook-id; hmac-sha256 signs only the body, so its key is the body's
// hash (two identical bodies are then one trigger, which is all a timestamp-
// less signature can promise).
func (h *Handler) idempotencyKey(src *config.Source, hdr http.Header, parsed any, body []byte) string {
	if src.IdempotencyField != "" {
		if m, ok := parsed.(map[string]any); ok {
			if v, ok := payload.Lookup(m, src.IdempotencyField); ok && v != nil {
				return "field:" + fmt.Sprint(v)
			}
		}
	}
	if src.Signature != nil {
		switch signature.Scheme(src.Signature.Scheme) {
		case signature.StandardWebhooks:
			return hdr.Get(headerID)
		default:
			sum := sha256.Sum256(body)
			return "sha256:" + hex.EncodeToString(sum[:])
		}
	}
	if k := hdr.Get("Idempotency-Key"); k != "" {
		return k
	}
	return hdr.Get(headerID)
}

// answerAccepted writes the 202 answer. The common one, an event ID and a
// state and nothing else, is written directly, byte for byte what
// httperr.JSON's indenting encoder writes for it (answer_test.go compares
// them); any other goes through httperr.JSON.
func answerAccepted(w http.ResponseWriter, res pipeline.CaptureResult) {
	if res.Duplicate || len(res.Problems) > 0 || len(res.Missing) > 0 || len(res.Released) > 0 ||
		!plainJSON(res.EventID) || !plainJSON(string(res.State)) {
		httperr.JSON(w, http.StatusAccepted, res)
		return
	}
	b := make([]byte, 0, 48+len(res.EventID)+len(res.State))
	b = append(b, "{\n  \"event_id\": \""...)
	b = append(b, res.EventID...)
	b = append(b, "\",\n  \"state\": \""...)
	b = append(b, res.State...)
	b = append(b, "\"\n}\n"...)
	httperr.JSONBytes(w, http.StatusAccepted, b)
}

// plainJSON reports whether s is written into a JSON string as it is:
// letters, digits, '_', '-' and '.' only.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
