package sheets

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
)

// ServiceAccountEmail is the client_email of the simulator's service
// account.
const ServiceAccountEmail = "sluice-sim@sluice-sim.iam.gserviceaccount.com"

// signer is the simulated service account's key pair, made on first use.
var signer struct {
	once sync.Once
	key  *rsa.PrivateKey
	err  error
}

func serviceKey() (*rsa.PrivateKey, error) {
	signer.once.Do(func() { signer.key, signer.err = rsa.GenerateKey(rand.Reader, 2048) })
	return signer.key, signer.err
}

// ServiceAccountJSON is a service-account key file, as the Google Cloud
// console downloads it, whose token_uri is tokenURL (the simulator's
// /token): golang.org/x/oauth2/google reads it unchanged.
func ServiceAccountJSON(tokenURL string) ([]byte, error) {
	key, err := serviceKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     "sluice-sim",
		"private_key_id": "sim0000000000000000000000000000000000001",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   ServiceAccountEmail,
		"client_id":      "100000000000000000001",
		"auth_uri":       "https://accounts.google.com/o/oauth2/auth",
		"token_uri":      tokenURL,
	}, "", "  ")
}

// mountOAuth adds GET /_sim/service_account.json (a key file pointing at
// this simulator) to the control endpoints, with the OAuth ones.
func (s *Server) mountOAuth(mux *http.ServeMux) {
	s.OAuth.Mount(mux)
	mux.HandleFunc("GET /_sim/service_account.json", func(w http.ResponseWriter, r *http.Request) {
		b, err := ServiceAccountJSON("http://" + r.Host + "/token")
		if err != nil {
			sim.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
}

// handleToken is Google's token endpoint (oauth2.googleapis.com/token):
// the JWT bearer grant of a service account (an RS256 assertion signed
// with the simulator's key, iss the service account, exp in the future)
// and the refresh_token grant, both answering {access_token, expires_in:
// 3599, token_type: "Bearer"}. Failures are 400 {"error": "invalid_grant",
// "error_description": …} as Google answers them.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "POST a form"})
		return
	}
	fail := func(code, msg string) {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": msg})
	}
	var g sim.Grant
	switch r.PostForm.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if msg := s.checkAssertion(r.PostForm.Get("assertion")); msg != "" {
			fail("invalid_grant", msg)
			return
		}
		g = s.OAuth.Issue()
	case "refresh_token":
		id, secret, basic := r.BasicAuth()
		if !basic {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if !s.OAuth.ClientOK(id, secret) {
			sim.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "The OAuth client was not found."})
			return
		}
		var ok bool
		if g, ok = s.OAuth.Refresh(r.PostForm.Get("refresh_token")); !ok {
			fail("invalid_grant", "Token has been expired or revoked.")
			return
		}
	default:
		fail("unsupported_grant_type", "Invalid grant_type: "+r.PostForm.Get("grant_type"))
		return
	}
	out := map[string]any{"access_token": g.AccessToken, "expires_in": g.ExpiresIn, "token_type": "Bearer",
		"scope": "https://www.googleapis.com/auth/spreadsheets"}
	sim.WriteJSON(w, http.StatusOK, out)
}

// checkAssertion verifies a service account's JWT; "" means valid.
func (s *Server) checkAssertion(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "Invalid JWT: not three segments"
	}
	key, err := serviceKey()
	if err != nil {
		return "simulator key: " + err.Error()
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "Invalid JWT Signature."
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return "Invalid JWT Signature."
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "Invalid JWT: claims are not base64url"
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Exp   int64  `json:"exp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return "Invalid JWT: claims are not JSON"
	}
	switch {
	case claims.Iss != ServiceAccountEmail:
		return "Invalid JWT: iss is not a known service account"
	case claims.Scope == "":
		return "Invalid JWT: no scope"
	case time.Unix(claims.Exp, 0).Before(s.Now()):
		return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	}
	return ""
}
