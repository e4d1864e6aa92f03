package storesqlite

import (
	"context"
	"fmt"
	"sync"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.Credentials = (*Driver)(nil)

// credentialLocks serialize refreshes of one credential. One process owns
// a SQLite file, so a lock in the process is a lock for every user of it.
var credentialLocks sync.Map // "<driver>/<name>" -> *sync.Mutex

// CredentialGet implements store.Credentials (the query is sqlstore's).
func (d *Driver) CredentialGet(ctx context.Context, name string) (store.Credential, bool, error) {
	return d.Executor().(*executor).CredentialGet(ctx, name)
}

// CredentialList implements store.Credentials.
func (d *Driver) CredentialList(ctx context.Context) ([]store.Credential, error) {
	return d.Executor().(*executor).CredentialList(ctx)
}

// CredentialRefresh implements store.Credentials under a mutex of this
// process.
func (d *Driver) CredentialRefresh(ctx context.Context, name string, fn func(store.Credential, bool) (store.Credential, bool, error)) error {
	l, _ := credentialLocks.LoadOrStore(fmt.Sprintf("%p/%s", d, name), &sync.Mutex{})
	mu := l.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	return d.Executor().(*executor).CredentialRefreshLocked(ctx, name, fn)
}
