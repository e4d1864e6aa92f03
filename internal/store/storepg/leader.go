package storepg

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.Elector = (*Driver)(nil)

const (
	// leaderPoll is how often a follower tries the leadership lock: the
	// longest a leader's death goes unnoticed once PostgreSQL has ended its
	// session.
	leaderPoll = 500 * time.Millisecond
	// leaderCheck is how often the leader pings its session, and
	// leaderCheckTimeout how long a ping may take before the leader
	// considers itself deposed. A leader that cannot reach the database
	// steps down before PostgreSQL ends its session (keepalives, see
	// session.go), so two leaders never run at once because of a network
	// failure; a session that died under a live leader is noticed within
	// leaderCheck.
	leaderCheck        = time.Second
	leaderCheckTimeout = 2 * time.Second
)

// Lead implements store.Elector with a session-level advisory lock, held
// by a dedicated session: the lock lasts exactly as long as the session,
// so a leader that dies (kill -9, crash, lost host) releases it when
// PostgreSQL ends the session, and a follower's next try takes it.
func (d *Driver) Lead(ctx context.Context, name string) (<-chan struct{}, error) {
	key := lockKey("sluice/lead/" + d.schema + "/" + name)
	backoff := minBackoff
	for {
		conn, err := d.dedicated(ctx)
		if err == nil {
			lost, err := d.contend(ctx, conn, key)
			if err == nil {
				return lost, nil
			}
			closeConn(conn)
			backoff = minBackoff
		}
		if ctx.Err() != nil || !sleepCtx(ctx, backoff) {
			return nil, ctx.Err()
		}
		backoff = nextBackoff(backoff)
	}
}

// contend tries the lock on conn until it is granted, ctx ends or the
// session fails.
func (d *Driver) contend(ctx context.Context, conn *pgx.Conn, key int64) (<-chan struct{}, error) {
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
			return nil, translate(err)
		}
		if got {
			lost := make(chan struct{})
			go d.hold(ctx, conn, key, lost)
			return lost, nil
		}
		if !sleepCtx(ctx, leaderPoll) {
			return nil, ctx.Err()
		}
	}
}

// hold keeps the leadership session until it fails or ctx ends, then
// closes lost.
func (d *Driver) hold(ctx context.Context, conn *pgx.Conn, key int64, lost chan struct{}) {
	defer close(lost)
	defer closeConn(conn) // ending the session releases the lock
	t := time.NewTicker(leaderCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			uctx, cancel := context.WithTimeout(context.Background(), leaderCheckTimeout)
			conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, key)
			cancel()
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, leaderCheckTimeout)
		err := conn.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return
		}
	}
}
