package metrics

import "time"

// SetClock replaces the store collector's clock.
func (m *Metrics) SetClock(now func() time.Time) { m.stores.now = now }
