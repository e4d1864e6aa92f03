package notion

import (
	"context"
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.Deleter = (*Conn)(nil)

// Delete is connector.Deleter: it moves the page to the trash (PATCH
// /v1/pages/{id} with in_trash true; Notion has no other delete through
// the API), found by its ID, else by key_property. A page already in the
// trash, or not found, counts as deleted.
func (c *Conn) Delete(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	id := d.ExternalID
	if id == "" {
		if d.RecordKey == "" {
			return connector.Result{Status: http.StatusNotFound, Message: "no record key; nothing to trash"}, nil
		}
		defer c.lockKey(d.RecordKey)()
		pages, err := c.find(ctx, d.RecordKey)
		if err != nil {
			return connector.Result{}, err
		}
		switch len(pages) {
		case 0:
			return connector.Result{Status: http.StatusNotFound, Message: "not in Notion; nothing to trash"}, nil
		case 1:
			id = pages[0].ID
		default:
			return connector.Result{}, c.duplicates(pages, d.RecordKey)
		}
	}
	body := map[string]any{"in_trash": true}
	if !c.sources {
		body = map[string]any{"archived": true} // versions before 2024-04-11 name it archived
	}
	resp, err := c.call(ctx, http.MethodPatch, "/v1/pages/"+url.PathEscape(id), body, true)
	if err != nil {
		return connector.Result{}, err
	}
	if resp.status == http.StatusOK {
		return connector.Result{ExternalID: id, Status: resp.status, Message: "moved to the trash"}, nil
	}
	if err := c.statusError(resp); gone(err) {
		return connector.Result{ExternalID: id, Status: resp.status, Message: "already in the trash or deleted"}, nil
	} else {
		return connector.Result{}, err
	}
}
