package notion

import (
	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.RateSharer = (*Conn)(nil)

// ShareRate implements connector.RateSharer: with n instances writing with
// this integration token, this one keeps 1/n of the request rate.
func (c *Conn) ShareRate(n int) {
	c.limit.ShareRate(n)
}
