package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/httperr"
)

// Reloader reloads the server's config (server.Server.Reload): the answer
// on success, or an *httperr.Error saying exactly why the config was
// refused.
type Reloader func(ctx context.Context, actor string, force bool) (any, error)

// registerReload adds POST /v1/config/reload (admin only) when the server
// can reload.
func (a *API) registerReload(mux *http.ServeMux) {
	if a.Reload == nil {
		return
	}
	mux.Handle("POST /v1/config/reload", a.auth(true, func(w http.ResponseWriter, r *http.Request) error {
		force := false
		if v := r.URL.Query().Get("force"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return httperr.New(http.StatusBadRequest, "bad_param", "force must be true or false")
			}
			force = b
		}
		res, err := a.Reload(r.Context(), actor(r), force)
		if err != nil {
			return err
		}
		httperr.JSON(w, http.StatusOK, res)
		return nil
	}))
}
