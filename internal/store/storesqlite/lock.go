package storesqlite

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrLocked is returned by Lock when another process serves the file.
var ErrLocked = errors.New("database file in use")

// Lock takes the exclusive serve lock of the database file at path: an
// advisory lock (flock) on the sidecar file path+".lock", holding the
// owner's process ID. SQLite itself would let two servers share the file
// and both would claim work, each believing it is the only writer; two
// `sluice serve` on one file must fail loudly instead. The lock is the
// kernel's, so it goes away with the process, even after kill -9.
//
// Commands that only read (check --against --store) do not take it.
func Lock(path string) (release func(), err error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if err := flock(f); err != nil {
		owner, _ := os.ReadFile(name)
		f.Close()
		who := "another process"
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(owner))); perr == nil {
			who = fmt.Sprintf("another process (pid %d)", pid)
		}
		return nil, fmt.Errorf("%w: %s is served by %s, which holds %s; SQLite allows one sluice serve per file: stop the other one, or use PostgreSQL to run several instances", ErrLocked, path, who, name)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = unflock(f)
		f.Close()
	}, nil
}
