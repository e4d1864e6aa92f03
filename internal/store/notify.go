package store

import "context"

// Notifier is implemented by drivers that can wake other processes sharing
// the database (PostgreSQL LISTEN/NOTIFY). Sluice uses it so that work
// created on one instance (a capture, an operator's release) is claimed at
// once by whichever instance is idle, instead of at its next poll; the poll
// stays as the safety net, so a lost notification only costs latency.
type Notifier interface {
	// Notify wakes every listener of channel, in this process and others.
	// It carries no payload: a wake-up means "look at the store".
	Notify(ctx context.Context, channel string) error
	// Listen delivers a value on the returned channel after notifications
	// on channel; several notifications that arrive while one is pending
	// are coalesced into one. A reconnection also delivers a value, since
	// notifications sent while disconnected are lost. The returned channel
	// is closed when ctx ends. The error is for the first connection only;
	// later failures are retried with backoff.
	Listen(ctx context.Context, channel string) (<-chan struct{}, error)
}
