package storesqlite

import (
	"os"
	"syscall"
)

// syncFile is fdatasync(2), as SQLite's own commit sync here (syncData):
// it flushes the data and the metadata needed to read it back (the size).
func syncFile(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
