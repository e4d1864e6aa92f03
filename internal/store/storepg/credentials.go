package storepg

import (
	"context"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.Credentials = (*Driver)(nil)

// CredentialGet implements store.Credentials (the query is sqlstore's).
func (d *Driver) CredentialGet(ctx context.Context, name string) (store.Credential, bool, error) {
	return d.Executor().(*executor).CredentialGet(ctx, name)
}

// CredentialList implements store.Credentials.
func (d *Driver) CredentialList(ctx context.Context) ([]store.Credential, error) {
	return d.Executor().(*executor).CredentialList(ctx)
}

// CredentialRefresh implements store.Credentials with a session advisory
// lock on one pooled connection, keyed by schema and name, so instances
// refresh one credential one at a time; the row is re-read under the lock.
func (d *Driver) CredentialRefresh(ctx context.Context, name string, fn func(store.Credential, bool) (store.Credential, bool, error)) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return fail("credential lock", err)
	}
	defer conn.Release()
	key := lockKey("sluice/credential/" + d.schema + "/" + name)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fail("credential lock", err)
	}
	defer func() {
		// Unlock even when ctx ended; a connection whose unlock failed
		// is closed so the lock cannot outlive it.
		if _, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, key); err != nil {
			_ = conn.Conn().Close(context.Background())
		}
	}()
	// The row is read and written on the connection that holds the lock.
	return (&executor{d: d, q: conn}).shared().CredentialRefreshLocked(ctx, name, fn)
}
