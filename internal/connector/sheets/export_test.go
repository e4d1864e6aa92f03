package sheets

import "time"

// SetQuotas resizes the connector's own quota windows, so that tests can
// use windows of milliseconds instead of a minute.
func SetQuotas(c *Conn, reads, writes int, interval time.Duration) {
	c.setQuotas(reads, writes, interval)
}
