package airtable

import (
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.RateSharer = (*Conn)(nil)

// ShareRate implements connector.RateSharer: with n instances writing to
// this base, this one keeps 1/n of the base's requests per second. The
// window is the base's (shared by every destination on it in this process),
// so every destination passes the same n. The 30-second penalty after a 429
// stays per instance: an instance learns of it from its own 429.
func (c *Conn) ShareRate(n int) {
	c.win.shareRate(n)
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
