package hubspot

import (
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.RateSharer = (*Conn)(nil)

// ShareRate implements connector.RateSharer: with n instances writing with
// this token, this one keeps 1/n of the rolling ten-second quota and of the
// search limit. The daily limit is the account's and is not divided: a DAILY
// 429 stops each instance until midnight anyway.
func (c *Conn) ShareRate(n int) {
	c.writes.shareRate(n)
	c.searches.shareRate(n)
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
