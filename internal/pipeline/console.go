package pipeline

import (
	"time"

	"github.com/sluicehq/sluice/internal/operr"
)

// StaleError is returned when an edit was prepared against a version of an
// item that someone else has changed since.
type StaleError = operr.StaleError

// after is now, or just past version when the clock has not moved beyond
// it: an edit always gives its item a new version, so a second editor
// holding the old one is refused even within the same millisecond.
func after(now, version time.Time) time.Time {
	if version.IsZero() {
		return now
	}
	if v := version.Truncate(time.Millisecond); !now.After(v) {
		return v.Add(time.Millisecond)
	}
	return now
}
