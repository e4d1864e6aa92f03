package api

import (
	"context"
	"net/http"

	"github.com/sluicehq/sluice/internal/httperr"
)

// CredentialLister reports the stored credentials of destinations with a
// credential block: kind, expiry, last refresh and failure, never a secret
// (credential.Status).
type CredentialLister func(ctx context.Context) (any, error)

// registerCredentials adds GET /v1/credentials.
func (a *API) registerCredentials(mux *http.ServeMux) {
	mux.Handle("GET /v1/credentials", a.auth(false, func(w http.ResponseWriter, r *http.Request) error {
		var list any = []any{}
		if a.Credentials != nil {
			l, err := a.Credentials(r.Context())
			if err != nil {
				return err
			}
			list = l
		}
		httperr.JSON(w, http.StatusOK, map[string]any{"credentials": list})
		return nil
	}))
}
