package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// userError is a refusal whose message is meant for the person.
type userError struct {
	code int
	msg  string
}

func (e *userError) Error() string { return e.msg }

func badRequest(msg string) error { return &userError{code: http.StatusBadRequest, msg: msg} }

// fail shows an error page: gate refusals as what they are (not found,
// conflict with another editor, wrong state, invalid), anything else as a
// server error whose detail goes only to the log.
func (k *Console) fail(w http.ResponseWriter, r *http.Request, u *user, err error) {
	code, msg := http.StatusInternalServerError, "Something went wrong; the details are in the server log."
	var ue *userError
	var stale *pipeline.StaleError
	var inc *pipeline.IncompleteError
	var inv *pipeline.InvalidError
	switch {
	case errors.As(err, &ue):
		code, msg = ue.code, ue.msg
	case errors.As(err, &stale):
		code, msg = http.StatusConflict, "Conflict: "+stale.Error()
	case errors.Is(err, store.ErrNotFound):
		code, msg = http.StatusNotFound, "Not found: "+err.Error()
	case errors.Is(err, pipeline.ErrWrongState):
		code, msg = http.StatusConflict, "Not possible now: "+err.Error()
	case errors.As(err, &inc):
		code, msg = http.StatusConflict, "Not released: "+inc.Error()
	case errors.As(err, &inv):
		code, msg = http.StatusUnprocessableEntity, "Not valid: "+inv.Error()
	case errors.Is(err, pipeline.ErrInvalidRequest):
		code, msg = http.StatusBadRequest, "Not valid: "+err.Error()
	case strings.Contains(err.Error(), "required") || strings.Contains(err.Error(), "no fields"):
		code, msg = http.StatusBadRequest, err.Error()
	default:
		k.c.Log.Error("console", "path", r.URL.Path, "err", err)
	}
	back := r.Referer()
	if !strings.HasPrefix(back, "/") {
		// Only our own pages: the path of a same-origin referrer.
		if i := strings.Index(back, "/ui/"); i >= 0 {
			back = back[i:]
		} else {
			back = "/ui/"
		}
	}
	k.render(w, r, code, "error", u, map[string]any{"Error": msg, "Back": back})
}

// flashes are the fixed messages a redirect may ask for (?ok=code), so a
// link cannot put arbitrary text on a page.
var flashes = map[string]string{
	"saved": "Saved.", "released": "Released: the record is on its way.", "discarded": "Discarded.",
	"retried": "Sent again.", "resolved": "Resolved.", "assigned": "Assigned.", "acked": "Acknowledged.",
	"noted": "Note added.", "patched": "Patched and sent again.", "paused": "Paused.", "resumed": "Resumed.",
	"applied": "Applied.", "bulk": "Bulk action done.",
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = "<1m"
	case d < time.Hour:
		s = itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		s = itoa(int(d/time.Hour)) + "h"
	default:
		s = itoa(int(d/(24*time.Hour))) + "d"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}
