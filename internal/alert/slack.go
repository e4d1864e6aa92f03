package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/egress"
)

// Slack posts to a Slack incoming webhook: {"text": ..., "blocks": [...]}.
// text is the notification fallback; blocks carry the layout.
type Slack struct {
	// URL is the incoming webhook (https://hooks.slack.com/services/...):
	// a secret, never shown in errors.
	URL    string
	Client *http.Client
}

var _ Channel = (*Slack)(nil)

// Slack's limits: a header's text is at most 150 characters, a section's
// 3000.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
)

// Send implements Channel.
func (s *Slack) Send(ctx context.Context, a Alert) error {
	b, err := json.Marshal(slackMessage(a))
	if err != nil {
		return fmt.Errorf("slack: encode: %w", err)
	}
	return post(ctx, s.Client, s.URL, b, nil)
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

func slackMessage(a Alert) map[string]any {
	head := fmt.Sprintf("[%s] %s", strings.ToUpper(a.Severity), a.Title)
	fallback := head
	if a.Text != "" {
		fallback += "\n" + a.Text
	}
	blocks := []slackBlock{{Type: "header", Text: &slackText{"plain_text", clip(head, slackHeaderMax)}}}
	if a.Text != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{"mrkdwn", clip(slackEscape(a.Text), slackSectionMax)}})
	}
	if len(a.Items) > 0 {
		var b strings.Builder
		for _, it := range a.Items {
			b.WriteString("• " + slackEscape(it) + "\n")
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{"mrkdwn", clip(b.String(), slackSectionMax)}})
	}
	ctxLine := fmt.Sprintf("%s · %s · %s", a.Kind, a.Key, a.Time.UTC().Format(time.RFC3339))
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{"mrkdwn", slackEscape(ctxLine)}}})
	return map[string]any{"text": clip(slackEscape(fallback), slackSectionMax), "blocks": blocks}
}

// slackEscape escapes the three characters Slack's mrkdwn reserves for its
// own markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// post sends a JSON body and wants a 2xx answer. Errors name the URL only as
// RedactURL shows it.
func post(ctx context.Context, c *http.Client, target string, body []byte, hdr http.Header) error {
	shown := RedactURL(target)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: invalid request", shown)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-alerts")
	if c == nil {
		c = NewHTTPClient(10*time.Second, egress.Policy{Subject: "alert channel"})
	}
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error quotes the whole URL; keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST %s: %w", shown, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := strings.Join(strings.Fields(string(snippet)), " ")
		// A receiver might echo the request line; never pass the URL on.
		msg = strings.ReplaceAll(msg, target, shown)
		if u, err := url.Parse(target); err == nil && len(u.Path) > 1 {
			msg = strings.ReplaceAll(msg, u.Path, "/[redacted]")
		}
		return fmt.Errorf("POST %s: status %d: %s", shown, resp.StatusCode, clip(msg, 200))
	}
	return nil
}
