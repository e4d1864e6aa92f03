package sheets

import (
	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.RateSharer = (*Conn)(nil)

// ShareRate implements connector.RateSharer: with n instances writing with
// this token, this one keeps 1/n of the per-minute read and write quotas.
func (c *Conn) ShareRate(n int) {
	c.reads.ShareRate(n)
	c.writes.ShareRate(n)
}
