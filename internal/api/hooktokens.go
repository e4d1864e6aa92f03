package api

import (
	"fmt"
	"net/http"

	"github.com/sluicehq/sluice/internal/httperr"
	"github.com/sluicehq/sluice/internal/store"
)

// registerHookTokens adds GET /v1/sources/{source}/tokens: the
// verification tokens a platform sent the source (Notion's handshake),
// newest first, for the operator to paste back into the platform and into
// platform.secrets. The tokens are signing keys, so only admins read them.
func (a *API) registerHookTokens(mux *http.ServeMux) {
	mux.Handle("GET /v1/sources/{source}/tokens", a.auth(true, a.listHookTokens))
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
