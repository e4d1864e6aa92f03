package sqlstore

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

// The poll cursor's identity (migration 0087). The cursor itself moves in
// each driver's own statement on the capture path (PollCursorPut), which
// leaves the identity as it is.
const (
	qPollIdentityGet = `SELECT identity FROM poll_cursors WHERE source = ?`
	qPollIdentityPut = `INSERT INTO poll_cursors (source, cursor, identity, updated_at) VALUES (?, '', ?, ?)
		ON CONFLICT (source) DO UPDATE SET identity = excluded.identity, updated_at = excluded.updated_at`
	qPollIdentityReset = `INSERT INTO poll_cursors (source, cursor, identity, updated_at) VALUES (?, '', ?, ?)
		ON CONFLICT (source) DO UPDATE SET cursor = '', identity = excluded.identity, updated_at = excluded.updated_at`
)

// PollCursorIdentityGet implements store.Executor.
func (q Queries) PollCursorIdentityGet(ctx context.Context, source string) (string, error) {
	var id string
	if err := q.row(ctx, qPollIdentityGet, source).Scan(&id); err != nil {
		return "", fmt.Errorf("poll cursor identity %s: %w", source, err)
	}
	return id, nil
}

// PollCursorIdentityPut implements store.Executor.
func (q Queries) PollCursorIdentityPut(ctx context.Context, p *store.PollCursorIdentityPutParams) error {
	query := qPollIdentityPut
	if p.Reset {
		query = qPollIdentityReset
	}
	if _, err := q.exec(ctx, query, p.Source, p.Identity, q.db.Time(p.Now)); err != nil {
		return fmt.Errorf("poll cursor identity put %s: %w", p.Source, err)
	}
	return nil
}
