package cli_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSourcesToken prints the tokens the API lists and tells the operator
// what to do with them (against a stand-in API: the server side is tested
// in internal/server).
func TestSourcesToken(t *testing.T) {
	t.Parallel()
	var path, auth string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, auth = r.URL.Path, r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"source":"pages","platform":"notion","configured":false,"tokens":[
			{"token":"secret_newest","received_at":"2026-12-07T10:05:00Z"},
			{"token":"secret_older","received_at":"2026-12-07T10:00:00Z"}]}`))
	}))
	t.Cleanup(api.Close)
	s := &sluice{url: api.URL, env: map[string]string{"SLUICE_SERVER": api.URL, "SLUICE_TOKEN": adminToken}}
	r := s.mustRun(t, 0, "sources", "token", "pages")
	if path != "/v1/sources/pages/tokens" || auth != "Bearer "+adminToken {
		t.Fatalf("called %s with %q", path, auth)
	}
	contains(t, "sources token", r.out, "RECEIVED", "TOKEN", "secret_newest", "secret_older",
		"paste the newest token into notion", "sources.pages.platform.secrets", "more than one token arrived")
}

// TestSourcesNotices lists a source's notices with their failures
// (against a stand-in API; the server side is tested in internal/server).
func TestSourcesNotices(t *testing.T) {
	t.Parallel()
	var path, query string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, query = r.URL.Path, r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"source":"pages","platform":"notion","notices":[
			{"id":"ntc_2","key":"notion:ev2","type":"page.properties_updated","record_id":"p2","state":"pending","attempts":8,
			 "next_at":"2026-12-07T10:10:00Z","last_error":"read page p2 from notion: 502","escalated_at":"2026-12-07T10:09:00Z","created_at":"2026-12-07T10:00:00Z"}]}`))
	}))
	t.Cleanup(api.Close)
	s := &sluice{url: api.URL, env: map[string]string{"SLUICE_SERVER": api.URL, "SLUICE_TOKEN": adminToken}}
	r := s.mustRun(t, 0, "sources", "notices", "pages", "--state", "pending")
	if path != "/v1/sources/pages/notices" || query != "state=pending" {
		t.Fatalf("called %s?%s", path, query)
	}
	contains(t, "sources notices", r.out, "ntc_2", "page.properties_updated", "p2", "pending", "8", "read page p2 from notion: 502")
}
