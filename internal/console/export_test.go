package console

import "testing"

// SetQueueCountLimit lowers where the queue tables stop counting, for
// the duration of t.
func SetQueueCountLimit(t *testing.T, n int64) {
	old := queueCountLimit
	queueCountLimit = n
	t.Cleanup(func() { queueCountLimit = old })
}
