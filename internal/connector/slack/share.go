package slack

import (
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.RateSharer = (*Conn)(nil)

// ShareRate implements connector.RateSharer: with n instances posting to
// this channel with this token, this one keeps 1/n of the posting pace and
// of the chat.update and conversations.history limits. A single posting
// slot cannot be split, so it comes back n times later instead.
func (c *Conn) ShareRate(n int) {
	c.posts.shareRate(n)
	c.updates.shareRate(n)
	c.history.shareRate(n)
}

// shareRate gives this instance 1/n of the window (connector.SlotShare).
func (w *window) shareRate(n int) { w.share.Share(n, w.slots, w.interval) }

// every is how long after an answer its slot comes back.
func (w *window) every() time.Duration { return w.share.Every(w.interval) }

// put returns a slot to the window, unless it is owed to other instances.
func (w *window) put() {
	if !w.share.Absorb() {
		w.slots <- struct{}{}
	}
}
