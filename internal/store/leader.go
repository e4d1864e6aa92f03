package store

import "context"

// Elector is implemented by drivers shared by several processes that can
// elect one of them to run a singleton loop (hold expiry, lease recovery,
// scheduled consistency checks, retention). A driver without it serves one
// process, which then runs every loop itself.
type Elector interface {
	// Lead blocks until this process holds the leadership called name, or
	// ctx ends (then it returns ctx's error). lost is closed when the
	// leadership is lost: the connection that holds it died, or ctx ended.
	// After lost closes, another process's Lead may return; the loser must
	// stop its singleton work, and may call Lead again to stand again.
	Lead(ctx context.Context, name string) (lost <-chan struct{}, err error)
}
