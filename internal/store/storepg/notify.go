package storepg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.Notifier = (*Driver)(nil)

// channelName is the PostgreSQL channel for a logical channel: namespaced
// by schema like the advisory locks, so deployments (and parallel tests)
// sharing a database do not wake each other, and short enough for an
// identifier.
func (d *Driver) channelName(channel string) string {
	return fmt.Sprintf("sluice_%016x", uint64(lockKey("sluice/notify/"+d.schema+"/"+channel)))
}

// Notify implements store.Notifier with pg_notify on a pooled connection.
// Outside a transaction it is delivered at once.
func (d *Driver) Notify(ctx context.Context, channel string) error {
	if _, err := d.pool.Exec(ctx, `SELECT pg_notify($1, '')`, d.channelName(channel)); err != nil {
		return fail("notify", err)
	}
	return nil
}

// Listen implements store.Notifier: a dedicated session runs LISTEN and
// waits; when it fails, it is reopened with backoff, and a wake-up is
// delivered after each reconnection for what may have been missed.
func (d *Driver) Listen(ctx context.Context, channel string) (<-chan struct{}, error) {
	name := d.channelName(channel)
	conn, err := d.listenConn(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make(chan struct{}, 1)
	go d.listenLoop(ctx, name, conn, out)
	return out, nil
}

func (d *Driver) listenConn(ctx context.Context, name string) (*pgx.Conn, error) {
	conn, err := d.dedicated(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{name}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, fail("listen", err)
	}
	return conn, nil
}

func (d *Driver) listenLoop(ctx context.Context, name string, conn *pgx.Conn, out chan struct{}) {
	defer close(out)
	backoff := minBackoff
	for {
		if conn != nil {
			if _, err := conn.WaitForNotification(ctx); err == nil {
				wake(out)
				backoff = minBackoff
				continue
			}
			closeConn(conn)
			conn = nil
		}
		if ctx.Err() != nil || !sleepCtx(ctx, backoff) {
			return
		}
		backoff = nextBackoff(backoff)
		c, err := d.listenConn(ctx, name)
		if err != nil {
			continue
		}
		conn = c
		wake(out) // notifications sent while disconnected are lost
	}
}

// wake delivers a wake-up unless one is already pending (coalescing).
func wake(out chan struct{}) {
	select {
	case out <- struct{}{}:
	default:
	}
}
