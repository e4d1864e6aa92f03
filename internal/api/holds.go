package api

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/pipeline"
)

// registerHolds adds the bulk hold action and the resubmission of a
// rejected record.
func (a *API) registerHolds(mux *http.ServeMux) {
	mux.Handle("POST /v1/holds/bulk", a.auth(true, a.bulkHolds))
	mux.Handle("POST /v1/events/{id}/resubmit", a.auth(true, a.resubmitEvent))
}

// HoldsBulkRequest is the body of POST /v1/holds/bulk: set fields on, and
// or release, every held record the filter selects.
type HoldsBulkRequest struct {
	Filter pipeline.HoldsFilter `json:"filter"`
	// Set is merged into each record (dotted paths; null removes a field).
	Set map[string]any `json:"set,omitempty"`
	// Release releases the records that are complete and valid afterwards.
	Release bool `json:"release,omitempty"`
	// DryRun answers what would happen without changing anything.
	DryRun bool `json:"dry_run"`
}

func (a *API) bulkHolds(w http.ResponseWriter, r *http.Request) error {
	var b HoldsBulkRequest
	if err := decode(r, &b); err != nil {
		return err
	}
	res, err := a.Gate.HoldsBulk(r.Context(), pipeline.HoldsBulkParams{Filter: b.Filter, Set: b.Set, Release: b.Release, DryRun: b.DryRun, Actor: actor(r)})
	if err != nil {
		return controlHTTP(err)
	}
	if !b.DryRun && res.Released > 0 {
		a.changed()
	}
	httperr.JSON(w, http.StatusOK, res)
	return nil
}

func (a *API) resubmitEvent(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Fields map[string]any `json:"fields"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if len(b.Fields) == 0 {
		return httperr.New(http.StatusBadRequest, "missing_field", `fields is required: {"fields": {"amount": 5}} (null removes a field)`)
	}
	ev, err := a.Gate.EventResubmit(r.Context(), r.PathValue("id"), b.Fields, actor(r))
	if err != nil {
		return toHTTP(err)
	}
	a.changed()
	httperr.JSON(w, http.StatusOK, map[string]any{"event": eventJSON(ev, true)})
	return nil
}
