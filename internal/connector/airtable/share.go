package airtable

import (
	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.RateSharer = (*Conn)(nil)

// ShareRate implements connector.RateSharer: with n instances writing to
// this base, this one keeps 1/n of the base's requests per second. The
// window is the base's (shared by every destination on it in this process),
// so every destination passes the same n. The 30-second penalty after a 429
// stays per instance: an instance learns of it from its own 429.
func (c *Conn) ShareRate(n int) {
	c.win.ShareRate(n)
}
