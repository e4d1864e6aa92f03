package storepg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.WriteFaults = (*Driver)(nil)

// WriteFault implements store.WriteFaults: SQLSTATE class 53 (disk full,
// out of memory, too many connections is excluded) and 25006
// (read_only_sql_transaction: a standby or default_transaction_read_only).
// See https://www.postgresql.org/docs/current/errcodes-appendix.html.
func (d *Driver) WriteFault(err error) bool {
	var de *dbError
	if !errors.As(err, &de) {
		return false
	}
	return de.Code == "25006" || (strings.HasPrefix(de.Code, "53") && de.Code != "53300")
}

// ProbeWrite implements store.WriteFaults.
func (d *Driver) ProbeWrite(ctx context.Context) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO write_probe (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = write_probe.n + 1`)
	if err != nil {
		return fmt.Errorf("probe write: %w", translate(err))
	}
	return nil
}

// Conflict implements store.Conflicts: deadlock_detected (40P01) and
// serialization_failure (40001). Settles of sibling deliveries lock their
// event (ADR 0037), so two instances' batches can deadlock; the loser is
// rolled back whole and the committer runs it again.
func (d *Driver) Conflict(err error) bool {
	if errors.Is(err, errRerun) {
		d.count.reruns.Add(1)
		return true // a queued answer was wrong (capture.go, settle.go)
	}
	var de *dbError
	if !errors.As(err, &de) {
		return false
	}
	return de.Code == "40P01" || de.Code == "40001"
}
