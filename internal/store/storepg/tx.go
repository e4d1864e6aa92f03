package storepg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/store"
)

// pgTx is a transaction on one pooled connection whose BEGIN goes out with
// its first statement and whose COMMIT goes out with its last (the audit
// insert, or the queued writes), in the same pipeline: two round trips
// fewer per transaction than pgx.Tx, and one fewer while the audit chain
// lock is held (docs/adr/0036-postgres-round-trips.md). A transaction that
// sent nothing commits without a round trip.
type pgTx struct {
	c     *pgxpool.Conn
	begun bool // BEGIN was sent
	ended bool // COMMIT or ROLLBACK was sent, or the connection released
}

func (t *pgTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.begun {
		return t.c.SendBatch(ctx, b)
	}
	t.begun = true
	nb := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	nb.Queue("begin")
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	br := t.c.SendBatch(ctx, nb)
	if _, err := br.Exec(); err != nil {
		// Nothing after a failed BEGIN ran (the pipeline stops at the
		// first error); report it for every statement.
		br.Close()
		return errBatch{err}
	}
	return br
}

func (t *pgTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begun {
		return t.c.Exec(ctx, sql, args...)
	}
	br := t.SendBatch(ctx, queueOne(sql, args))
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *pgTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.begun {
		return t.c.Query(ctx, sql, args...)
	}
	br := t.SendBatch(ctx, queueOne(sql, args))
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *pgTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.begun {
		return t.c.QueryRow(ctx, sql, args...)
	}
	br := t.SendBatch(ctx, queueOne(sql, args))
	return &batchRow{row: br.QueryRow(), br: br}
}

func queueOne(sql string, args []any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return b
}

// commit sends b's statements and COMMIT in one round trip; read takes the
// results of b's statements. An error from read, or a COMMIT that rolled
// back, is marked store.ErrNotCommitted: nothing of the transaction
// persisted. An error of the COMMIT itself (a broken connection) is not:
// the commit may have happened.
func (t *pgTx) commit(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	defer t.release()
	if !t.begun && len(b.QueuedQueries) == 0 {
		return nil // nothing was ever sent
	}
	b.Queue("commit")
	br := t.SendBatch(ctx, b)
	if err := read(br); err != nil {
		br.Close()
		t.rollback(ctx)
		if !errors.Is(err, store.ErrNotCommitted) {
			err = fmt.Errorf("%w (%w)", err, store.ErrNotCommitted)
		}
		return err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	t.ended = true
	if err != nil {
		return translate(err)
	}
	if tag.String() != "COMMIT" {
		// COMMIT of a transaction that failed earlier answers ROLLBACK.
		return fmt.Errorf("rolled back instead (%s): %w", tag.String(), store.ErrNotCommitted)
	}
	return nil
}

// rollback ends the transaction if it began; the connection goes back to
// the pool, which closes it unless it is idle and healthy.
func (t *pgTx) rollback(ctx context.Context) error {
	defer t.release()
	if !t.begun || t.ended {
		return nil
	}
	t.ended = true
	_, err := t.c.Exec(ctx, "rollback")
	return err
}

func (t *pgTx) release() {
	if t.c != nil {
		t.c.Release()
		t.c = nil
	}
}

// errBatch answers every result with one error.
type errBatch struct{ err error }

func (e errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, e.err }
func (e errBatch) Query() (pgx.Rows, error)         { return nil, e.err }
func (e errBatch) QueryRow() pgx.Row                { return errRow(e) }
func (e errBatch) Close() error                     { return e.err }
func (e errBatch) Tx() pgx.Tx                       { return nil }
