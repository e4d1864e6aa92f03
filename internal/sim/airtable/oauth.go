package airtable

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
)

// Airtable's OAuth token lifetimes: an access token lasts 60 minutes, a
// refresh token 60 days and only once (each refresh answers a new one).
const (
	DefaultOAuthTTL  = 60 * time.Minute
	refreshExpiresIn = 60 * 24 * 60 * 60
)

// TokenPath is where the simulator serves Airtable's token endpoint
// (https://airtable.com/oauth2/v1/token on the platform).
const TokenPath = "/oauth2/v1/token"

// handleToken is the refresh_token grant of Airtable's OAuth: form-encoded;
// a client with a secret authenticates with HTTP Basic, one without sends
// client_id in the body. Refused grants are 400 with the OAuth error body.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		sim.WriteJSON(w, status, map[string]string{"error": code, "error_description": msg})
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	t, err := sim.ReadTokenRequest(r)
	switch {
	case err != nil:
		fail(http.StatusBadRequest, "invalid_request", err.Error())
		return
	case t.GrantType != "refresh_token":
		fail(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be refresh_token (the simulator has no authorization codes)")
		return
	case s.oauthSecret && !t.Basic:
		fail(http.StatusUnauthorized, "invalid_client", "a client with a secret must authenticate with HTTP Basic")
		return
	case !s.OAuth.ClientOK(t.ClientID, t.ClientSecret):
		fail(http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	g, ok := s.OAuth.Refresh(t.RefreshToken)
	if !ok {
		fail(http.StatusBadRequest, "invalid_grant", "The refresh token is invalid, expired, revoked or was already used.")
		return
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"access_token": g.AccessToken, "refresh_token": g.RefreshToken,
		"token_type": "Bearer", "scope": "data.records:read data.records:write schema.bases:read",
		"expires_in": g.ExpiresIn, "refresh_expires_in": refreshExpiresIn})
}
