package sim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
)

// Subscription is one receiver of a simulator's webhooks, added with
// POST /_sim/webhooks.
type Subscription struct {
	// ID names the subscription (Airtable: the webhook ID "ach...").
	ID string `json:"id"`
	// URL receives the webhooks.
	URL string `json:"url"`
	// Secret signs them: HubSpot's client secret, Slack's signing secret,
	// Airtable's macSecretBase64 (generated when empty). Notion signs with
	// the verification token it generates instead.
	Secret string `json:"secret,omitempty"`
	// Events limits the event types sent (contact.creation, message,
	// page.deleted, ...); empty sends every one.
	Events []string `json:"events,omitempty"`
	// Base is the Airtable base whose changes are sent.
	Base string `json:"base,omitempty"`
	// MaxAttempts is how often a webhook is sent before the simulator
	// gives up on it; default 3.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Verified is false while the receiver has not completed the
	// platform's handshake (Notion: the token was not confirmed); nothing
	// but the handshake is sent until it is.
	Verified bool `json:"verified"`
	// Expires, when set, is when the subscription stops being notified
	// (Airtable: 7 days after creation or the last refresh); Refresh
	// moves it.
	Expires time.Time `json:"expiration_time,omitzero"`

	token string
}

// AirtableWebhookLife is how long an Airtable webhook lives after its
// creation or last refresh (Airtable: 7 days).
const AirtableWebhookLife = 7 * 24 * time.Hour

// HookStats count webhook sends (GET /_sim/webhooks).
type HookStats struct {
	// Sent counts requests, retries included.
	Sent int64 `json:"sent"`
	// Delivered counts webhooks a receiver answered 2xx.
	Delivered int64 `json:"delivered"`
	// Retried counts requests that were retries.
	Retried int64 `json:"retried"`
	// Failed counts webhooks given up after MaxAttempts.
	Failed int64 `json:"failed"`
}

// Webhook is one webhook a platform simulator emits.
type Webhook struct {
	// Event is the platform's event type, matched against
	// Subscription.Events; "" leaves the choice to Body.
	Event string
	// Base limits it to Airtable subscriptions of that base.
	Base string
	// Body builds the body of attempt n (1-based): HubSpot and Notion
	// number their attempts inside the body. nil sends nothing.
	Body func(sub Subscription, attempt int) []byte
}

// Hooks sends a platform simulator's webhooks, signed the platform's way,
// to the subscriptions configured through its control endpoints, in order,
// from one background sender, retrying a receiver that fails. It is safe
// for concurrent use.
type Hooks struct {
	platform signature.Platform
	now      func() time.Time
	client   *http.Client
	// Handshake runs when a subscription is added, before it is kept: it
	// may send a request through send (signed or not) and refuse the
	// subscription by returning an error (Slack: the challenge was not
	// echoed). nil: none.
	Handshake func(ctx context.Context, sub *Subscription, send func(body []byte, signed bool) (*http.Response, []byte, error)) error
	// RetryHeaders adds headers to attempt n > 1 (Slack's retry headers);
	// reason is http_error or http_timeout.
	RetryHeaders func(h http.Header, attempt int, reason string)
	// RetryDelay is the wait before a retry; default 20ms.
	RetryDelay time.Duration

	mu      sync.Mutex
	subs    []*Subscription
	queue   []job
	running bool
	idle    *sync.Cond
	stats   HookStats
	seq     int
}

type job struct {
	sub  Subscription
	hook Webhook
}

// NewHooks builds the sender of platform p's webhooks.
func NewHooks(p signature.Platform, now func() time.Time) *Hooks {
	h := &Hooks{platform: p, now: now, client: &http.Client{Timeout: 5 * time.Second}, RetryDelay: 20 * time.Millisecond}
	h.idle = sync.NewCond(&h.mu)
	return h
}

// Emit queues w for every verified subscription that wants its event.
func (h *Hooks) Emit(w Webhook) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	for _, s := range h.subs {
		if !s.Verified || !wants(s, w) || (!s.Expires.IsZero() && !now.Before(s.Expires)) {
			continue
		}
		h.queue = append(h.queue, job{sub: *s, hook: w})
	}
	if len(h.queue) > 0 && !h.running {
		h.running = true
		go h.drain()
	}
}

// Subscribed reports whether any subscription would receive base's or any
// webhooks: simulators skip building events nobody asked for.
func (h *Hooks) Subscribed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

func wants(s *Subscription, w Webhook) bool {
	if w.Base != "" && s.Base != "" && s.Base != w.Base {
		return false
	}
	if len(s.Events) == 0 || w.Event == "" {
		return true
	}
	for _, e := range s.Events {
		if e == w.Event {
			return true
		}
	}
	return false
}

func (h *Hooks) drain() {
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			h.running = false
			h.idle.Broadcast()
			h.mu.Unlock()
			return
		}
		j := h.queue[0]
		h.queue = h.queue[1:]
		h.mu.Unlock()
		h.deliver(j)
	}
}

func (h *Hooks) deliver(j job) {
	max := j.sub.MaxAttempts
	if max <= 0 {
		max = 3
	}
	reason := ""
	if j.hook.Body(j.sub, 1) == nil {
		return
	}
	for attempt := 1; attempt <= max; attempt++ {
		if attempt > 1 {
			time.Sleep(h.RetryDelay)
		}
		hdr := http.Header{}
		if attempt > 1 && h.RetryHeaders != nil {
			h.RetryHeaders(hdr, attempt, reason)
		}
		resp, _, err := h.send(context.Background(), j.sub, j.hook.Body(j.sub, attempt), true, hdr)
		h.mu.Lock()
		h.stats.Sent++
		if attempt > 1 {
			h.stats.Retried++
		}
		ok := err == nil && resp.StatusCode/100 == 2
		if ok {
			h.stats.Delivered++
		}
		h.mu.Unlock()
		if ok {
			return
		}
		reason = "http_error"
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			reason = "http_timeout"
		}
	}
	h.mu.Lock()
	h.stats.Failed++
	h.mu.Unlock()
}

// send posts body to sub, signed the platform's way when signed is set.
func (h *Hooks) send(ctx context.Context, sub Subscription, body []byte, signed bool, extra http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-sim/"+string(h.platform))
	for k, vs := range extra {
		req.Header[k] = vs
	}
	if signed {
		key := sub.Secret
		if h.platform == signature.Notion {
			key = sub.token
		}
		sig, err := signature.SignPlatform(h.platform, key, http.MethodPost, sub.URL, body, h.now())
		if err != nil {
			return nil, nil, err
		}
		for k, vs := range sig {
			req.Header[k] = vs
		}
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp, b, nil
}

// Flush waits until every queued webhook was delivered or given up.
func (h *Hooks) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		h.mu.Lock()
		for h.running {
			h.idle.Wait()
		}
		h.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats are the sends so far.
func (h *Hooks) Stats() HookStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// Subscriptions are the configured receivers.
func (h *Hooks) Subscriptions() []Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Subscription, len(h.subs))
	for i, s := range h.subs {
		out[i] = *s
	}
	return out
}

// Subscribe adds a receiver after the platform's handshake, returning it
// as stored (with its generated ID and secret).
func (h *Hooks) Subscribe(ctx context.Context, s Subscription) (Subscription, error) {
	if s.URL == "" {
		return Subscription{}, errors.New("url: required")
	}
	h.mu.Lock()
	h.seq++
	n := h.seq
	h.mu.Unlock()
	if s.ID == "" {
		s.ID = fmt.Sprintf("%s%d%s", idPrefix(h.platform), n, randomHex(6))
	}
	switch h.platform {
	case signature.Airtable:
		if s.Secret == "" {
			s.Secret = randomBase64(32)
		}
		if s.Expires.IsZero() {
			// Webhooks created with a token expire (see airtable.WebhookLife).
			s.Expires = h.now().Add(AirtableWebhookLife).UTC()
		}
	case signature.Notion:
		s.token = "secret_" + randomHex(20)
	default:
		if s.Secret == "" {
			return Subscription{}, errors.New("secret: required (the receiver verifies with it)")
		}
	}
	s.Verified = h.platform != signature.Notion
	if h.platform == signature.Notion {
		// Notion's handshake: the token, unsigned (the receiver has no key
		// yet). The subscription stays unverified until it is pasted back.
		body, _ := json.Marshal(map[string]string{"verification_token": s.token})
		resp, _, err := h.send(ctx, s, body, false, nil)
		if err != nil {
			return Subscription{}, fmt.Errorf("verification: %v", err)
		}
		if resp.StatusCode/100 != 2 {
			return Subscription{}, fmt.Errorf("verification: the receiver answered %d", resp.StatusCode)
		}
	}
	if h.Handshake != nil {
		send := func(body []byte, signed bool) (*http.Response, []byte, error) {
			return h.send(ctx, s, body, signed, nil)
		}
		if err := h.Handshake(ctx, &s, send); err != nil {
			return Subscription{}, err
		}
	}
	h.mu.Lock()
	h.subs = append(h.subs, &s)
	h.mu.Unlock()
	return s, nil
}

// Token is the verification token a Notion subscription sent in its
// handshake (for tests that play the operator without reading Sluice).
func (h *Hooks) Token(id string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		if s.ID == id {
			return s.token
		}
	}
	return ""
}

// Verify marks the subscription whose handshake token is token verified
// (the operator pasted it back into Notion).
func (h *Hooks) Verify(token string) (Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		if s.token != "" && s.token == token {
			s.Verified = true
			return *s, nil
		}
	}
	return Subscription{}, errors.New("verification_token: matches no subscription's token")
}

// Refresh sets subscription id's expiry to now+life and returns it;
// false when there is no such subscription.
func (h *Hooks) Refresh(id string, life time.Duration) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		if s.ID == id {
			s.Expires = h.now().Add(life).UTC()
			return s.Expires, true
		}
	}
	return time.Time{}, false
}

// Reset drops every subscription and queued webhook.
func (h *Hooks) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs, h.queue = nil, nil
	h.stats = HookStats{}
}

// Mount adds the webhook control endpoints:
//
//	GET    /_sim/webhooks         {subscriptions, stats}
//	POST   /_sim/webhooks         add a Subscription (runs the handshake); 400 if refused
//	DELETE /_sim/webhooks         drop every subscription
//	POST   /_sim/webhooks/verify  {"verification_token"}: Notion's "paste the token" step
//	POST   /_sim/webhooks/flush   wait until every queued webhook was sent
func (h *Hooks) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/webhooks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"subscriptions": h.Subscriptions(), "stats": h.Stats()})
	})
	mux.HandleFunc("POST /_sim/webhooks", func(w http.ResponseWriter, r *http.Request) {
		var s Subscription
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "subscription: " + err.Error()})
			return
		}
		got, err := h.Subscribe(r.Context(), s)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusCreated, got)
	})
	mux.HandleFunc("DELETE /_sim/webhooks", func(w http.ResponseWriter, _ *http.Request) {
		h.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/webhooks/verify", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Token string `json:"verification_token"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s, err := h.Verify(body.Token)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("POST /_sim/webhooks/flush", func(w http.ResponseWriter, r *http.Request) {
		if err := h.Flush(r.Context()); err != nil {
			writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, h.Stats())
	})
}

func idPrefix(p signature.Platform) string {
	switch p {
	case signature.Airtable:
		return "ach"
	case signature.Slack:
		return "A"
	}
	return "sub"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return encodeBase64(b)
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
