package slack

import (
	"context"
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.Prober = (*Conn)(nil)

// Probe is the connect step: auth.test says whether Slack takes the token,
// and one conversations.history page of the channel whether the channel
// exists and the token has its history scope, which lookups need. It
// posts nothing.
func (c *Conn) Probe(ctx context.Context) (string, error) {
	if _, err := c.api(ctx, "auth.test", http.MethodPost, map[string]any{}, nil, c.history); err != nil {
		return "", err
	}
	q := url.Values{"channel": {c.channel}, "limit": {"1"}}
	if _, err := c.api(ctx, "conversations.history", http.MethodGet, nil, q, c.history); err != nil {
		return "", err
	}
	return "credentials (auth.test) and channel history", nil
}
