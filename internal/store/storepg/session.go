package storepg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sessions: LISTEN and the leader's advisory lock belong to one database
// session, so each runs on a connection of its own, opened outside the
// pool with the pool's settings (search_path included). Neither works
// through a transaction-mode pooler; point the DSN at PostgreSQL or at a
// session-mode pooler when running several instances.

const (
	// Server-side TCP keepalives of a dedicated session: if the host
	// running the instance vanishes (power, network), PostgreSQL ends the
	// session, and releases its leadership lock, within about
	// idle + interval*count seconds instead of the kernel's two hours.
	keepaliveIdle     = 5
	keepaliveInterval = 2
	keepaliveCount    = 3

	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// dedicated opens a session outside the pool.
func (d *Driver) dedicated(ctx context.Context) (*pgx.Conn, error) {
	cfg := d.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", translate(err))
	}
	_, err = conn.Exec(ctx, fmt.Sprintf(`SELECT set_config('tcp_keepalives_idle', '%d', false),
		set_config('tcp_keepalives_interval', '%d', false), set_config('tcp_keepalives_count', '%d', false)`,
		keepaliveIdle, keepaliveInterval, keepaliveCount))
	if err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("session settings: %w", translate(err))
	}
	return conn, nil
}

// closeConn ends a dedicated session, whatever state its context is in.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn.Close(ctx)
}

// sleepCtx waits d or until ctx ends; false means ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// nextBackoff doubles b up to maxBackoff.
func nextBackoff(b time.Duration) time.Duration {
	return min(b*2, maxBackoff)
}
