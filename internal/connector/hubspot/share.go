package hubspot

import (
	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.RateSharer = (*Conn)(nil)

// ShareRate implements connector.RateSharer: with n instances writing with
// this token, this one keeps 1/n of the rolling ten-second quota and of the
// search limit. The daily limit is the account's and is not divided: a DAILY
// 429 stops each instance until midnight anyway.
func (c *Conn) ShareRate(n int) {
	c.writes.ShareRate(n)
	c.searches.ShareRate(n)
}
