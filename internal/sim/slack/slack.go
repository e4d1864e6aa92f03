// Package slack is an in-memory simulator of the part of Slack's Web API that
// Sluice's Slack destination uses, faithful to what
// shared/reference/saas-apis.md section 4 and Slack's method reference
// document, so that the connector, the demo and the benchmarks run without a
// real workspace.
//
// It serves, under /api:
//
//	POST     /chat.postMessage       channel, text, blocks, metadata
//	POST     /chat.update            channel, ts, text, blocks, metadata
//	GET|POST /conversations.history  channel, limit, cursor, latest, oldest, inclusive, include_all_metadata
//	GET|POST /auth.test              who the token is
//
// and the control endpoints of package sim under /_sim/.
//
// Behaviour, documented facts first:
//   - Arguments come as a query string, a form body (x-www-form-urlencoded or
//     multipart, where blocks and metadata are JSON strings) or a JSON body.
//     A JSON body without a charset in Content-Type succeeds with the warning
//     "missing_charset" ({"ok":true,"warning":"missing_charset",
//     "response_metadata":{"warnings":["missing_charset"]}}); an unsupported
//     Content-Type is invalid_post_type.
//   - Auth is "Authorization: Bearer xoxb-…" (or a form "token" argument; a
//     JSON body's token is ignored, as Slack documents). Failures are HTTP 200
//     with {"ok":false,"error":code}: not_authed without a token,
//     invalid_auth for an unknown one, and whatever SetTokenError set
//     (token_revoked, account_inactive, …).
//   - Nearly every failure is HTTP 200 with {"ok":false,"error":code},
//     including a method the simulator does not know (unknown_method, as
//     Slack answers it); only rate limits (429), paths outside /api/ (404)
//     and the injected server faults below use another status.
//   - chat.postMessage takes a channel ID or name ("general", "#general");
//     chat.update and conversations.history take only the ID. A channel
//     that does not exist is channel_not_found, an archived one is_archived
//     (history can still be read), one the app's bot is not in
//     not_in_channel.
//   - A message needs text or blocks, else no_text. At most 50 blocks;
//     blocks are checked against the Block Kit limits the simulator knows
//     (section text 3,000 characters, at most 10 section fields of 2,000,
//     header plain_text 150, markdown block 12,000, context 1 to 10
//     elements, block_id 255) and refused as invalid_blocks with Slack's
//     "errors" and response_metadata.messages ("[ERROR] must be less than
//     3001 characters [json-pointer:/blocks/0/text/text]"); blocks that are
//     not a JSON array of objects are invalid_blocks_format.
//   - metadata is {"event_type": string, "event_payload": object}, as an
//     object or a JSON string: malformed JSON is invalid_metadata_format, a
//     missing event_type or a non-object event_payload
//     invalid_metadata_schema. conversations.history returns metadata only
//     with include_all_metadata=true.
//   - ts is "<unix seconds>.<6 digits>", unique and increasing per workspace.
//     History is newest first, limit defaults to 100 and is capped at
//     HistoryMaxPage (999, Slack's documented maximum); next_cursor is opaque
//     (base64 "next_ts:<ts>") and has_more says whether more remain.
//   - chat.update replaces text and blocks (and metadata when given; without
//     it the old metadata stays), marks the message edited and answers
//     message_not_found for an unknown ts.
//   - chat.postMessage allows about one message per second per channel, with
//     short bursts: at most PostLimit (3) messages per PostInterval (3 s) per
//     token and channel, a rolling window. chat.update and
//     conversations.history are Tier 3: UpdateLimit and HistoryLimit (50)
//     per minute per token. A refused request is HTTP 429 with
//     "Retry-After: <whole seconds>" and {"ok":false,"error":"ratelimited"},
//     and uses up no capacity.
//
// Choices where the reference is unconfirmed ([U]), secondary or silent:
//   - Text longer than 40,000 characters is truncated to 40,000 and
//     accepted, as chat.postMessage's reference documents. Slack staff said
//     in 2024 that the platform now refuses far shorter text with
//     msg_too_long (about 4,000 characters, [2nd]); MaxTextChars > 0 turns
//     that on: longer text is refused with msg_too_long, nothing posted.
//   - msg_blocks_too_long (observed near 13,000 characters of blocks,
//     [2nd]), metadata_too_large (no documented limit) and the workspace-wide
//     posting limit (undocumented) are not simulated. Since May 2025
//     non-Marketplace commercial apps get conversations.history at 1 request
//     per minute and 15 messages per page: set HistoryLimit 1 and
//     HistoryMaxPage 15 to try that.
//   - The shared fault knobs map onto Slack like this. Errors answer with
//     the injected HTTP status and a Slack body (500 internal_error, 502 to
//     504 service_unavailable, 429 ratelimited with Retry-After: 1), except
//     the auth statuses, which Slack never sends: an injected 401 answers
//     HTTP 200 token_revoked and 403 HTTP 200 missing_scope. Revoked answers
//     HTTP 200 with {"ok":false,"error":"token_revoked"}, as real Slack does
//     (official clients retry a 401 for many minutes). RemovedFields names channels (ID or name, bare
//     or "channels.<id>") that no longer exist: every method answers
//     channel_not_found, the drift a Slack destination meets.
//     TimeoutAfterWrite applies a post or update, then drops the connection.
//     PartialBatch does nothing: Slack has no batch writes.
//   - For Stats.DuplicatesByKey a message's business key is its channel
//     plus metadata.event_payload.record_key when that is a non-empty
//     string, else its channel plus its text.
package slack

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/sim"
)

// Identities of the simulated workspace and of the app whose bot posts.
const (
	TeamID    = "T0SLUICE00"
	AppID     = "A0SLUICEAPP"
	BotID     = "B0SLUICEBOT"
	BotUserID = "U0SLUICEBOT"

	// GeneralChannel and LeadsChannel are the IDs of DefaultChannels.
	GeneralChannel = "C0SLUICE01"
	LeadsChannel   = "C0SLUICE02"
)

// Defaults and documented limits.
const (
	DefaultPostLimit      = 3
	DefaultPostInterval   = 3 * time.Second
	DefaultUpdateLimit    = 50 // Tier 3, per minute
	DefaultHistoryLimit   = 50 // Tier 3, per minute
	DefaultHistoryMaxPage = 999
	DefaultHistoryPage    = 100
	// TruncateTextAt is where Slack truncates message text.
	TruncateTextAt = 40_000
	// MaxBlocks is the most blocks one message takes.
	MaxBlocks = 50

	maxBody = 4 << 20
)

// Channel is one conversation of the workspace.
type Channel struct {
	// ID is the conversation ID ("C0SLUICE01"); required, unique.
	ID string `json:"id"`
	// Name is the channel name without "#"; chat.postMessage accepts it in
	// place of the ID.
	Name string `json:"name"`
	// Archived channels refuse posts and updates with is_archived.
	Archived bool `json:"is_archived"`
	// NotMember means the app's bot user is not in the channel: posting and
	// reading history answer not_in_channel.
	NotMember bool `json:"not_member,omitempty"`
}

// DefaultChannels are the channels of a simulator built without
// Options.Channels: #general and #leads, the bot a member of both.
func DefaultChannels() []Channel {
	return []Channel{{ID: GeneralChannel, Name: "general"}, {ID: LeadsChannel, Name: "leads"}}
}

// Metadata is a message's metadata: an app-defined event.
type Metadata struct {
	EventType    string         `json:"event_type"`
	EventPayload map[string]any `json:"event_payload"`
}

// Message is one stored message.
type Message struct {
	Channel  string    `json:"channel"`
	TS       string    `json:"ts"`
	Text     string    `json:"text"`
	Blocks   []any     `json:"blocks,omitempty"`
	Metadata *Metadata `json:"metadata,omitempty"`
	// EditedTS is when chat.update last changed the message, empty if never.
	EditedTS string `json:"edited_ts,omitempty"`
}

// RecordKey is metadata.event_payload.record_key when it is a string, the
// key Sluice's connector stamps on every message.
func (m Message) RecordKey() string {
	if m.Metadata == nil {
		return ""
	}
	k, _ := m.Metadata.EventPayload["record_key"].(string)
	return k
}

// businessKey is what Stats.DuplicatesByKey counts.
func (m *Message) businessKey() string {
	if k := m.RecordKey(); k != "" {
		return m.Channel + "\x00key:" + k
	}
	return m.Channel + "\x00text:" + m.Text
}

// Options configure a Server.
type Options struct {
	// Seed makes injected faults repeatable (see sim.Options).
	Seed uint64
	// OAuthRefreshTokens are token-rotation refresh tokens oauth.v2.access
	// accepts (grant_type=refresh_token); each is single-use and answers a
	// new access token (valid OAuthTTL, default 12 hours) and a new
	// refresh token. OAuthClientID and OAuthClientSecret, when set, must
	// come with them.
	OAuthRefreshTokens               []string
	OAuthClientID, OAuthClientSecret string
	OAuthTTL                         time.Duration
	// Faults are injected from the start; PUT /_sim/faults changes them.
	Faults sim.Faults
	// Tokens are the accepted bot tokens; empty accepts any non-empty token.
	Tokens []string
	// Channels replace DefaultChannels.
	Channels []Channel
	// PostLimit is the messages per PostInterval per token and channel; 0
	// means DefaultPostLimit (3), negative means unlimited.
	PostLimit int
	// PostInterval is the rolling window of PostLimit; 0 means 3 s.
	PostInterval time.Duration
	// UpdateLimit is chat.update calls per minute per token; 0 means 50,
	// negative means unlimited.
	UpdateLimit int
	// HistoryLimit is conversations.history calls per minute per token; 0
	// means 50, negative means unlimited.
	HistoryLimit int
	// HistoryMaxPage caps conversations.history's limit; 0 means 999.
	HistoryMaxPage int
	// MaxTextChars, when positive, refuses longer text with msg_too_long
	// instead of truncating it at 40,000 characters.
	MaxTextChars int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Server is the simulator. It is an http.Handler serving the API and the
// /_sim/ control endpoints, and embeds *sim.Base for faults and stats in Go.
type Server struct {
	*sim.Base
	handler http.Handler
	// OAuth issues rotating tokens through oauth.v2.access.
	OAuth *sim.OAuth
	// Hooks sends Events API requests (signing secret v0) to the
	// subscriptions added with POST /_sim/webhooks, after the
	// url_verification handshake, retrying with X-Slack-Retry-Num.
	Hooks *sim.Hooks

	tokens   map[string]bool
	initial  []Channel
	postWin  *sim.Window
	updWin   *sim.Window
	histWin  *sim.Window
	maxPage  int
	maxText  int
	handlers map[string]func(http.ResponseWriter, *http.Request, *call)

	mu        sync.Mutex
	channels  map[string]*channelState // by ID
	byName    map[string]string        // name -> ID
	lastTS    int64                    // microseconds
	tokenErrs map[string]string
	failures  []failure
	eventSeq  int64
}

type channelState struct {
	info Channel
	msgs []*Message // ascending ts
}

// failure is one queued FailNext.
type failure struct {
	method, code string
	applied      bool
}

var _ http.Handler = (*Server)(nil)

// New builds a simulator.
func New(o Options) (*Server, error) {
	base, err := sim.New(sim.Options{Seed: o.Seed, Faults: o.Faults, Now: o.Now})
	if err != nil {
		return nil, err
	}
	s := &Server{Base: base, tokens: map[string]bool{}, maxText: o.MaxTextChars, Hooks: sim.NewHooks(signature.Slack, base.Now)}
	s.Hooks.Handshake, s.Hooks.RetryHeaders = urlVerification, retryHeaders
	for _, t := range o.Tokens {
		s.tokens[t] = true
	}
	s.initial = o.Channels
	if s.initial == nil {
		s.initial = DefaultChannels()
	}
	seen := map[string]bool{}
	for i, c := range s.initial {
		switch {
		case c.ID == "":
			return nil, fmt.Errorf("channels[%d]: no id", i)
		case seen[c.ID]:
			return nil, fmt.Errorf("channels[%d]: duplicate id %s", i, c.ID)
		case c.Name != "" && seen["#"+c.Name]:
			return nil, fmt.Errorf("channels[%d]: duplicate name %s", i, c.Name)
		}
		seen[c.ID], seen["#"+c.Name] = true, true
	}
	s.initial = slices.Clone(s.initial)

	postLimit := cmp.Or(o.PostLimit, DefaultPostLimit)
	postInterval := cmp.Or(o.PostInterval, DefaultPostInterval)
	s.postWin = sim.NewWindow(postLimit, postInterval, base.Now)
	s.updWin = sim.NewWindow(cmp.Or(o.UpdateLimit, DefaultUpdateLimit), time.Minute, base.Now)
	s.histWin = sim.NewWindow(cmp.Or(o.HistoryLimit, DefaultHistoryLimit), time.Minute, base.Now)
	s.maxPage = cmp.Or(o.HistoryMaxPage, DefaultHistoryMaxPage)
	s.reset()

	s.handlers = map[string]func(http.ResponseWriter, *http.Request, *call){
		"chat.postMessage":      s.handlePost,
		"chat.update":           s.handleUpdate,
		"conversations.history": s.handleHistory,
		"auth.test":             s.handleAuthTest,
	}
	ttl := o.OAuthTTL
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	s.OAuth = sim.NewOAuth(base, sim.OAuthOptions{TTL: ttl, Rotate: true, RefreshTokens: o.OAuthRefreshTokens,
		ClientID: o.OAuthClientID, ClientSecret: o.OAuthClientSecret, Prefix: "xoxe.xoxb-"})
	s.handler = base.Handler(sim.Platform{
		Control:    func(mux *http.ServeMux) { s.OAuth.Mount(mux); s.Hooks.Mount(mux); s.mountMessages(mux) },
		API:        http.HandlerFunc(s.serveAPI),
		WriteError: s.writeFault,
		Records:    func() any { return s.Records() },
		Reset:      s.reset,
	})
	return s, nil
}

// ServeHTTP serves the API and the control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Reset clears messages, channel changes, token errors, queued failures,
// limiter windows, stats and faults (the Go form of POST /_sim/reset).
func (s *Server) Reset() {
	s.reset()
	s.Base.Reset()
}

func (s *Server) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = map[string]*channelState{}
	s.byName = map[string]string{}
	for _, c := range s.initial {
		s.channels[c.ID] = &channelState{info: c}
		if c.Name != "" {
			s.byName[c.Name] = c.ID
		}
	}
	s.tokenErrs = map[string]string{}
	s.failures = nil
	s.eventSeq = 0
	s.Hooks.Reset()
	s.postWin.Reset()
	s.updWin.Reset()
	s.histWin.Reset()
}

// SetChannel adds a channel or replaces the one with the same ID (to
// archive it, or take the bot out of it). Its messages stay.
func (s *Server) SetChannel(c Channel) error {
	if c.ID == "" {
		return fmt.Errorf("channel: no id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byName[c.Name]; ok && c.Name != "" && id != c.ID {
		return fmt.Errorf("channel: name %s is taken by %s", c.Name, id)
	}
	st := s.channels[c.ID]
	if st == nil {
		st = &channelState{}
		s.channels[c.ID] = st
	}
	if st.info.Name != "" {
		delete(s.byName, st.info.Name)
	}
	st.info = c
	if c.Name != "" {
		s.byName[c.Name] = c.ID
	}
	return nil
}

// SetTokenError makes every request with token fail with HTTP 200 and
// {"ok":false,"error":code}, the way Slack reports a revoked token
// (token_revoked), a deactivated workspace (account_inactive) or an expired
// one (token_expired). An empty code clears it.
func (s *Server) SetTokenError(token, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.tokenErrs, token)
		return
	}
	s.tokenErrs[token] = code
}

// FailNext makes the next call of method ("" for any method) that passes
// auth fail with HTTP 200 and {"ok":false,"error":code}. With applied, a
// write is applied first and the error answers it (Slack documents that
// internal_error and fatal_error may follow a partly done operation);
// otherwise nothing is done. Calls queue up in order.
func (s *Server) FailNext(method, code string, applied bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{method: method, code: code, applied: applied})
}

// takeFailure pops the first queued failure for method.
func (s *Server) takeFailure(method string) (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failures {
		if f.method == "" || f.method == method {
			s.failures = slices.Delete(s.failures, i, i+1)
			return f, true
		}
	}
	return failure{}, false
}

// DeleteMessage removes a message, as a person deleting it in Slack would.
// It reports whether the message existed.
func (s *Server) DeleteMessage(channel, ts string) bool {
	s.mu.Lock()
	st := s.channels[channel]
	var gone *Message
	if st != nil {
		if i := st.find(ts); i >= 0 {
			gone = st.msgs[i]
			st.msgs = slices.Delete(st.msgs, i, i+1)
		}
	}
	s.mu.Unlock()
	if gone == nil {
		return false
	}
	s.KeyRemoved(gone.businessKey())
	s.mu.Lock()
	now := s.nextTS()
	s.mu.Unlock()
	s.emit(map[string]any{"type": "message", "subtype": "message_deleted", "hidden": true, "channel": channel,
		"deleted_ts": ts, "ts": now, "event_ts": now, "previous_message": messageJSON(gone, true)})
	return true
}

// Messages returns copies of channel's messages, oldest first.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.channels[channel]
	if st == nil {
		return nil
	}
	out := make([]Message, len(st.msgs))
	for i, m := range st.msgs {
		out[i] = m.clone()
	}
	return out
}

// Records returns every message of every channel, by channel ID then ts.
func (s *Server) Records() []Message {
	s.mu.Lock()
	ids := make([]string, 0, len(s.channels))
	for id := range s.channels {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.Sort(ids)
	out := []Message{}
	for _, id := range ids {
		out = append(out, s.Messages(id)...)
	}
	return out
}

func (st *channelState) find(ts string) int {
	i, ok := slices.BinarySearchFunc(st.msgs, ts, func(m *Message, ts string) int { return compareTS(m.TS, ts) })
	if !ok {
		return -1
	}
	return i
}

func (m *Message) clone() Message {
	c := *m
	c.Blocks = cloneJSON(m.Blocks)
	if m.Metadata != nil {
		md := Metadata{EventType: m.Metadata.EventType, EventPayload: cloneJSON(m.Metadata.EventPayload)}
		c.Metadata = &md
	}
	return c
}

// cloneJSON deep-copies a decoded JSON value.
func cloneJSON[T any](v T) T {
	var out any
	switch x := any(v).(type) {
	case map[string]any:
		if x == nil {
			return v
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneJSON(e)
		}
		out = m
	case []any:
		if x == nil {
			return v
		}
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneJSON(e)
		}
		out = l
	default:
		return v
	}
	return out.(T)
}

// nextTS returns a ts after every earlier one, from the clock.
func (s *Server) nextTS() string {
	us := s.Now().UnixMicro()
	if us <= s.lastTS {
		us = s.lastTS + 1
	}
	s.lastTS = us
	return fmt.Sprintf("%d.%06d", us/1_000_000, us%1_000_000)
}

// compareTS orders two ts strings numerically.
func compareTS(a, b string) int {
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	if c := cmp.Compare(len(as), len(bs)); c != 0 {
		return c
	}
	if c := strings.Compare(as, bs); c != 0 {
		return c
	}
	return strings.Compare(af+strings.Repeat("0", max(0, 6-len(af))), bf+strings.Repeat("0", max(0, 6-len(bf))))
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1, as
// Slack's Retry-After carries.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// writeFault writes Slack's answer for an injected HTTP status or a revoked
// token; it is the sim.Platform's WriteError.
func (s *Server) writeFault(w http.ResponseWriter, _ *http.Request, status int) {
	code := "invalid_arguments"
	extra := map[string]any{}
	switch {
	case status == http.StatusUnauthorized:
		// Slack reports auth failures in a 200 body, never as a 401.
		code, status = "token_revoked", http.StatusOK
	case status == http.StatusForbidden:
		code, status = "missing_scope", http.StatusOK
		extra["needed"], extra["provided"] = "chat:write", "channels:history"
	case status == http.StatusTooManyRequests:
		code = "ratelimited"
		w.Header().Set("Retry-After", "1")
	case status == http.StatusRequestTimeout:
		code = "request_timeout"
	case status >= 502 && status <= 504:
		code = "service_unavailable"
	case status >= 500:
		code = "internal_error"
	}
	writeError(w, status, code, extra)
}

// writeError writes {"ok":false,"error":code} plus extra fields.
func writeError(w http.ResponseWriter, status int, code string, extra map[string]any) {
	body := map[string]any{"ok": false, "error": code}
	for k, v := range extra {
		body[k] = v
	}
	sim.WriteJSON(w, status, body)
}

// writeRateLimited writes Slack's 429.
func writeRateLimited(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", fmt.Sprint(retryAfterSeconds(wait)))
	writeError(w, http.StatusTooManyRequests, "ratelimited", nil)
}
