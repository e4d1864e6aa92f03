package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
)

// TestBadInput sends every kind of bad request and checks each gets its
// clear status and that the store holds exactly the events it should.
func TestBadInput(t *testing.T) {
	h := start(t)
	before := countEvents(t, h)

	signed := func(body []byte, ts time.Time, secretUsed string) *http.Request {
		id := fmt.Sprintf("bad-%d", time.Now().UnixNano())
		sig, err := signature.SignStandardWebhooks(secretUsed, id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", h.url+"/v1/sources/forms/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", fmt.Sprint(ts.Unix()))
		req.Header.Set("webhook-signature", sig)
		return req
	}
	deep := strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)
	huge := append([]byte(`{"contact":{"email":"big@example.com"},"pad":"`), bytes.Repeat([]byte("x"), 10<<20)...)
	huge = append(huge, `"}`...)
	otherSecret := "whsec_b3RoZXItc2VjcmV0LWtleS0xMjM0NTY3OA=="

	cases := []struct {
		name     string
		req      *http.Request
		want     int
		wantKind string
		creates  bool // a rejected event is stored (422); others store nothing
	}{
		{"malformed JSON", signed([]byte(`{"contact":`), time.Now(), secret), 400, "malformed", false},
		{"trailing garbage", signed([]byte(`{"a":1} {"b":2}`), time.Now(), secret), 400, "malformed", false},
		{"invalid UTF-8", signed([]byte("{\"contact\":{\"email\":\"\xff\xfe@x.com\"}}"), time.Now(), secret), 400, "malformed", false},
		{"deeply nested", signed([]byte(deep), time.Now(), secret), 400, "too_deep", false},
		{"10 MB body", signed(huge, time.Now(), secret), 413, "too_large", false},
		{"bad signature", signed([]byte(`{"contact":{"email":"a@b.co"}}`), time.Now(), otherSecret), 401, "bad_signature", false},
		{"stale signature", signed([]byte(`{"contact":{"email":"a@b.co"}}`), time.Now().Add(-10*time.Minute), secret), 401, "bad_signature", false},
		{"wrong types", signed([]byte(`{"contact":{"email":42},"company":{"x":1},"amount":true}`), time.Now(), secret), 422, "", true},
		{"array payload", signed([]byte(`[1,2,3]`), time.Now(), secret), 422, "", true},
	}
	stored := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.do(tc.req)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %v", code, tc.want, body)
			}
			if tc.wantKind != "" {
				e, _ := body["error"].(map[string]any)
				if e["kind"] != tc.wantKind || e["message"] == "" {
					t.Fatalf("error = %v, want kind %s with a message", body, tc.wantKind)
				}
			}
			if tc.want == 422 {
				if errs, _ := body["errors"].([]any); len(errs) == 0 {
					t.Fatalf("422 without errors: %v", body)
				}
			}
			if tc.creates {
				stored++
			}
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		req, _ := http.NewRequest("POST", h.url+"/v1/sources/forms/events", strings.NewReader("hello"))
		req.Header.Set("Content-Type", "text/plain")
		if code, _ := h.do(req); code != 415 {
			t.Fatalf("status %d, want 415", code)
		}
	})
	t.Run("unknown source", func(t *testing.T) {
		req, _ := http.NewRequest("POST", h.url+"/v1/sources/nope/events", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if code, _ := h.do(req); code != 404 {
			t.Fatalf("status %d, want 404", code)
		}
	})
	t.Run("admin without token", func(t *testing.T) {
		req, _ := http.NewRequest("GET", h.url+"/v1/events", nil)
		if code, _ := h.do(req); code != 401 {
			t.Fatalf("status %d, want 401", code)
		}
	})
	t.Run("viewer cannot act", func(t *testing.T) {
		req, _ := http.NewRequest("POST", h.url+"/v1/destinations/sink/pause", nil)
		req.Header.Set("Authorization", "Bearer view-token-0123456789")
		if code, _ := h.do(req); code != 403 {
			t.Fatalf("status %d, want 403", code)
		}
	})

	if got := countEvents(t, h); got != before+stored {
		t.Fatalf("store has %d events, want %d: bad input must not create half-written events", got, before+stored)
	}
	code, out := h.admin("GET", "/v1/audit/verify", "")
	if code != 200 || out["ok"] != true {
		t.Fatalf("audit after bad input: %v", out)
	}
}

func countEvents(t *testing.T, h *harness) int {
	t.Helper()
	_, out := h.admin("GET", "/v1/events?limit=1000", "")
	evs, _ := out["events"].([]any)
	return len(evs)
}
