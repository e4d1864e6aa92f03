package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/sim"
)

// The Events API envelope's fixed parts.
const (
	// EventsToken is the deprecated verification token every envelope
	// carries; receivers check the signature instead.
	EventsToken = "simEventsVerificationToken"
	// PersonID is the user a message posted through POST /_sim/messages
	// comes from.
	PersonID = "U0SIMPERSON"
)

// urlVerification is Slack's handshake when an Events API request URL is
// set: the receiver must answer 200 with the challenge (as the body, or
// as {"challenge"}); otherwise Slack refuses the URL.
func urlVerification(ctx context.Context, sub *sim.Subscription, send func([]byte, bool) (*http.Response, []byte, error)) error {
	challenge := "sim-challenge-" + strconv.FormatInt(int64(len(sub.ID))*7919, 36) + sub.ID
	body, _ := json.Marshal(map[string]string{"token": EventsToken, "challenge": challenge, "type": "url_verification"})
	resp, got, err := send(body, true)
	if err != nil {
		return fmt.Errorf("url_verification: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("url_verification: the receiver answered %d, not 200", resp.StatusCode)
	}
	var ans struct {
		Challenge string `json:"challenge"`
	}
	if json.Unmarshal(got, &ans) == nil && ans.Challenge == challenge {
		return nil
	}
	if strings.TrimSpace(string(got)) == challenge {
		return nil
	}
	return errors.New("url_verification: the receiver did not answer with the challenge")
}

// retryHeaders are Slack's on a retried event.
func retryHeaders(h http.Header, attempt int, reason string) {
	h.Set("X-Slack-Retry-Num", strconv.Itoa(attempt-1))
	h.Set("X-Slack-Retry-Reason", reason)
}

// emit sends an event_callback for ev (a message event). s.mu must not be
// needed by the body builder: ev is built before.
func (s *Server) emit(ev map[string]any) {
	if !s.Hooks.Subscribed() {
		return
	}
	s.mu.Lock()
	s.eventSeq++
	id := fmt.Sprintf("Ev%08dSIM", s.eventSeq)
	s.mu.Unlock()
	typ, _ := ev["type"].(string)
	envelope := map[string]any{
		"token": EventsToken, "team_id": TeamID, "api_app_id": AppID, "event": ev, "type": "event_callback",
		"event_id": id, "event_time": s.Now().Unix(),
		"authorizations": []any{map[string]any{"team_id": TeamID, "user_id": BotUserID, "is_bot": true}},
	}
	body, _ := json.Marshal(envelope)
	s.Hooks.Emit(sim.Webhook{Event: typ, Body: func(sim.Subscription, int) []byte { return body }})
}

// messageEvent is the Events API "message" event of m.
func messageEvent(m *Message, person bool) map[string]any {
	ev := messageJSON(m, true)
	ev["channel"], ev["event_ts"], ev["channel_type"] = m.Channel, m.TS, "channel"
	if person {
		ev["user"] = PersonID
		delete(ev, "bot_id")
		delete(ev, "bot_profile")
		delete(ev, "app_id")
	}
	return ev
}

// PostAsPerson adds a message by a person (not the bot), as someone
// typing in Slack would, and sends its message event. It returns the ts.
func (s *Server) PostAsPerson(channel, text string) (string, error) {
	s.mu.Lock()
	st := s.channels[channel]
	if st == nil {
		s.mu.Unlock()
		return "", fmt.Errorf("channel %q: not found", channel)
	}
	msg := &Message{Channel: channel, TS: s.nextTS(), Text: text}
	st.msgs = append(st.msgs, msg)
	ev := messageEvent(msg, true)
	s.mu.Unlock()
	s.emit(ev)
	return msg.TS, nil
}

// mountMessages adds POST /_sim/messages {"channel","text"}: a person
// posts, and DELETE /_sim/messages?channel=&ts=: a person deletes.
func (s *Server) mountMessages(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sim/messages", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Channel string `json:"channel"`
			Text    string `json:"text"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		ts, err := s.PostAsPerson(body.Channel, body.Text)
		if err != nil {
			sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		sim.WriteJSON(w, http.StatusCreated, map[string]string{"channel": body.Channel, "ts": ts})
	})
	mux.HandleFunc("DELETE /_sim/messages", func(w http.ResponseWriter, r *http.Request) {
		if !s.DeleteMessage(r.URL.Query().Get("channel"), r.URL.Query().Get("ts")) {
			sim.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "message_not_found"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
