package notion

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
)

var _ connector.RecordReader = (*Conn)(nil)

// ReadRecord is connector.RecordReader: the page a Notion webhook names,
// its properties flattened as Lookup flattens them, stamped with its
// last_edited_time. A page that is gone (404), archived or in the trash is
// a deletion.
func (c *Conn) ReadRecord(ctx context.Context, recordID string) (connector.Change, error) {
	path := "/v1/pages/" + url.PathEscape(recordID)
	resp, err := c.call(ctx, http.MethodGet, path, nil, false)
	if err != nil {
		return connector.Change{}, err
	}
	if resp.status == http.StatusNotFound {
		return connector.Change{RecordID: recordID, Deleted: true}, nil
	}
	if resp.status != http.StatusOK {
		return connector.Change{}, c.statusError(resp)
	}
	var p struct {
		page
		LastEdited string `json:"last_edited_time"`
	}
	if err := json.Unmarshal(resp.body, &p); err != nil {
		return connector.Change{}, &connector.Error{Class: connector.Retryable, Status: resp.status, Err: err,
			Message: fmt.Sprintf("GET %s: Notion's answer is not a page: %v", path, err)}
	}
	ch := connector.Change{RecordID: recordID, Deleted: p.Archived || p.InTrash}
	if t, err := time.Parse(time.RFC3339Nano, p.LastEdited); err == nil {
		ch.ModifiedAt = t.UTC()
	}
	if !ch.Deleted {
		ch.Fields = make(map[string]any, len(p.Properties))
		for name, v := range p.Properties {
			ch.Fields[name] = flatValue(v)
		}
	}
	return ch, nil
}
