package storesqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.Credentials = (*Driver)(nil)

// credentialLocks serialize refreshes of one credential. One process owns
// a SQLite file, so a lock in the process is a lock for every user of it.
var credentialLocks sync.Map // "<driver>/<name>" -> *sync.Mutex

const credentialColumns = `name, kind, seed, sealed, expires_at, refreshed_at, refreshes, failure, failed_at`

func scanCredential(row interface{ Scan(dest ...any) error }) (store.Credential, error) {
	var c store.Credential
	var exp, ref, failed int64
	if err := row.Scan(&c.Name, &c.Kind, &c.Seed, &c.Sealed, &exp, &ref, &c.Refreshes, &c.Failure, &failed); err != nil {
		return c, err
	}
	if exp != 0 {
		c.ExpiresAt = fromMS(exp)
	}
	if ref != 0 {
		c.RefreshedAt = fromMS(ref)
	}
	if failed != 0 {
		c.FailedAt = fromMS(failed)
	}
	return c, nil
}

func (d *Driver) credentialGet(ctx context.Context, name string) (store.Credential, bool, error) {
	c, err := scanCredential(d.r.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Credential{}, false, nil
	}
	if err != nil {
		return store.Credential{}, false, fmt.Errorf("credential get: %w", err)
	}
	return c, true, nil
}

// CredentialGet implements store.Credentials.
func (d *Driver) CredentialGet(ctx context.Context, name string) (store.Credential, bool, error) {
	return d.credentialGet(ctx, name)
}

// CredentialList implements store.Credentials.
func (d *Driver) CredentialList(ctx context.Context) ([]store.Credential, error) {
	rows, err := d.r.QueryContext(ctx, `SELECT `+credentialColumns+` FROM credentials ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("credential list: %w", err)
	}
	defer rows.Close()
	var out []store.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("credential list: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CredentialRefresh implements store.Credentials.
func (d *Driver) CredentialRefresh(ctx context.Context, name string, fn func(store.Credential, bool) (store.Credential, bool, error)) error {
	l, _ := credentialLocks.LoadOrStore(fmt.Sprintf("%p/%s", d, name), &sync.Mutex{})
	mu := l.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	cur, found, err := d.credentialGet(ctx, name)
	if err != nil {
		return err
	}
	next, write, ferr := fn(cur, found)
	if write {
		at := func(c store.Credential) (int64, int64, int64) {
			var e, r, f int64
			if !c.ExpiresAt.IsZero() {
				e = ms(c.ExpiresAt)
			}
			if !c.RefreshedAt.IsZero() {
				r = ms(c.RefreshedAt)
			}
			if !c.FailedAt.IsZero() {
				f = ms(c.FailedAt)
			}
			return e, r, f
		}
		e, r, f := at(next)
		_, err := d.w.ExecContext(ctx, `INSERT INTO credentials (`+credentialColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, seed = excluded.seed, sealed = excluded.sealed,
				expires_at = excluded.expires_at, refreshed_at = excluded.refreshed_at, refreshes = excluded.refreshes,
				failure = excluded.failure, failed_at = excluded.failed_at`,
			name, next.Kind, next.Seed, next.Sealed, e, r, next.Refreshes, next.Failure, f)
		if err != nil {
			return fmt.Errorf("credential put: %w", err)
		}
	}
	return ferr
}
