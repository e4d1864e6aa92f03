package api

import (
	"net/http"
	"sort"

	"github.com/sluicehq/sluice/internal/control"
	"github.com/sluicehq/sluice/internal/httperr"
)

// DriftAnswer is the body of GET /v1/drift.
type DriftAnswer struct {
	Findings []control.DriftFinding `json:"findings"`
	// ComputedAt is when the findings were judged: every payload intake
	// had queued by then counts.
	ComputedAt string `json:"computed_at"`
	// Baselines say, per source, whether its baseline is still being
	// learned: a source still learning has no findings yet because it is
	// not judged yet, not because nothing drifted.
	Baselines []control.BaselineStatus `json:"baselines"`
}

// registerDrift adds GET /v1/drift: departures of each source's payloads
// from their learned shape.
func (a *API) registerDrift(mux *http.ServeMux) {
	mux.Handle("GET /v1/drift", a.auth(false, func(w http.ResponseWriter, r *http.Request) error {
		out := DriftAnswer{Findings: []control.DriftFinding{}, Baselines: []control.BaselineStatus{}}
		if a.Drift != nil {
			a.Drift.Drain(r.Context()) // what intake queued so far counts
			out.Findings = append(out.Findings, a.Drift.Findings()...)
			names := make([]string, 0, len(a.Config.Sources))
			for n := range a.Config.Sources {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				out.Baselines = append(out.Baselines, a.Drift.Baseline(r.Context(), n))
			}
		}
		out.ComputedAt = a.Gate.Now().UTC().Format(timeFormat)
		httperr.JSON(w, http.StatusOK, out)
		return nil
	}))
}
