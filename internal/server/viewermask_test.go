package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
)

// TestViewerListsMaskEchoedValues: a destination that refuses a record
// and echoes it in its error puts the record's sensitive value into the
// escalation's last error. A viewer reading escalations, tickets and
// failure groups (lists and single views) sees it masked, as on events
// show; an admin sees the error as stored.
func TestViewerListsMaskEchoedValues(t *testing.T) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid record","record":%s}`, body)
	}))
	defer sink.Close()
	cfg := strings.Replace(sensitiveConfig, `{url: "http://127.0.0.1:1/x"}`, fmt.Sprintf(`{url: %q}`, sink.URL+"/x"), 1)
	cfg = strings.Replace(cfg, "poll_interval: 1h", "poll_interval: 20ms", 1)
	c, err := config.Parse(fmt.Appendf(nil, cfg, filepath.Join(t.TempDir(), "s.db")), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()
	url := "http://" + ln.Addr().String()

	const ssn = "987-65-4321"
	resp, out := post(t, url, `{"email":"echo@b.co","person":{"ssn":"`+ssn+`"},"tier":"gold"}`, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("want 202, got %d %v", resp.StatusCode, out)
	}
	var escID, groupID string
	deadline := time.Now().Add(60 * time.Second)
	for escID == "" {
		_, body := adminGet(t, url, "/v1/escalations", "ops-token-0123456789")
		var list struct {
			Escalations []struct {
				ID        string `json:"id"`
				Group     string `json:"group"`
				LastError string `json:"last_error"`
			} `json:"escalations"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Escalations) == 1 && strings.Contains(list.Escalations[0].LastError, ssn) {
			escID, groupID = list.Escalations[0].ID, list.Escalations[0].Group
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no escalation echoing the value for admins: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	paths := []string{"/v1/escalations", "/v1/escalations/" + escID, "/v1/tickets", "/v1/tickets/" + escID,
		"/v1/escalation-groups", "/v1/escalation-groups/" + groupID}
	for _, p := range paths {
		resp, body := adminGet(t, url, p, "view-token-0123456789")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("viewer %s: %d %s", p, resp.StatusCode, body)
			continue
		}
		if strings.Contains(string(body), ssn) {
			t.Errorf("viewer sees the sensitive value in %s:\n%s", p, body)
		}
	}
}
