package api

import (
	"context"
	"net/http"

	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// viewerMask hides escalated events' sensitive values from a viewer in
// the lists and views of escalations, tickets and failure groups, as
// maskForViewer does for one event: a platform's error text often echoes
// the record it refused. Events are read once per request.
type viewerMask struct {
	a    *API
	ctx  context.Context
	vals map[string][]string // event ID -> its sensitive values
}

// viewerMaskFor is nil for admins: they see errors as stored.
func (a *API) viewerMaskFor(r *http.Request) *viewerMask {
	if !viewer(r) {
		return nil
	}
	return &viewerMask{a: a, ctx: r.Context(), vals: map[string][]string{}}
}

func (m *viewerMask) values(eventID string) []string {
	if v, ok := m.vals[eventID]; ok {
		return v
	}
	if ev, err := m.a.Store.EventGetByID(m.ctx, eventID); err == nil {
		m.learn(ev)
	} else {
		m.vals[eventID] = nil
	}
	return m.vals[eventID]
}

// learn records ev's sensitive values; it returns ev's flow when that
// flow has sensitive fields, else nil.
func (m *viewerMask) learn(ev *store.Event) *pipeline.Flow {
	f := m.a.Gate.Plan().Flow(ev.Flow)
	if f == nil || len(f.Sensitive()) == 0 {
		m.vals[ev.ID] = nil
		return nil
	}
	m.vals[ev.ID] = f.SensitiveValues(ev.Canonical, ev.Raw)
	return f
}

// text masks s with the sensitive values of the given events.
func (m *viewerMask) text(s string, eventIDs ...string) string {
	if m == nil || s == "" {
		return s
	}
	for _, id := range eventIDs {
		s = pipeline.MaskValues(s, m.values(id))
	}
	return s
}

// escalation masks the free text of one escalation.
func (m *viewerMask) escalation(j *EscalationJSON) {
	if m == nil {
		return
	}
	j.Reason = m.text(j.Reason, j.EventID)
	j.LastError = m.text(j.LastError, j.EventID)
	j.Note = m.text(j.Note, j.EventID)
}

// group masks a failure group's error with the values of its samples'
// events (the error stands for the newest member, which is a sample).
func (m *viewerMask) group(j *GroupJSON) {
	if m == nil {
		return
	}
	ids := make([]string, len(j.Samples))
	for i, s := range j.Samples {
		ids[i] = s.EventID
	}
	j.Error = m.text(j.Error, ids...)
}

// ticket masks a ticket's escalation text and its notes.
func (m *viewerMask) ticket(j *TicketJSON) {
	if m == nil {
		return
	}
	m.escalation(&j.EscalationJSON)
	for i := range j.Notes {
		j.Notes[i].Text = m.text(j.Notes[i].Text, j.EventID)
	}
}
