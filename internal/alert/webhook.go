package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/id"
	"github.com/sluicehq/sluice/internal/signature"
)

// Webhook posts alerts as JSON to any HTTP endpoint, signed the Standard
// Webhooks way (headers webhook-id, webhook-timestamp, webhook-signature;
// HMAC-SHA256 over "{id}.{timestamp}.{body}"), so a receiver verifies them
// with any Standard Webhooks library, or Sluice's own signature package.
type Webhook struct {
	// URL is a secret like Slack's: never shown in errors.
	URL string
	// Secret signs each request; "whsec_" + base64 or raw bytes, as in
	// signature.Config.Secrets.
	Secret string
	Client *http.Client
	// Now stamps webhook-timestamp; nil means time.Now.
	Now func() time.Time
}

var _ Channel = (*Webhook)(nil)

// WebhookBody is what a Webhook channel sends.
type WebhookBody struct {
	// ID equals the webhook-id header; receivers dedupe retries by it.
	ID       string    `json:"id"`
	Key      string    `json:"key"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Title    string    `json:"title"`
	Text     string    `json:"text"`
	Items    []string  `json:"items"`
	Time     time.Time `json:"time"`
	// Count is how many occurrences the alert stands for (at least 1).
	Count int `json:"count"`
}

// Send implements Channel.
func (w *Webhook) Send(ctx context.Context, a Alert) error {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	items := a.Items
	if items == nil {
		items = []string{}
	}
	count := a.Count
	if count < 1 {
		count = 1
	}
	msgID := id.New("alert", now)
	body, err := json.Marshal(WebhookBody{ID: msgID, Key: a.Key, Kind: a.Kind, Severity: a.Severity, Title: a.Title,
		Text: a.Text, Items: items, Time: a.Time.UTC(), Count: count})
	if err != nil {
		return fmt.Errorf("webhook: encode: %w", err)
	}
	sig, err := signature.SignStandardWebhooks(w.Secret, msgID, now, body)
	if err != nil {
		return errors.New("webhook: sign: the secret is not usable (a whsec_ secret must be base64)")
	}
	h := http.Header{}
	h.Set(signature.HeaderID, msgID)
	h.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(signature.HeaderSignature, sig)
	return post(ctx, w.Client, w.URL, body, h)
}
