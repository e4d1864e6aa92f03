package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

// The credential rows. Each driver's CredentialRefresh keeps its own lock
// (PostgreSQL: a session advisory lock on one connection; SQLite: a mutex
// in the one process that owns the file) and runs these on the connection
// that holds it.

const credentialColumns = `name, kind, seed, sealed, expires_at, refreshed_at, refreshes, failure, failed_at`

func (q Queries) scanCredential(r Row) (store.Credential, error) {
	var c store.Credential
	err := r.Scan(&c.Name, &c.Kind, &c.Seed, &c.Sealed, q.db.ScanTime(&c.ExpiresAt), q.db.ScanTime(&c.RefreshedAt),
		&c.Refreshes, &c.Failure, q.db.ScanTime(&c.FailedAt))
	return c, err
}

// CredentialGet implements store.Credentials: found is false when the
// destination has no stored credential yet.
func (q Queries) CredentialGet(ctx context.Context, name string) (c store.Credential, found bool, err error) {
	c, err = q.scanCredential(q.row(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE name = ?`, name))
	if errors.Is(err, store.ErrNotFound) {
		return store.Credential{}, false, nil
	}
	if err != nil {
		return store.Credential{}, false, fmt.Errorf("credential get: %w", err)
	}
	return c, true, nil
}

// CredentialList implements store.Credentials.
func (q Queries) CredentialList(ctx context.Context) ([]store.Credential, error) {
	out, err := list(ctx, q, q.scanCredential, `SELECT `+credentialColumns+` FROM credentials ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("credential list: %w", err)
	}
	return out, nil
}

// CredentialPut writes c, replacing the row of its name: the write half of
// a driver's CredentialRefresh, made under its lock.
func (q Queries) CredentialPut(ctx context.Context, c store.Credential) error {
	// A refresh that fails for good before any token was obtained stores
	// its failure with no tokens: an empty, not a NULL, sealed column.
	if c.Sealed == nil {
		c.Sealed = []byte{}
	}
	_, err := q.exec(ctx, `INSERT INTO credentials (`+credentialColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, seed = excluded.seed, sealed = excluded.sealed,
			expires_at = excluded.expires_at, refreshed_at = excluded.refreshed_at, refreshes = excluded.refreshes,
			failure = excluded.failure, failed_at = excluded.failed_at`,
		c.Name, c.Kind, c.Seed, c.Sealed, q.db.OptTime(c.ExpiresAt), q.db.OptTime(c.RefreshedAt), c.Refreshes, c.Failure, q.db.OptTime(c.FailedAt))
	if err != nil {
		return fmt.Errorf("credential put: %w", err)
	}
	return nil
}

// CredentialRefreshLocked is the body of a driver's CredentialRefresh, run
// while the driver holds the credential's lock (on q's connection): it
// re-reads the row, hands it to fn and stores what fn returns when fn says
// to write.
func (q Queries) CredentialRefreshLocked(ctx context.Context, name string, fn func(store.Credential, bool) (store.Credential, bool, error)) error {
	cur, found, err := q.CredentialGet(ctx, name)
	if err != nil {
		return err
	}
	next, write, ferr := fn(cur, found)
	if write {
		next.Name = name
		if err := q.CredentialPut(ctx, next); err != nil {
			return err
		}
	}
	return ferr
}
