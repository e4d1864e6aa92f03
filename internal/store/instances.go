package store

import (
	"context"
	"time"
)

// Instances is implemented by drivers shared by several processes: each
// process records a heartbeat and learns how many processes are alive, so
// that rate limits per destination can be divided between them (see
// docs/adr/0003-shared-rate-limits.md). A driver without it serves one
// process.
type Instances interface {
	// InstanceBeat records that p.ID is alive and returns how many
	// instances, this one included, beat within p.TTL. Times are the
	// database's, so clock skew between hosts does not matter.
	InstanceBeat(ctx context.Context, p *InstanceBeatParams) (live int, err error)
	// InstanceLeave removes an instance that stops cleanly, so the others
	// take its share at once rather than after TTL.
	InstanceLeave(ctx context.Context, id string) error
}

// InstanceBeatParams is one heartbeat.
type InstanceBeatParams struct {
	ID string
	// Info describes the instance for operators (host, pid, listen
	// address); no secrets.
	Info string
	// TTL is how recent a heartbeat must be for its instance to count as
	// alive.
	TTL time.Duration
	// Forget deletes instances not seen for this long; 0 keeps them.
	Forget time.Duration
}
