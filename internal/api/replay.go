package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// registerReplay adds POST /v1/replay.
func (a *API) registerReplay(mux *http.ServeMux) {
	mux.Handle("POST /v1/replay", a.auth(true, a.replay))
}

// ReplayRequest is the body of POST /v1/replay.
type ReplayRequest struct {
	// Stage is normalize or deliver.
	Stage  string `json:"stage"`
	Filter struct {
		Source string `json:"source,omitempty"`
		// States defaults to those the stage applies to.
		States         []store.EventState `json:"states,omitempty"`
		Destination    string             `json:"destination,omitempty"`
		ReceivedAfter  time.Time          `json:"received_after,omitzero"`
		ReceivedBefore time.Time          `json:"received_before,omitzero"`
	} `json:"filter"`
	DryRun bool `json:"dry_run"`
	// After continues a replay that stopped at its limit (the answer's
	// "next").
	After string `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
	// Rerender (stage deliver) renders pending and escalated deliveries
	// again with the config in force and retries the escalated ones; the
	// answer shows each delivery's old and new payload.
	Rerender bool `json:"rerender,omitempty"`
}

func (a *API) replay(w http.ResponseWriter, r *http.Request) error {
	var b ReplayRequest
	if err := decode(r, &b); err != nil {
		return err
	}
	for _, s := range b.Filter.States {
		if !store.IsEventState(string(s)) {
			return httperr.New(http.StatusBadRequest, "bad_param", fmt.Sprintf("filter.states: %q is not an event state", s))
		}
	}
	if d := b.Filter.Destination; d != "" {
		if _, ok := a.Config.Destinations[d]; !ok {
			return httperr.New(http.StatusBadRequest, "bad_param", fmt.Sprintf("no destination named %q", d))
		}
	}
	if b.Limit < 0 {
		return httperr.New(http.StatusBadRequest, "bad_param", "limit must not be negative")
	}
	res, err := a.Gate.Replay(r.Context(), pipeline.ReplayParams{
		Stage: b.Stage, DryRun: b.DryRun, Actor: actor(r), AfterID: b.After, Limit: b.Limit, Rerender: b.Rerender,
		Filter: pipeline.ReplayFilter{Source: b.Filter.Source, States: b.Filter.States, Destination: b.Filter.Destination,
			ReceivedAfter: b.Filter.ReceivedAfter, ReceivedBefore: b.Filter.ReceivedBefore},
	})
	if err != nil {
		return controlHTTP(err)
	}
	if !b.DryRun && res.Replayed > 0 {
		a.changed()
	}
	httperr.JSON(w, http.StatusOK, res)
	return nil
}
