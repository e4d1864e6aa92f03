// Package id makes the identifiers Sluice hands out: a type prefix and a
// ULID, so IDs sort by creation time (pagination relies on it) and say what
// they name when they show up in a log ("evt_…", "dlv_…", "esc_…").
package id

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns prefix + "_" + a ULID for time t. IDs made in one process are
// strictly increasing.
func New(prefix string, t time.Time) string {
	mu.Lock()
	u := ulid.MustNew(ulid.Timestamp(t), entropy)
	mu.Unlock()
	return prefix + "_" + u.String()
}

// Valid reports whether s is an ID New(prefix, ...) could have made, so a
// flag value such as --before can be refused instead of silently matching
// nothing.
func Valid(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}
