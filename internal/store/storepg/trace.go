package storepg

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// counter counts what the driver sends to PostgreSQL: round trips (a
// statement, or a batch of pipelined statements, waited for as one) and
// statements. The benchmark reports them per event (store.RoundTripper),
// which says more than a rate on a machine other work shares.
type counter struct {
	roundTrips, statements atomic.Int64
}

func (c *counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.roundTrips.Add(1)
	c.statements.Add(1)
	if detail != nil {
		detail.start(d.SQL)
	}
	return ctx
}

func (c *counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	c.roundTrips.Add(1)
	if detail != nil {
		detail.start("BATCH")
	}
	return ctx
}

func (c *counter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.statements.Add(1)
	if detail != nil {
		detail.start("  in batch: " + d.SQL)
	}
}

func (c *counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// RoundTrips implements store.RoundTripper.
func (d *Driver) RoundTrips() (roundTrips, statements int64) {
	return d.count.roundTrips.Load(), d.count.statements.Load()
}
