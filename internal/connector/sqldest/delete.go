package sqldest

import (
	"context"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.Deleter = (*Conn)(nil)

// Delete is connector.Deleter: DELETE FROM the table WHERE key_column is
// the record key (the key finds the row; Delivery.ExternalID is not
// needed). No row to delete counts as deleted.
func (c *Conn) Delete(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	if err := c.ensure(ctx); err != nil {
		return connector.Result{}, err
	}
	keyArg, err := c.dialect.arg(d.RecordKey)
	if err != nil {
		return connector.Result{}, &connector.Error{Class: connector.Permanent, Code: "BAD_VALUE", Message: "record key: " + err.Error()}
	}
	res, err := c.db.ExecContext(ctx, "DELETE FROM "+c.table.quoted+" WHERE "+quote(c.key)+" = "+c.dialect.placeholder(1), keyArg)
	if err != nil {
		return connector.Result{}, c.fail(err, false)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return connector.Result{Message: "no row with that key; nothing to delete"}, nil
	}
	return connector.Result{ExternalID: d.ExternalID, Message: "deleted"}, nil
}
