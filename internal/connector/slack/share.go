package slack

import (
	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.RateSharer = (*Conn)(nil)

// ShareRate implements connector.RateSharer: with n instances posting to
// this channel with this token, this one keeps 1/n of the posting pace and
// of the chat.update and conversations.history limits. A single posting
// slot cannot be split, so it comes back n times later instead.
func (c *Conn) ShareRate(n int) {
	c.posts.ShareRate(n)
	c.updates.ShareRate(n)
	c.history.ShareRate(n)
}
