package storepg

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.Credentials = (*Driver)(nil)

const credentialColumns = `name, kind, seed, sealed, expires_at, refreshed_at, refreshes, failure, failed_at`

func scanCredential(row pgx.Row) (store.Credential, error) {
	var c store.Credential
	var exp, ref, failed *time.Time
	if err := row.Scan(&c.Name, &c.Kind, &c.Seed, &c.Sealed, &exp, &ref, &c.Refreshes, &c.Failure, &failed); err != nil {
		return c, err
	}
	for _, p := range []struct {
		from *time.Time
		to   *time.Time
	}{{exp, &c.ExpiresAt}, {ref, &c.RefreshedAt}, {failed, &c.FailedAt}} {
		if p.from != nil {
			*p.to = p.from.UTC()
		}
	}
	return c, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CredentialGet implements store.Credentials.
func (d *Driver) CredentialGet(ctx context.Context, name string) (store.Credential, bool, error) {
	c, err := scanCredential(d.pool.QueryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Credential{}, false, nil
	}
	if err != nil {
		return store.Credential{}, false, fail("credential get", err)
	}
	return c, true, nil
}

// CredentialList implements store.Credentials.
func (d *Driver) CredentialList(ctx context.Context) ([]store.Credential, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+credentialColumns+` FROM credentials ORDER BY name`)
	if err != nil {
		return nil, fail("credential list", err)
	}
	defer rows.Close()
	var out []store.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fail("credential list", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("credential list", err)
	}
	return out, nil
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
	cur, err := scanCredential(conn.QueryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE name = $1`, name))
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fail("credential get", err)
	}
	next, write, ferr := fn(cur, found)
	if write {
		_, err := conn.Exec(ctx, `INSERT INTO credentials (`+credentialColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, seed = excluded.seed, sealed = excluded.sealed,
				expires_at = excluded.expires_at, refreshed_at = excluded.refreshed_at, refreshes = excluded.refreshes,
				failure = excluded.failure, failed_at = excluded.failed_at`,
			name, next.Kind, next.Seed, next.Sealed, nullTime(next.ExpiresAt), nullTime(next.RefreshedAt), next.Refreshes, next.Failure, nullTime(next.FailedAt))
		if err != nil {
			return fail("credential put", err)
		}
	}
	return ferr
}
