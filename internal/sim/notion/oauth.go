package notion

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/sim"
)

// TokenPath is Notion's token endpoint (create and refresh a token).
const TokenPath = "/v1/oauth/token"

// handleToken is the refresh_token grant of Notion's OAuth ("Refresh a
// token"): the client authenticates with HTTP Basic (Notion's OAuth
// endpoints use basic authentication), the body is JSON (a form is taken
// too), and each refresh answers a new access token and a new refresh
// token, the old one spent. Notion documents no access-token lifetime, so
// expires_in is sent only when the simulator was given one (OAuthTTL).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	g, ok := s.OAuth.RefreshGrant(w, r, true, true)
	if !ok {
		return
	}
	s.mu.Lock()
	bot, workspace, req := s.newUUID(), s.newUUID(), s.newUUID()
	s.mu.Unlock()
	body := map[string]any{"access_token": g.AccessToken, "refresh_token": g.RefreshToken, "token_type": "bearer",
		"bot_id": bot, "workspace_id": workspace, "workspace_name": "Sluice simulator", "workspace_icon": nil,
		"owner": map[string]any{"type": "workspace", "workspace": true}, "duplicated_template_id": nil, "request_id": req}
	if s.oauthTTL > 0 {
		body["expires_in"] = g.ExpiresIn
	}
	sim.WriteJSON(w, http.StatusOK, body)
}
