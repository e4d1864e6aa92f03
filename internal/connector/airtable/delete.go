package airtable

import (
	"context"
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.Deleter = (*Conn)(nil)

// Delete is connector.Deleter: DELETE /v0/{base}/{table}/{record id} of
// the record found by its ID, else by key_field. A record Airtable no
// longer has (404, or no match by key) counts as deleted.
func (c *Conn) Delete(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	id, found, err := connector.DeleteTarget(ctx, c, d)
	if err != nil {
		return connector.Result{}, err
	}
	if !found {
		return connector.Result{Status: http.StatusNotFound, Message: "not in Airtable; nothing to delete"}, nil
	}
	resp, err := c.call(ctx, http.MethodDelete, c.tablePath()+"/"+url.PathEscape(id), nil)
	if err != nil {
		return connector.Result{}, err
	}
	switch {
	case resp.status == http.StatusOK:
		return connector.Result{ExternalID: id, Status: resp.status, Message: "deleted"}, nil
	case resp.status == http.StatusNotFound || parseError(resp.body).Type == "ROW_DOES_NOT_EXIST":
		return connector.Result{ExternalID: id, Status: resp.status, Message: "already deleted"}, nil
	}
	return connector.Result{}, c.statusError(resp)
}
