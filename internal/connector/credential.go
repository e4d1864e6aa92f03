package connector

import (
	"bytes"
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
	UseCredentialRejecting(rt, client, cred, nil)
}

// UseCredentialRejecting is UseCredential for platforms that refuse an
// expired token inside a successful answer (Slack's 200 with ok:false,
// error:token_expired): rejected sees a non-401 answer's status and body
// (up to 1 MiB) and says whether the token was refused, which is then
// handled like a 401. nil means 401 only.
func UseCredentialRejecting(rt *RoundTrip, client *http.Client, cred Credential, rejected func(status int, body []byte) bool) {
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
	client.Transport = &credentialTransport{base: base, cred: cred, rejected: rejected}
}

type credentialTransport struct {
	base     http.RoundTripper
	cred     Credential
	rejected func(status int, body []byte) bool
}

// maxPeek bounds how much of an answer is read to look for a refusal.
const maxPeek = 1 << 20

func (t *credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode != http.StatusUnauthorized && !t.refusedInBody(resp) {
		return resp, nil
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

// refusedInBody reads a non-401 answer (restoring its body for the caller)
// and asks t.rejected whether it refuses the token.
func (t *credentialTransport) refusedInBody(resp *http.Response) bool {
	if t.rejected == nil || resp.Body == nil {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPeek+1))
	rest := resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), rest), rest}
	if err != nil || len(body) > maxPeek {
		return false
	}
	return t.rejected(resp.StatusCode, body)
}
