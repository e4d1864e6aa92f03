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
	g, ok := s.OAuth.RefreshGrant(w, r, s.oauthSecret, false)
	if !ok {
		return
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"access_token": g.AccessToken, "refresh_token": g.RefreshToken,
		"token_type": "Bearer", "scope": "data.records:read data.records:write schema.bases:read",
		"expires_in": g.ExpiresIn, "refresh_expires_in": refreshExpiresIn})
}
