package credential

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// slackErrors adapts oauth.v2.access to the OAuth error convention
// golang.org/x/oauth2 reads: Slack answers a refused refresh with HTTP 200
// and {"ok":false,"error":"invalid_refresh_token"}; this turns it into a
// 400 {"error":"invalid_refresh_token"} so it surfaces as a RetrieveError
// and counts as permanent.
type slackErrors struct{ base http.RoundTripper }

func (t slackErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var ans struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &ans) == nil && ans.OK != nil && !*ans.OK {
		body, _ = json.Marshal(map[string]string{"error": ans.Error, "error_description": "Slack: " + ans.Error})
		resp.StatusCode, resp.Status = http.StatusBadRequest, "400 Bad Request"
		resp.Header.Set("Content-Type", "application/json")
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
