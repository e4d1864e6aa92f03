package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/ticket"
)

type destRow struct {
	Name        string
	Type        string
	Paused      bool
	Reason      string
	Since       time.Time
	Breaker     string
	Failures    uint32
	Rate        string
	RateNote    string
	LastError   string
	LastAt      time.Time
	LastWhere   string // "this instance" or "latest open escalation"
	Pending     int64
	AtLeast     bool // Pending stopped at queueCountLimit
	Inflight    int64
	OldestAge   string
	Consistency string
	Failure     string
	Notes       []string
}

type destsData struct {
	Rows   []destRow
	Recs   []*store.Reconciliation
	Drift  []string
	SLA    []string
	Extras bool
}

func (k *Console) destinations(w http.ResponseWriter, r *http.Request, u *user) error {
	ctx := r.Context()
	qs, err := k.c.Read.QueueStats(ctx, k.queueStatsParams())
	if err != nil {
		return err
	}
	queue := map[string]*store.QueueStat{}
	for _, q := range qs {
		queue[q.Destination] = q
	}
	now := k.c.Now()
	rs, err := k.c.Read.RollupList(ctx, &store.RollupListParams{From: now.Add(-24 * time.Hour), To: now.Add(time.Minute), Bucket: 25 * time.Hour})
	if err != nil {
		return err
	}
	day := map[string]*store.Rollup{}
	for _, r := range rs {
		if day[r.Destination] == nil {
			day[r.Destination] = &store.Rollup{}
		}
		day[r.Destination].Add(r)
	}
	var ex DestinationExtras
	if k.c.Extra != nil {
		ex = k.c.Extra(ctx)
	}
	d := &destsData{Drift: ex.Drift, SLA: ex.SLA, Extras: k.c.Extra != nil}
	// The newest open escalations, newest first, in one walk of the status
	// index; filtering by destination in the database made PostgreSQL scan
	// every delivery for a destination that had none.
	open, err := k.c.Tickets.List(ctx, &store.TicketListParams{Status: store.EscalationOpen, Limit: 200})
	if err != nil {
		return err
	}
	latest := map[string]*ticket.Ticket{}
	for _, t := range open {
		if t.Destination != "" && t.LastError != "" && latest[t.Destination] == nil {
			latest[t.Destination] = t
		}
	}
	for _, name := range k.destNames() {
		conf := k.c.Config().Destinations[name]
		row := destRow{Name: name, Type: conf.Type, Notes: ex.Notes[name]}
		if h, ok := ex.Health[name]; ok {
			row.Breaker, row.Failures = h.Breaker, h.Failures
			if h.Rate > 0 {
				row.Rate = perSecond(h.Rate)
			} else {
				row.Rate = "unlimited"
			}
			if h.Adaptive > 0 && (h.Rate == 0 || h.Adaptive < h.Rate) {
				row.RateNote = "cut to " + perSecond(h.Adaptive) + " after 429s"
			}
			if h.Concurrency > 0 {
				row.RateNote = strings.TrimPrefix(row.RateNote+fmt.Sprintf("; %d in flight at most", h.Concurrency), "; ")
			}
			if !h.LastErrorAt.IsZero() {
				row.LastError, row.LastAt, row.LastWhere = lastErrorText(h.LastClass, h.LastStatus, h.LastError), h.LastErrorAt, "on this instance"
			}
		} else if v, ok := conf.Options["rate_per_second"]; ok {
			row.Rate = strings.TrimSpace(show(v)) + "/s"
		}
		if t := latest[name]; row.LastError == "" && t != nil {
			// Nothing failed here since start: the latest open escalation
			// (any instance, survives restarts) is the latest failure
			// known.
			row.LastError, row.LastAt, row.LastWhere = lastErrorText(t.Kind, t.LastStatus, t.LastError), t.UpdatedAt, "latest open escalation"
		}
		st, err := k.c.Read.DestinationStateGet(ctx, name)
		if err != nil {
			return err
		}
		row.Paused, row.Reason, row.Since = st.Paused, st.Reason, st.UpdatedAt
		if q := queue[name]; q != nil {
			row.Pending, row.AtLeast, row.Inflight = q.Pending, q.Capped, q.Inflight
			if !q.Oldest.IsZero() {
				row.OldestAge = ago(now, q.Oldest)
			}
		}
		if ru := day[name]; ru != nil {
			m := measure(name, ru)
			row.Consistency, row.Failure = m.Consistency(), m.FailureRate()
		} else {
			row.Consistency, row.Failure = "unverified", "–"
		}
		d.Rows = append(d.Rows, row)
	}
	if d.Recs, err = k.c.Read.ReconciliationList(ctx, &store.ReconciliationListParams{Status: store.ReconciliationOpen, Limit: 50}); err != nil {
		return err
	}
	k.render(w, r, http.StatusOK, "destinations", u, d)
	return nil
}

// perSecond shows a rate: whole numbers from 100/s up, three significant
// digits below.
func perSecond(r float64) string {
	if r >= 100 {
		return fmt.Sprintf("%.0f/s", r)
	}
	return strconv.FormatFloat(r, 'g', 3, 64) + "/s"
}

// lastErrorText is one line for the Last error column: the message, cut to
// 300 characters, after the class or kind and status unless the message
// already says them.
func lastErrorText(class string, status int, msg string) string {
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	if class != "" && strings.Contains(msg, class) {
		return msg
	}
	s := class
	if status != 0 {
		s += fmt.Sprintf(" %d", status)
	}
	return strings.TrimSpace(strings.TrimSpace(s) + ": " + msg)
}

func (k *Console) destinationAction(w http.ResponseWriter, r *http.Request, u *user) error {
	name := r.PathValue("name")
	if _, ok := k.c.Config().Destinations[name]; !ok {
		return &userError{code: http.StatusNotFound, msg: "no destination named " + name}
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("malformed form")
	}
	var paused bool
	switch r.PostForm.Get("op") {
	case "pause":
		paused = true
	case "resume":
	default:
		return badRequest("unknown action")
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		reason = map[bool]string{true: "paused by " + u.Name, false: "resumed by " + u.Name}[paused]
	}
	if _, err := k.c.Ops.DestinationSetPaused(r.Context(), name, paused, u.Actor(), reason); err != nil {
		return err
	}
	k.changed()
	ok := map[bool]string{true: "paused", false: "resumed"}[paused]
	http.Redirect(w, r, "/ui/destinations?ok="+ok+"#d-"+url.PathEscape(name), http.StatusSeeOther)
	return nil
}
