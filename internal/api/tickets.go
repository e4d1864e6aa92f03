package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/ticket"
)

// registerTickets adds the escalation-ticket routes. A ticket is an
// escalation (same ID) with the fields a person works it by: owner,
// acknowledgement, due time, notes. /v1/escalations stays as it was; the
// ticket routes answer with the ticket view and add the workflow actions.
func (a *API) registerTickets(mux *http.ServeMux) {
	read := func(pattern string, h httperr.HandlerFunc) { mux.Handle(pattern, a.auth(false, h)) }
	act := func(pattern string, h httperr.HandlerFunc) { mux.Handle(pattern, a.auth(true, h)) }
	read("GET /v1/tickets", a.listTickets)
	read("GET /v1/tickets/{id}", a.getTicket)
	act("POST /v1/tickets/{id}/assign", a.assignTicket)
	act("POST /v1/tickets/{id}/ack", a.ackTicket)
	act("POST /v1/tickets/{id}/notes", a.noteTicket)
	act("POST /v1/tickets/{id}/retry", a.retryTicket)
	act("POST /v1/tickets/{id}/patch-retry", a.patchRetryTicket)
	act("POST /v1/tickets/{id}/resolve", a.resolveTicket)
	act("POST /v1/tickets/{id}/discard", a.discardTicket)
	act("POST /v1/tickets/bulk", a.bulkTickets)
}

// NoteJSON is one note of a ticket.
type NoteJSON struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Text  string    `json:"text"`
}

// TicketJSON is the wire form of a ticket: the escalation's fields plus
// the ticket's.
type TicketJSON struct {
	EscalationJSON
	Owner          string    `json:"owner,omitempty"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
	DueAt          time.Time `json:"due_at"`
	Overdue        bool      `json:"overdue"`
	Source         string    `json:"source"`
	Destination    string    `json:"destination,omitempty"`
	// Notes are present on a single ticket, oldest first.
	Notes []NoteJSON `json:"notes,omitempty"`
}

func ticketJSON(t *ticket.Ticket) TicketJSON {
	j := TicketJSON{EscalationJSON: escalationJSON(&t.Escalation), Owner: t.Owner, AcknowledgedAt: t.AcknowledgedAt,
		AcknowledgedBy: t.AcknowledgedBy, DueAt: t.DueAt, Overdue: t.Overdue, Source: t.Source, Destination: t.Destination}
	for _, n := range t.Notes {
		j.Notes = append(j.Notes, NoteJSON{At: n.At, Actor: n.Actor, Text: n.Text})
	}
	return j
}

// controlHTTP maps the control layer's errors (tickets, replay) to client
// errors, then the gate's.
func controlHTTP(err error) error {
	if errors.Is(err, pipeline.ErrInvalidRequest) {
		return &httperr.Error{Code: http.StatusBadRequest, Kind: "bad_request", Msg: err.Error()}
	}
	return toHTTP(err)
}

// timeParam reads an RFC 3339 time from the query; empty is zero.
func timeParam(q url.Values, name string) (time.Time, error) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, httperr.New(http.StatusBadRequest, "bad_param", name+" must be an RFC 3339 time (2026-01-02T15:04:05Z)")
	}
	return t, nil
}

func escalationStatusOK(s string) bool {
	switch s {
	case "", store.EscalationOpen, store.EscalationResolved, store.EscalationDiscarded:
		return true
	}
	return false
}

func (a *API) listTickets(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	p := &store.TicketListParams{Status: q.Get("status"), Kind: q.Get("kind"), Destination: q.Get("destination"), Source: q.Get("source"),
		Owner: q.Get("owner"), EventID: q.Get("event"), BeforeID: q.Get("before"), Limit: limit}
	if !escalationStatusOK(p.Status) {
		return httperr.New(http.StatusBadRequest, "bad_param", "status must be open, resolved or discarded")
	}
	if err := beforeParam(p.BeforeID, "esc"); err != nil {
		return err
	}
	if err := a.knownDestination("destination", p.Destination); err != nil {
		return err
	}
	if p.CreatedAfter, err = timeParam(q, "created_after"); err != nil {
		return err
	}
	if p.CreatedBefore, err = timeParam(q, "created_before"); err != nil {
		return err
	}
	switch q.Get("overdue") {
	case "", "false":
	case "true":
		if p.Status != "" && p.Status != store.EscalationOpen {
			return httperr.New(http.StatusBadRequest, "bad_param", "overdue tickets are open ones; drop status or set it to open")
		}
		p.Status, p.DueBefore = store.EscalationOpen, a.Gate.Now()
	default:
		return httperr.New(http.StatusBadRequest, "bad_param", "overdue must be true or false")
	}
	ts, err := a.Tickets.List(r.Context(), p)
	if err != nil {
		return controlHTTP(err)
	}
	out := make([]TicketJSON, len(ts))
	mask := a.viewerMaskFor(r)
	for i, t := range ts {
		out[i] = ticketJSON(t)
		mask.ticket(&out[i])
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"tickets": out})
	return nil
}

func (a *API) ticketAnswer(w http.ResponseWriter, t *ticket.Ticket, err error) error {
	if err != nil {
		return controlHTTP(err)
	}
	httperr.JSON(w, http.StatusOK, map[string]any{"ticket": ticketJSON(t)})
	return nil
}

func (a *API) getTicket(w http.ResponseWriter, r *http.Request) error {
	t, err := a.Tickets.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return controlHTTP(err)
	}
	j := ticketJSON(t)
	a.viewerMaskFor(r).ticket(&j)
	httperr.JSON(w, http.StatusOK, map[string]any{"ticket": j})
	return nil
}

func (a *API) assignTicket(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Owner *string `json:"owner"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.Owner == nil {
		return httperr.New(http.StatusBadRequest, "missing_field", `owner is required ("" un-assigns)`)
	}
	t, err := a.Tickets.Assign(r.Context(), r.PathValue("id"), *b.Owner, actor(r))
	return a.ticketAnswer(w, t, err)
}

func (a *API) ackTicket(w http.ResponseWriter, r *http.Request) error {
	t, err := a.Tickets.Acknowledge(r.Context(), r.PathValue("id"), actor(r))
	return a.ticketAnswer(w, t, err)
}

func (a *API) noteTicket(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Text string `json:"text"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if strings.TrimSpace(b.Text) == "" {
		return httperr.New(http.StatusBadRequest, "missing_field", "text is required")
	}
	t, err := a.Tickets.AddNote(r.Context(), r.PathValue("id"), b.Text, actor(r))
	return a.ticketAnswer(w, t, err)
}

func (a *API) retryTicket(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := a.Gate.EscalationRetry(r.Context(), id, actor(r)); err != nil {
		return controlHTTP(err)
	}
	a.changed()
	t, err := a.Tickets.Get(r.Context(), id)
	return a.ticketAnswer(w, t, err)
}

func (a *API) patchRetryTicket(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Fields map[string]any `json:"fields"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if len(b.Fields) == 0 {
		return httperr.New(http.StatusBadRequest, "missing_field", `fields is required: {"fields": {"company": "Acme"}} (null removes a field)`)
	}
	t, err := a.Tickets.PatchRetry(r.Context(), r.PathValue("id"), b.Fields, actor(r))
	if err == nil {
		a.changed()
	}
	return a.ticketAnswer(w, t, err)
}

func (a *API) resolveTicket(w http.ResponseWriter, r *http.Request) error {
	var b reasonBody
	if err := decode(r, &b); err != nil {
		return err
	}
	note := cmpOr(b.Note, b.Reason)
	if strings.TrimSpace(note) == "" {
		return httperr.New(http.StatusBadRequest, "missing_field", "note is required: say how it was settled")
	}
	id := r.PathValue("id")
	if _, err := a.Gate.EscalationResolve(r.Context(), id, note, actor(r)); err != nil {
		return controlHTTP(err)
	}
	t, err := a.Tickets.Get(r.Context(), id)
	return a.ticketAnswer(w, t, err)
}

func (a *API) discardTicket(w http.ResponseWriter, r *http.Request) error {
	var b reasonBody
	if err := decode(r, &b); err != nil {
		return err
	}
	reason := cmpOr(b.Reason, b.Note)
	if strings.TrimSpace(reason) == "" {
		return httperr.New(http.StatusBadRequest, "missing_field", "reason is required")
	}
	id := r.PathValue("id")
	if _, err := a.Gate.EscalationDiscard(r.Context(), id, reason, actor(r)); err != nil {
		return controlHTTP(err)
	}
	t, err := a.Tickets.Get(r.Context(), id)
	return a.ticketAnswer(w, t, err)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// BulkRequest is the body of POST /v1/tickets/bulk.
type BulkRequest struct {
	// Action is retry, rerender (render again with the config in force,
	// then retry), resolve or discard.
	Action string `json:"action"`
	// Filter selects the escalations; status defaults to open.
	Filter ticket.Filter `json:"filter"`
	// Note (resolve) or Reason (discard) is written to each escalation and
	// the audit log.
	Note   string `json:"note,omitempty"`
	Reason string `json:"reason,omitempty"`
	// DryRun answers what would happen without changing anything.
	DryRun bool `json:"dry_run"`
}

func (a *API) bulkTickets(w http.ResponseWriter, r *http.Request) error {
	var b BulkRequest
	if err := decode(r, &b); err != nil {
		return err
	}
	if !escalationStatusOK(b.Filter.Status) {
		return httperr.New(http.StatusBadRequest, "bad_param", "filter.status must be open, resolved or discarded")
	}
	if b.Filter.Destination != "" {
		if _, ok := a.Config.Destinations[b.Filter.Destination]; !ok {
			return httperr.New(http.StatusBadRequest, "bad_param", fmt.Sprintf("no destination named %q", b.Filter.Destination))
		}
	}
	if b.Filter.Source != "" {
		if _, ok := a.Config.Sources[b.Filter.Source]; !ok {
			return httperr.New(http.StatusBadRequest, "bad_param", fmt.Sprintf("no source named %q", b.Filter.Source))
		}
	}
	note := b.Note
	if b.Action == ticket.BulkDiscard {
		note = cmpOr(b.Reason, b.Note)
	}
	res, err := a.Tickets.Bulk(r.Context(), ticket.BulkParams{Action: b.Action, Filter: b.Filter, Note: note, DryRun: b.DryRun, Actor: actor(r)})
	if err != nil {
		return controlHTTP(err)
	}
	if !b.DryRun && (b.Action == ticket.BulkRetry || b.Action == ticket.BulkRerender) && res.Affected > 0 {
		a.changed()
	}
	httperr.JSON(w, http.StatusOK, res)
	return nil
}
