package store

import (
	"context"
	"time"
)

// Credential is a destination's credential as obtained at run time (an
// access token, a rotated refresh token), sealed by package credential so
// the store never holds a secret in the clear. One row per destination.
type Credential struct {
	// Name is the destination's name.
	Name string
	// Kind is the credential's kind ("oauth_refresh",
	// "google_service_account").
	Kind string
	// Seed identifies the configured grant (a hash of the configured
	// refresh token or service-account key) the tokens descend from: when
	// an operator configures a new one, the stored tokens are dropped.
	Seed string
	// Sealed is the encrypted token set; empty when none was obtained yet.
	Sealed []byte
	// ExpiresAt is when the access token expires (zero: unknown).
	ExpiresAt time.Time
	// RefreshedAt is when the tokens were last obtained.
	RefreshedAt time.Time
	// Refreshes counts the tokens obtained.
	Refreshes int64
	// Failure is why the last refresh failed for good ("" when it did
	// not); FailedAt is when.
	Failure  string
	FailedAt time.Time
}

// Credentials is implemented by drivers that keep credentials. Refresh is
// the coordination point of several instances: it holds an exclusive lock
// on the credential across every instance sharing the database
// (PostgreSQL: a session advisory lock; SQLite: one process owns the file,
// so a lock in the process) while fn runs, hands fn the row as it is now
// (re-read under the lock), and stores what fn returns when write is true.
// fn may take its time (a token request): other credentials are not
// blocked, and no transaction is held open meanwhile.
type Credentials interface {
	CredentialGet(ctx context.Context, name string) (Credential, bool, error)
	CredentialRefresh(ctx context.Context, name string, fn func(cur Credential, found bool) (next Credential, write bool, err error)) error
	CredentialList(ctx context.Context) ([]Credential, error)
}
