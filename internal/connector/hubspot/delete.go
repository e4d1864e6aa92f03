package hubspot

import (
	"context"
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.Deleter = (*Conn)(nil)

// Delete is connector.Deleter: it archives the record (DELETE
// /crm/v3/objects/{type}/{id}, HubSpot's delete, which moves it to the
// recycle bin for 90 days), found by its ID, else by id_property. A record
// HubSpot no longer has (404, or no match by key) counts as archived.
func (c *Conn) Delete(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	id, found, err := connector.DeleteTarget(ctx, c, d)
	if err != nil {
		return connector.Result{}, err
	}
	if !found {
		return connector.Result{Status: http.StatusNotFound, Message: "not in HubSpot; nothing to archive"}, nil
	}
	resp, err := c.call(ctx, http.MethodDelete, c.objectPath()+"/"+url.PathEscape(id), nil, c.writes)
	if err != nil {
		return connector.Result{}, err
	}
	switch resp.status {
	case http.StatusNoContent, http.StatusOK:
		return connector.Result{ExternalID: id, Status: resp.status, Message: "archived"}, nil
	case http.StatusNotFound:
		return connector.Result{ExternalID: id, Status: resp.status, Message: "already archived or deleted"}, nil
	}
	return connector.Result{}, c.statusError(resp)
}
