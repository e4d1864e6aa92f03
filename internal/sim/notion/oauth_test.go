package notion_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	notionsim "github.com/sluicehq/sluice/internal/sim/notion"
	"github.com/sluicehq/sluice/internal/sim/simtest"
)

// TestTokenEndpoint: Notion's refresh grant takes HTTP Basic and a JSON
// body, answers a new access and refresh token, spends the old refresh
// token, and the new access token works on the API.
func TestTokenEndpoint(t *testing.T) {
	s, err := notionsim.New(notionsim.Options{Seed: 1, OAuthRefreshTokens: []string{"rt-1"}, OAuthClientID: "cid", OAuthClientSecret: "sec"})
	if err != nil {
		t.Fatal(err)
	}
	url := simtest.Start(t, s).URL
	post := func(body string, basic bool) (int, map[string]any) {
		req, _ := http.NewRequest("POST", url+notionsim.TokenPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if basic {
			req.SetBasicAuth("cid", "sec")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := post(`{"grant_type":"refresh_token","refresh_token":"rt-1"}`, false); code != 401 || out["error"] != "invalid_client" {
		t.Fatalf("without Basic: %d %v", code, out)
	}
	code, out := post(`{"grant_type":"refresh_token","refresh_token":"rt-1"}`, true)
	if code != 200 || out["token_type"] != "bearer" || out["refresh_token"] == "rt-1" || out["bot_id"] == nil {
		t.Fatalf("refresh: %d %v", code, out)
	}
	if _, has := out["expires_in"]; has {
		t.Fatal("expires_in sent although Notion documents no lifetime")
	}
	if code, again := post(`{"grant_type":"refresh_token","refresh_token":"rt-1"}`, true); code != 400 || again["error"] != "invalid_grant" {
		t.Fatalf("spent refresh token: %d %v", code, again)
	}
	req, _ := http.NewRequest("GET", url+"/v1/data_sources/"+notionsim.DefaultDatabaseID, nil)
	req.Header.Set("Authorization", "Bearer "+out["access_token"].(string))
	req.Header.Set("Notion-Version", "2025-09-03")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 401 {
		t.Fatal("the issued access token is refused")
	}
}
