package slack

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/sim"
)

// call is one authenticated API call: its token, its arguments from the
// query, form or JSON body, and the warnings to answer with.
type call struct {
	method   string
	token    string
	args     map[string]any
	warnings []string
	// fail is a FailNext to answer with after the write is applied.
	fail *failure
}

func (c *call) has(name string) bool {
	_, ok := c.args[name]
	return ok
}

// str reads a scalar argument as Slack would from a form: JSON numbers and
// booleans become their text.
func (c *call) str(name string) string {
	switch v := c.args[name].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func (c *call) boolean(name string) bool {
	switch v := c.args[name].(type) {
	case bool:
		return v
	default:
		s := strings.ToLower(c.str(name))
		return s == "true" || s == "1"
	}
}

// serveAPI parses and authenticates a call and hands it to its method.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_method", map[string]any{"req_method": method})
		return
	}
	if method == "oauth.v2.access" {
		s.handleOAuthAccess(w, r)
		return
	}
	h := s.handlers[method]
	if h == nil {
		// Slack answers a method it does not have with 200, so clients do
		// not retry it.
		writeError(w, http.StatusOK, "unknown_method", map[string]any{"req_method": method})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_method", nil)
		return
	}
	c := &call{method: method}
	jsonBody, code := c.parse(w, r)
	if code != "" {
		writeError(w, http.StatusOK, code, nil)
		return
	}
	c.token = bearer(r)
	if c.token == "" && !jsonBody {
		c.token = c.str("token")
	}
	s.mu.Lock()
	tokenErr := s.tokenErrs[c.token]
	s.mu.Unlock()
	issued, expiredFor := s.OAuth.Check(c.token)
	switch {
	case c.token == "":
		writeError(w, http.StatusOK, "not_authed", nil)
		return
	case issued && expiredFor > 0:
		// A rotated access token past its 12 hours.
		writeError(w, http.StatusOK, "token_expired", nil)
		return
	case issued:
	case len(s.tokens) > 0 && !s.tokens[c.token]:
		writeError(w, http.StatusOK, "invalid_auth", nil)
		return
	case tokenErr != "":
		writeError(w, http.StatusOK, tokenErr, nil)
		return
	}
	if f, ok := s.takeFailure(method); ok {
		if !f.applied || method == "conversations.history" || method == "auth.test" {
			writeError(w, http.StatusOK, f.code, nil)
			return
		}
		c.fail = &f
	}
	h(w, r, c)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return ""
	}
	return strings.TrimSpace(h[len(p):])
}

// parse fills c.args from the query string and the body; it returns whether
// the body was JSON, and a Slack error code for a body Slack would refuse.
func (c *call) parse(w http.ResponseWriter, r *http.Request) (jsonBody bool, code string) {
	c.args = map[string]any{}
	for k, v := range r.URL.Query() {
		c.args[k] = v[0]
	}
	if r.Method != http.MethodPost {
		return false, ""
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return false, "request_timeout"
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if len(bytes.TrimSpace(raw)) > 0 {
			return false, "missing_post_type"
		}
		return false, ""
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, "invalid_post_type"
	}
	if cs, ok := params["charset"]; ok {
		switch strings.ToLower(cs) {
		case "utf-8", "utf8", "iso-8859-1":
		default:
			return false, "invalid_charset"
		}
	}
	switch mt {
	case "application/json":
		if _, ok := params["charset"]; !ok {
			c.warnings = append(c.warnings, "missing_charset")
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			return true, ""
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var body map[string]any
		if err := dec.Decode(&body); err != nil {
			return true, "invalid_arguments"
		}
		for k, v := range body {
			if k != "token" {
				c.args[k] = v
			}
		}
		return true, ""
	case "application/x-www-form-urlencoded", "text/plain":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return false, "invalid_form_data"
		}
		for k, v := range vals {
			c.args[k] = v[0]
		}
		return false, ""
	case "multipart/form-data":
		r.Body = io.NopCloser(bytes.NewReader(raw))
		if err := r.ParseMultipartForm(maxBody); err != nil {
			return false, "invalid_form_data"
		}
		for k, v := range r.MultipartForm.Value {
			c.args[k] = v[0]
		}
		return false, ""
	default:
		return false, "invalid_post_type"
	}
}

// writeOK writes {"ok":true, ...body} with the call's warnings.
func writeOK(w http.ResponseWriter, c *call, body map[string]any) {
	body["ok"] = true
	if len(c.warnings) > 0 {
		body["warning"] = strings.Join(c.warnings, ",")
		rm, _ := body["response_metadata"].(map[string]any)
		if rm == nil {
			rm = map[string]any{}
			body["response_metadata"] = rm
		}
		rm["warnings"] = c.warnings
	}
	sim.WriteJSON(w, http.StatusOK, body)
}

// resolve finds a channel by ID, or also by name when byName; it returns
// Slack's error code when the call cannot use it.
func (s *Server) resolve(arg string, byName, write bool) (Channel, string) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return Channel{}, "channel_not_found"
	}
	s.mu.Lock()
	st := s.channels[arg]
	if st == nil && byName {
		if id, ok := s.byName[strings.TrimPrefix(arg, "#")]; ok {
			st = s.channels[id]
		}
	}
	var ch Channel
	if st != nil {
		ch = st.info
	}
	s.mu.Unlock()
	switch {
	case st == nil, s.Removed("channels", ch.ID), ch.Name != "" && s.Removed("channels", ch.Name):
		return Channel{}, "channel_not_found"
	case write && ch.Archived:
		return Channel{}, "is_archived"
	case ch.NotMember:
		return Channel{}, "not_in_channel"
	}
	return ch, ""
}

// content is a message's text, blocks and metadata as a call gives them.
type content struct {
	text      string
	blocks    []any
	hasBlocks bool
	metadata  *Metadata
	hasMeta   bool
}

// readContent validates text, blocks and metadata; on failure it writes
// Slack's error and returns false.
func (s *Server) readContent(w http.ResponseWriter, c *call) (content, bool) {
	var m content
	m.text = c.str("text")
	if c.has("blocks") {
		blocks, code, issues := parseBlocks(c.args["blocks"])
		if code != "" {
			extra := map[string]any{}
			if len(issues) > 0 {
				msgs := make([]string, len(issues))
				for i, is := range issues {
					msgs[i] = "[ERROR] " + is
				}
				extra["errors"] = issues
				extra["response_metadata"] = map[string]any{"messages": msgs}
			}
			writeError(w, http.StatusOK, code, extra)
			return m, false
		}
		m.blocks, m.hasBlocks = blocks, len(blocks) > 0
	}
	if c.has("metadata") {
		md, code := parseMetadata(c.args["metadata"])
		if code != "" {
			writeError(w, http.StatusOK, code, nil)
			return m, false
		}
		m.metadata, m.hasMeta = md, md != nil
	}
	if strings.TrimSpace(m.text) == "" && !m.hasBlocks {
		writeError(w, http.StatusOK, "no_text", nil)
		return m, false
	}
	n := utf8.RuneCountInString(m.text)
	if s.maxText > 0 && n > s.maxText {
		writeError(w, http.StatusOK, "msg_too_long", nil)
		return m, false
	}
	if n > TruncateTextAt {
		m.text = truncateRunes(m.text, TruncateTextAt)
	}
	return m, true
}

// parseMetadata reads metadata given as an object or a JSON string; nil
// for an empty string.
func parseMetadata(v any) (*Metadata, string) {
	if str, ok := v.(string); ok {
		if strings.TrimSpace(str) == "" {
			return nil, ""
		}
		dec := json.NewDecoder(strings.NewReader(str))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, "invalid_metadata_format"
		}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, "invalid_metadata_format"
	}
	et, _ := obj["event_type"].(string)
	payload, ok := obj["event_payload"].(map[string]any)
	if strings.TrimSpace(et) == "" || !ok {
		return nil, "invalid_metadata_schema"
	}
	return &Metadata{EventType: et, EventPayload: cloneJSON(payload)}, ""
}

// messageJSON is a message as the API returns it.
func messageJSON(m *Message, withMeta bool) map[string]any {
	out := map[string]any{
		"type":   "message",
		"user":   BotUserID,
		"bot_id": BotID,
		"app_id": AppID,
		"team":   TeamID,
		"text":   m.Text,
		"ts":     m.TS,
		"blocks": cloneJSON(m.Blocks),
		"bot_profile": map[string]any{
			"id": BotID, "app_id": AppID, "name": "Sluice", "team_id": TeamID, "deleted": false,
		},
	}
	if m.Blocks == nil {
		delete(out, "blocks")
	}
	if m.EditedTS != "" {
		out["edited"] = map[string]any{"user": BotUserID, "ts": m.EditedTS}
	}
	if withMeta && m.Metadata != nil {
		out["metadata"] = map[string]any{"event_type": m.Metadata.EventType, "event_payload": cloneJSON(m.Metadata.EventPayload)}
	}
	return out
}

func (s *Server) handlePost(w http.ResponseWriter, r *http.Request, c *call) {
	ch, code := s.resolve(c.str("channel"), true, true)
	if code != "" {
		writeError(w, http.StatusOK, code, nil)
		return
	}
	if d := s.postWin.Take(c.token + "\x00" + ch.ID); !d.Allowed {
		writeRateLimited(w, d.RetryAfter)
		return
	}
	m, ok := s.readContent(w, c)
	if !ok {
		return
	}
	s.mu.Lock()
	st := s.channels[ch.ID]
	msg := &Message{Channel: ch.ID, TS: s.nextTS(), Text: m.text, Blocks: m.blocks, Metadata: m.metadata}
	st.msgs = append(st.msgs, msg)
	out := messageJSON(msg, true)
	ev := messageEvent(msg, false)
	s.mu.Unlock()
	s.KeyAdded(msg.businessKey())
	s.emit(ev)
	if s.TimedOut(r) {
		return
	}
	if c.fail != nil {
		writeError(w, http.StatusOK, c.fail.code, nil)
		return
	}
	writeOK(w, c, map[string]any{"channel": ch.ID, "ts": msg.TS, "message": out})
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, c *call) {
	ch, code := s.resolve(c.str("channel"), false, true)
	if code != "" {
		writeError(w, http.StatusOK, code, nil)
		return
	}
	if d := s.updWin.Take(c.token); !d.Allowed {
		writeRateLimited(w, d.RetryAfter)
		return
	}
	ts := c.str("ts")
	if ts == "" {
		writeError(w, http.StatusOK, "invalid_arguments", nil)
		return
	}
	m, ok := s.readContent(w, c)
	if !ok {
		return
	}
	s.mu.Lock()
	st := s.channels[ch.ID]
	i := st.find(ts)
	if i < 0 {
		s.mu.Unlock()
		writeError(w, http.StatusOK, "message_not_found", nil)
		return
	}
	msg := st.msgs[i]
	oldKey := msg.businessKey()
	msg.Text, msg.Blocks = m.text, m.blocks
	if m.hasMeta {
		msg.Metadata = m.metadata
	}
	msg.EditedTS = s.nextTS()
	out := messageJSON(msg, true)
	newKey := msg.businessKey()
	changed := map[string]any{"type": "message", "subtype": "message_changed", "hidden": true, "channel": ch.ID,
		"ts": msg.EditedTS, "event_ts": msg.EditedTS, "message": out}
	s.mu.Unlock()
	s.emit(changed)
	if newKey != oldKey {
		s.KeyRemoved(oldKey)
		s.KeyAdded(newKey)
	}
	if s.TimedOut(r) {
		return
	}
	if c.fail != nil {
		writeError(w, http.StatusOK, c.fail.code, nil)
		return
	}
	writeOK(w, c, map[string]any{"channel": ch.ID, "ts": msg.TS, "text": msg.Text, "message": out})
}

const cursorPrefix = "next_ts:"

func (s *Server) handleHistory(w http.ResponseWriter, _ *http.Request, c *call) {
	ch, code := s.resolve(c.str("channel"), false, false)
	if code != "" {
		writeError(w, http.StatusOK, code, nil)
		return
	}
	if d := s.histWin.Take(c.token); !d.Allowed {
		writeRateLimited(w, d.RetryAfter)
		return
	}
	limit := DefaultHistoryPage
	if v := c.str("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusOK, "invalid_limit", nil)
			return
		}
		if n > 0 {
			limit = n
		}
	}
	limit = min(limit, s.maxPage)
	before := c.str("latest") // exclusive unless inclusive
	inclusive := c.boolean("inclusive")
	if cur := c.str("cursor"); cur != "" {
		raw, err := base64.StdEncoding.DecodeString(cur)
		ts, ok := strings.CutPrefix(string(raw), cursorPrefix)
		if err != nil || !ok || ts == "" {
			writeError(w, http.StatusOK, "invalid_cursor", nil)
			return
		}
		before, inclusive = ts, false
	}
	oldest := c.str("oldest")
	withMeta := c.boolean("include_all_metadata")

	s.mu.Lock()
	st := s.channels[ch.ID]
	msgs := []any{}
	hasMore := false
	last := ""
	for i := len(st.msgs) - 1; i >= 0; i-- {
		m := st.msgs[i]
		if before != "" {
			if c := compareTS(m.TS, before); c > 0 || (c == 0 && !inclusive) {
				continue
			}
		}
		if oldest != "" {
			if c := compareTS(m.TS, oldest); c < 0 || (c == 0 && !inclusive) {
				break
			}
		}
		if len(msgs) == limit {
			hasMore = true
			break
		}
		msgs = append(msgs, messageJSON(m, withMeta))
		last = m.TS
	}
	s.mu.Unlock()
	body := map[string]any{
		"messages": msgs, "has_more": hasMore, "pin_count": 0,
		"channel_actions_ts": nil, "channel_actions_count": 0,
	}
	if hasMore {
		body["response_metadata"] = map[string]any{"next_cursor": base64.StdEncoding.EncodeToString([]byte(cursorPrefix + last))}
	}
	writeOK(w, c, body)
}

func (s *Server) handleAuthTest(w http.ResponseWriter, _ *http.Request, c *call) {
	writeOK(w, c, map[string]any{
		"url": "https://sluice-sim.slack.com/", "team": "Sluice Simulator", "user": "sluice",
		"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID, "is_enterprise_install": false,
	})
}

// truncateRunes keeps the first n characters of s.
func truncateRunes(s string, n int) string {
	i := 0
	for at := range s {
		if i == n {
			return s[:at]
		}
		i++
	}
	return s
}

// handleOAuthAccess is oauth.v2.access for token rotation: a form with
// grant_type=refresh_token, refresh_token and the client's credentials (as
// form fields or HTTP Basic) answers {"ok":true, "access_token",
// "refresh_token", "expires_in": 43200, "token_type": "bot"}; the refresh
// token used stops working. Failures are HTTP 200 with ok:false
// (invalid_refresh_token, invalid_client_id, bad_client_secret,
// invalid_grant_type).
func (s *Server) handleOAuthAccess(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusOK, "invalid_form_data", nil)
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
	}
	switch {
	case r.Form.Get("grant_type") != "refresh_token":
		writeError(w, http.StatusOK, "invalid_grant_type", nil)
		return
	case !s.OAuth.ClientOK(id, secret):
		writeError(w, http.StatusOK, "invalid_client_id", nil)
		return
	}
	g, ok := s.OAuth.Refresh(r.Form.Get("refresh_token"))
	if !ok {
		writeError(w, http.StatusOK, "invalid_refresh_token", nil)
		return
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "access_token": g.AccessToken, "refresh_token": g.RefreshToken,
		"expires_in": g.ExpiresIn, "token_type": "bot", "team": map[string]string{"id": TeamID}})
}
