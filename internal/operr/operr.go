// Package operr is how an operator's request is refused: the errors the
// gate and the ticket workflow share, so the admin API and the console map
// them to one status each (wrong state 409, invalid request 400, stale
// version 409 with the current version) whichever package refused.
package operr

import (
	"errors"
	"fmt"
	"time"
)

// ErrWrongState is returned when an action does not apply to the item's
// current state (releasing an event that is not held, say).
var ErrWrongState = errors.New("not allowed in the current state")

// ErrInvalidRequest is returned (wrapped, with the reason) for a request
// that cannot be run as given: an unknown bulk action, a missing note, a
// filter that matches too much. The API answers it with 400.
var ErrInvalidRequest = errors.New("invalid request")

// WrongState says what is in which state, wrapping ErrWrongState.
func WrongState[S ~string](what string, state S) error {
	return fmt.Errorf("%s is %s: %w", what, state, ErrWrongState)
}

// Invalid formats the reason a request cannot run, wrapping
// ErrInvalidRequest.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidRequest)
}

// StaleError is returned when an edit was prepared against a version of an
// item that someone else has changed since.
type StaleError struct {
	What    string
	Current time.Time
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%s was changed by someone else at %s; reload it and apply your change again", e.What, e.Current.UTC().Format(time.RFC3339))
}
