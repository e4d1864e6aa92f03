package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/store"
)

// registerHookTokens adds GET /v1/sources/{source}/tokens: the
// verification tokens a platform sent the source (Notion's handshake),
// newest first, for the operator to paste back into the platform and into
// platform.secrets. The tokens are signing keys, so only admins read them.
func (a *API) registerHookTokens(mux *http.ServeMux) {
	mux.Handle("GET /v1/sources/{source}/tokens", a.auth(true, a.listHookTokens))
	mux.Handle("GET /v1/sources/{source}/notices", a.auth(false, a.listHookNotices))
}

// hookNoticesAnswer lists a platform source's notices (webhooks that only
// named a change, fetched in the background): what waits, how often it
// failed and why.
type hookNoticesAnswer struct {
	Source   string         `json:"source"`
	Platform string         `json:"platform"`
	Notices  []noticeAnswer `json:"notices"`
}

type noticeAnswer struct {
	ID          string     `json:"id"`
	Key         string     `json:"key"`
	Type        string     `json:"type"`
	Object      string     `json:"object,omitempty"`
	RecordID    string     `json:"record_id,omitempty"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	NextAt      time.Time  `json:"next_at"`
	LastError   string     `json:"last_error,omitempty"`
	EscalatedAt *time.Time `json:"escalated_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// listHookNotices is GET /v1/sources/{source}/notices?state=pending|done.
func (a *API) listHookNotices(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("source")
	src, ok := a.Config.Sources[name]
	if !ok || src == nil {
		return httperr.New(http.StatusNotFound, "unknown_source", fmt.Sprintf("no source named %q", name))
	}
	if src.Platform == nil {
		return httperr.New(http.StatusNotFound, "not_a_platform_source", fmt.Sprintf("source %q receives no platform webhooks", name))
	}
	state := r.URL.Query().Get("state")
	if state != "" && state != store.NoticePending && state != store.NoticeDone {
		return httperr.New(http.StatusBadRequest, "bad_state", fmt.Sprintf("state: %q is not pending or done", state))
	}
	ns, err := a.Store.HookNoticeList(r.Context(), &store.HookNoticeListParams{Source: name, State: state, Limit: 200})
	if err != nil {
		return err
	}
	ans := hookNoticesAnswer{Source: name, Platform: src.Platform.Kind, Notices: make([]noticeAnswer, len(ns))}
	for i, n := range ns {
		na := noticeAnswer{ID: n.ID, Key: n.Key, Type: n.Type, Object: n.Object, RecordID: n.RecordID, State: n.State, Attempts: n.Attempts,
			NextAt: n.NextAt, LastError: n.LastError, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt}
		if !n.EscalatedAt.IsZero() {
			at := n.EscalatedAt
			na.EscalatedAt = &at
		}
		ans.Notices[i] = na
	}
	httperr.JSON(w, http.StatusOK, ans)
	return nil
}

// hookTokensAnswer lists a source's tokens; Configured says whether the
// newest is the one platform.secrets holds.
type hookTokensAnswer struct {
	Source     string            `json:"source"`
	Platform   string            `json:"platform"`
	Tokens     []store.HookToken `json:"tokens"`
	Configured bool              `json:"configured"`
}

func (a *API) listHookTokens(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("source")
	src, ok := a.Config.Sources[name]
	if !ok || src == nil {
		return httperr.New(http.StatusNotFound, "unknown_source", fmt.Sprintf("no source named %q", name))
	}
	if src.Platform == nil {
		return httperr.New(http.StatusNotFound, "not_a_platform_source", fmt.Sprintf("source %q receives no platform webhooks", name))
	}
	toks, err := a.Store.HookTokenList(r.Context(), name)
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []store.HookToken{}
	}
	ans := hookTokensAnswer{Source: name, Platform: src.Platform.Kind, Tokens: toks}
	if len(toks) > 0 {
		for _, s := range src.Platform.Keys() {
			ans.Configured = ans.Configured || s == toks[0].Token
		}
	}
	httperr.JSON(w, http.StatusOK, ans)
	return nil
}
