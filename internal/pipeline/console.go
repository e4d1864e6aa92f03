package pipeline

import (
	"fmt"
	"time"
)

// StaleError is returned when an edit was prepared against a version of an
// item that someone else has changed since.
type StaleError struct {
	What    string
	Current time.Time
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%s was changed by someone else at %s; reload it and apply your change again", e.What, e.Current.UTC().Format(time.RFC3339))
}
