package api

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/control"
	"github.com/sluicehq/sluice/internal/httperr"
)

// registerDrift adds GET /v1/drift: departures of each source's payloads
// from their learned shape.
func (a *API) registerDrift(mux *http.ServeMux) {
	mux.Handle("GET /v1/drift", a.auth(false, func(w http.ResponseWriter, r *http.Request) error {
		findings := []control.DriftFinding{}
		if a.Drift != nil {
			a.Drift.Drain(r.Context()) // what intake queued so far counts
			findings = append(findings, a.Drift.Findings()...)
		}
		httperr.JSON(w, http.StatusOK, map[string]any{"findings": findings})
		return nil
	}))
}
