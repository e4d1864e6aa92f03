package connector

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
)

// CredentialToken is what a connector opened with Params.Credential puts in
// options.token when the config has none: the real token comes from the
// credential on every request.
const CredentialToken = "from-credential"

// UseCredential makes rt and client authenticate with cred: every request
// gets "Authorization: Bearer <token>" from cred.Token (a refresh when the
// token is about to expire), and a request the platform answers with 401
// is sent once more with the token cred.Rejected gives, so an access token
// revoked or expired early costs one extra request instead of a paused
// destination.
func UseCredential(rt *RoundTrip, client *http.Client, cred Credential) {
	rt.Auth = func(ctx context.Context, h http.Header) error {
		tok, err := cred.Token(ctx)
		if err != nil {
			var ce *Error
			if errors.As(err, &ce) {
				return ce
			}
			return &Error{Class: Retryable, Code: "CREDENTIAL", Message: err.Error(), Err: err}
		}
		h.Set("Authorization", "Bearer "+tok)
		return nil
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = &credentialTransport{base: base, cred: cred}
}

type credentialTransport struct {
	base http.RoundTripper
	cred Credential
}

func (t *credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	old := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
	if req.Body != nil && req.GetBody == nil {
		return resp, nil
	}
	tok, rerr := t.cred.Rejected(req.Context(), old)
	if rerr != nil || tok == "" || tok == old {
		return resp, nil
	}
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		body, berr := req.GetBody()
		if berr != nil {
			return resp, nil
		}
		again.Body = body
	}
	again.Header.Set("Authorization", "Bearer "+tok)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return t.base.RoundTrip(again)
}
