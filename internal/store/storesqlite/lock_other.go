//go:build !unix

package storesqlite

import "os"

// Without flock the serve lock is not enforced.
func flock(*os.File) error   { return nil }
func unflock(*os.File) error { return nil }
