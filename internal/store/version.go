package store

import "context"

// Versioned is implemented by drivers that apply embedded migrations: the
// latest migration recorded in the database, e.g. "0006_scaleout", and how
// many are recorded. `sluice migrate` reports it.
type Versioned interface {
	SchemaVersion(ctx context.Context) (version string, applied int, err error)
}
