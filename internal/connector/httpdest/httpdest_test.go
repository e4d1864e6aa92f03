package httpdest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/httpdest"
	"github.com/sluicehq/sluice/internal/signature"
)

// seen is one request as the test server received it.
type seen struct {
	Method     string
	RequestURI string
	Header     http.Header
	Body       []byte
}

// recorder is a loopback receiver that records requests and answers with
// respond.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newRecorder(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, seen{r.Method, r.RequestURI, r.Header.Clone(), body})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		respond(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) requests() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.reqs...)
}

func (r *recorder) last(t *testing.T) seen {
	t.Helper()
	reqs := r.requests()
	if len(reqs) == 0 {
		t.Fatal("server received no request")
	}
	return reqs[len(reqs)-1]
}

func reply(status int, body string, headers ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// open builds the connector through the registry, as the engine does.
func open(t *testing.T, options map[string]any) connector.Connector {
	t.Helper()
	c, err := connector.New("http", connector.Params{Name: "crm", Options: options, AllowPrivateNetwork: true})
	if err != nil {
		t.Fatalf("connector.New: %v", err)
	}
	t.Cleanup(func() { _ = connector.Close(context.Background(), c) })
	return c
}

func delivery() connector.Delivery {
	return connector.Delivery{
		ID:        "dlv_01",
		EventID:   "evt_01",
		Route:     "crm-contacts",
		RecordKey: "cust-42",
		Payload:   map[string]any{"email": "a@example.com", "tenant": "acme", "n": 12345678.0},
		Upstream:  map[string]string{"crm": "crm-9"},
		Attempt:   1,
	}
}

func classified(t *testing.T, err error) *connector.Error {
	t.Helper()
	var ce *connector.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connector.Error", err, err)
	}
	return ce
}

func TestDeliverCreate(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, reply(201, `{"id":"ext-1","name":"x"}`))
	c := open(t, map[string]any{
		"url": srv.URL + `/customers/{{.RecordKey}}?event={{.EventID}}&crm={{index .Upstream "crm"}}&n={{index .Payload "n"}}`,
		"headers": map[string]any{
			"X-Route":  "{{.Route}}",
			"X-Tenant": `{{index .Payload "tenant"}}`,
		},
	})
	res, err := c.Deliver(context.Background(), delivery())
	if err != nil {
		t.Fatal(err)
	}
	if res.ExternalID != "ext-1" || res.Status != 201 {
		t.Errorf("Result = %+v, want ExternalID ext-1, Status 201", res)
	}
	got := srv.last(t)
	if got.Method != "POST" {
		t.Errorf("method = %s, want POST", got.Method)
	}
	if want := "/customers/cust-42?event=evt_01&crm=crm-9&n=12345678"; got.RequestURI != want {
		t.Errorf("URI = %s, want %s", got.RequestURI, want)
	}
	for k, want := range map[string]string{
		"Idempotency-Key": "dlv_01",
		"Content-Type":    "application/json",
		"User-Agent":      "sluice/1",
		"X-Route":         "crm-contacts",
		"X-Tenant":        "acme",
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil || body["email"] != "a@example.com" || body["n"] != 12345678.0 {
		t.Errorf("body = %s (%v), want the payload", got.Body, err)
	}
}

func TestIdempotencyKeyStableAcrossAttempts(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, reply(503, "busy"))
	c := open(t, map[string]any{"url": srv.URL + "/hook"})
	d := delivery()
	for d.Attempt = 1; d.Attempt <= 3; d.Attempt++ {
		_, _ = c.Deliver(context.Background(), d)
	}
	for i, r := range srv.requests() {
		if k := r.Header.Get("Idempotency-Key"); k != "dlv_01" {
			t.Errorf("attempt %d: Idempotency-Key = %q", i+1, k)
		}
	}
}

func TestExternalIDFromResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		idField  string
		body     string
		external string
		want     string
	}{
		{"string id", "", `{"id":"abc"}`, "", "abc"},
		{"64-bit number id keeps precision", "", `{"id":9007199254740993}`, "", "9007199254740993"},
		{"nested field", "data.record_id", `{"data":{"record_id":"r-7"}}`, "", "r-7"},
		{"absent falls back to record key", "", `{"ok":true}`, "", "cust-42"},
		{"absent keeps known external id", "", `{"ok":true}`, "ext-old", "ext-old"},
		{"empty body", "", ``, "", "cust-42"},
		{"not json", "", `accepted`, "", "cust-42"},
		{"id not a scalar", "", `{"id":{"x":1}}`, "", "cust-42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, reply(200, tt.body))
			opts := map[string]any{"url": srv.URL + "/hook"}
			if tt.idField != "" {
				opts["id_field"] = tt.idField
			}
			d := delivery()
			d.ExternalID = tt.external
			res, err := open(t, opts).Deliver(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExternalID != tt.want {
				t.Errorf("ExternalID = %q, want %q", res.ExternalID, tt.want)
			}
		})
	}
}

func TestUpdateEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       map[string]any
		external   string
		wantMethod string
		wantURI    string
	}{
		{"create", map[string]any{"update_url": "/c/{{.ExternalID}}", "update_method": "patch"}, "", "POST", "/c"},
		{"update url and method", map[string]any{"update_url": "/c/{{.ExternalID}}", "update_method": "patch"}, "e-1", "PATCH", "/c/e-1"},
		{"update method only", map[string]any{"update_method": "PUT"}, "e-1", "PUT", "/c"},
		{"update url only keeps method", map[string]any{"update_url": "/c/{{.ExternalID}}", "method": "PUT"}, "e-1", "PUT", "/c/e-1"},
		{"no update config", map[string]any{}, "e-1", "POST", "/c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, reply(200, `{}`))
			opts := map[string]any{"url": srv.URL + "/c"}
			for k, v := range tt.opts {
				if k == "update_url" {
					v = srv.URL + v.(string)
				}
				opts[k] = v
			}
			d := delivery()
			d.ExternalID = tt.external
			if _, err := open(t, opts).Deliver(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			got := srv.last(t)
			if got.Method != tt.wantMethod || got.RequestURI != tt.wantURI {
				t.Errorf("request = %s %s, want %s %s", got.Method, got.RequestURI, tt.wantMethod, tt.wantURI)
			}
		})
	}
}

func TestBearerAndHMAC(t *testing.T) {
	t.Parallel()
	const token, secret = "tok-123456", "hmac-secret-abcdef"
	// The receiver is Sluice's own hmac-sha256 source verifier: a Sluice
	// destination must be accepted by a Sluice source.
	v, err := signature.New(signature.Config{Scheme: signature.HMACSHA256, Secrets: []string{secret}, Header: "X-Sluice-Signature"})
	if err != nil {
		t.Fatal(err)
	}
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(r.Header, body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(200)
	})
	c := open(t, map[string]any{"url": srv.URL + "/hook", "bearer_token": token, "hmac_secret": secret})
	before := time.Now().Unix()
	if _, err := c.Deliver(context.Background(), delivery()); err != nil {
		t.Fatal(err)
	}
	got := srv.last(t)
	if a := got.Header.Get("Authorization"); a != "Bearer "+token {
		t.Errorf("Authorization = %q", a)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(got.Body)
	if s, want := got.Header.Get("X-Sluice-Signature"), "sha256="+hex.EncodeToString(m.Sum(nil)); s != want {
		t.Errorf("X-Sluice-Signature = %q, want %q", s, want)
	}
	ts, err := strconv.ParseInt(got.Header.Get("X-Sluice-Timestamp"), 10, 64)
	if err != nil || ts < before || ts > time.Now().Unix() {
		t.Errorf("X-Sluice-Timestamp = %q, want the send time", got.Header.Get("X-Sluice-Timestamp"))
	}
}

func TestStatusClassification(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 400) // 800 bytes
	tests := []struct {
		name       string
		status     int
		body       string
		header     []string
		class      connector.Class
		message    string
		retryAfter func(time.Duration) bool
	}{
		{"400", 400, `{"error":"email is invalid"}`, nil, connector.Permanent, `{"error":"email is invalid"}`, nil},
		{"401", 401, "bad token\n", nil, connector.Auth, "bad token", nil},
		{"403", 403, "", nil, connector.Auth, "Forbidden", nil},
		{"409", 409, "exists", nil, connector.Conflict, "exists", nil},
		{"422", 422, "unprocessable", nil, connector.Permanent, "unprocessable", nil},
		{"429 seconds", 429, "slow down", []string{"Retry-After", "7"}, connector.Retryable, "slow down", exactly(7 * time.Second)},
		{"429 date", 429, "slow down", []string{"Retry-After", time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)}, connector.Retryable, "slow down", between(25*time.Second, 31*time.Second)},
		{"429 past date", 429, "", []string{"Retry-After", "Mon, 02 Jan 2006 15:04:05 GMT"}, connector.Retryable, "Too Many Requests", exactly(0)},
		{"500", 500, "boom", nil, connector.Retryable, "boom", exactly(0)},
		{"503 with retry-after", 503, "maintenance", []string{"Retry-After", "120"}, connector.Retryable, "maintenance", exactly(2 * time.Minute)},
		{"503 garbage retry-after", 503, "maintenance", []string{"Retry-After", "soon"}, connector.Retryable, "maintenance", exactly(0)},
		// A receiver cannot hold the destination's worker longer than
		// MaxRetryAfter, nor confuse it with a negative wait.
		{"429 huge retry-after", 429, "", []string{"Retry-After", "999999999"}, connector.Retryable, "Too Many Requests", exactly(connector.MaxRetryAfter)},
		{"429 far date", 429, "", []string{"Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"}, connector.Retryable, "Too Many Requests", exactly(connector.MaxRetryAfter)},
		{"429 negative retry-after", 429, "", []string{"Retry-After", "-30"}, connector.Retryable, "Too Many Requests", exactly(0)},
		{"redirect is not followed", 302, "", []string{"Location", "http://127.0.0.1:1/elsewhere"}, connector.Permanent, "Found", nil},
		{"long body trimmed on a rune boundary", 400, long, nil, connector.Permanent, long[:512], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, reply(tt.status, tt.body, tt.header...))
			_, err := open(t, map[string]any{"url": srv.URL + "/hook"}).Deliver(context.Background(), delivery())
			ce := classified(t, err)
			if ce.Class != tt.class || ce.Status != tt.status || !ce.Sent {
				t.Errorf("error = {Class %s Status %d Sent %v}, want {%s %d true}", ce.Class, ce.Status, ce.Sent, tt.class, tt.status)
			}
			if ce.Message != tt.message {
				t.Errorf("Message = %q, want %q", ce.Message, tt.message)
			}
			if tt.retryAfter != nil && !tt.retryAfter(ce.RetryAfter) {
				t.Errorf("RetryAfter = %s", ce.RetryAfter)
			}
		})
	}
}

func exactly(d time.Duration) func(time.Duration) bool {
	return func(got time.Duration) bool { return got == d }
}

func between(lo, hi time.Duration) func(time.Duration) bool {
	return func(got time.Duration) bool { return got >= lo && got <= hi }
}

func TestTimeoutAfterSendIsAmbiguous(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c := open(t, map[string]any{"url": srv.URL + "/slow", "timeout": "100ms"})
	start := time.Now()
	_, err := c.Deliver(context.Background(), delivery())
	ce := classified(t, err)
	if ce.Class != connector.Retryable || !ce.Sent || ce.Status != 0 {
		t.Errorf("error = {Class %s Sent %v Status %d}, want {retryable true 0}", ce.Class, ce.Sent, ce.Status)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Deliver took %s with a 100ms timeout", el)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestConnectionRefusedIsNotSent(t *testing.T) {
	t.Parallel()
	c := open(t, map[string]any{"url": "http://" + closedAddr(t) + "/hook"})
	_, err := c.Deliver(context.Background(), delivery())
	ce := classified(t, err)
	if ce.Class != connector.Retryable || ce.Sent || ce.Status != 0 {
		t.Errorf("error = {Class %s Sent %v Status %d}, want {retryable false 0}", ce.Class, ce.Sent, ce.Status)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		wantFound bool
		wantID    string
		wantClass connector.Class
	}{
		{"found", 200, `{"id":"ext-9","email":"a@example.com","n":3}`, true, "ext-9", ""},
		{"found without id field", 200, `{"email":"a@example.com"}`, true, "cust 42/x", ""},
		{"found in a one-element list", 200, `[{"id":77,"email":"a@example.com"}]`, true, "77", ""},
		{"not found", 404, `{"error":"no such record"}`, false, "", ""},
		{"empty list", 200, `[]`, false, "", ""},
		{"several matches", 200, `[{"id":1},{"id":2}]`, false, "", connector.Conflict},
		{"not an object", 200, `"hello"`, false, "", connector.Permanent},
		{"auth", 401, `nope`, false, "", connector.Auth},
		{"server error", 500, `oops`, false, "", connector.Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, reply(tt.status, tt.body))
			c := open(t, map[string]any{
				"url":        srv.URL + "/c",
				"lookup_url": srv.URL + "/c/{{.RecordKey}}",
			})
			lk, ok := c.(connector.Looker)
			if !ok {
				t.Fatal("connector with lookup_url is not a connector.Looker")
			}
			id, fields, found, err := lk.Lookup(context.Background(), "cust 42/x")
			if tt.wantClass != "" {
				if ce := classified(t, err); ce.Class != tt.wantClass {
					t.Fatalf("Lookup error class = %s, want %s (%v)", ce.Class, tt.wantClass, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.wantFound || id != tt.wantID {
				t.Errorf("Lookup = %q, found %v; want %q, %v", id, found, tt.wantID, tt.wantFound)
			}
			if found && fields["email"] != "a@example.com" {
				t.Errorf("fields = %v", fields)
			}
			if tt.name == "found" && fields["n"] != 3.0 {
				t.Errorf("fields[n] = %#v, want float64 3 like any decoded payload", fields["n"])
			}
			got := srv.last(t)
			if got.Method != "GET" || got.RequestURI != "/c/cust%2042%2Fx" {
				t.Errorf("lookup request = %s %s", got.Method, got.RequestURI)
			}
		})
	}
}

func TestLookerOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	c := open(t, map[string]any{"url": "https://example.com/hook"})
	if _, ok := c.(connector.Looker); ok {
		t.Error("connector without lookup_url implements connector.Looker")
	}
}

func TestAmbiguousRetryLooksUpFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		lookup    string // lookup response body; "" means 404
		update    bool
		want      []string
		wantExtID string
	}{
		{"found, updated", `{"id":"ext-5"}`, true, []string{"GET /c/cust-42", "PATCH /c/ext-5"}, "ext-5"},
		{"found, no update endpoint: taken as written", `{"id":"ext-5"}`, false, []string{"GET /c/cust-42"}, "ext-5"},
		{"not found, created", "", true, []string{"GET /c/cust-42", "POST /c"}, "new-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == "GET" && tt.lookup == "":
					w.WriteHeader(404)
				case r.Method == "GET":
					_, _ = io.WriteString(w, tt.lookup)
				case r.Method == "POST":
					_, _ = io.WriteString(w, `{"id":"new-1"}`)
				}
			})
			opts := map[string]any{"url": srv.URL + "/c", "lookup_url": srv.URL + "/c/{{.RecordKey}}"}
			if tt.update {
				opts["update_url"] = srv.URL + "/c/{{.ExternalID}}"
				opts["update_method"] = "PATCH"
			}
			d := delivery()
			d.Ambiguous = true
			res, err := open(t, opts).Deliver(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range srv.requests() {
				got = append(got, r.Method+" "+r.RequestURI)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || res.ExternalID != tt.wantExtID {
				t.Errorf("requests %v, ExternalID %q; want %v, %q", got, res.ExternalID, tt.want, tt.wantExtID)
			}
		})
	}
}

func TestSecretsNeverReported(t *testing.T) {
	t.Parallel()
	const (
		bearer  = "bearer-SECRET-1111"
		hmacKey = "hmac-SECRET-2222"
		apiKey  = "apikey-SECRET-3333"
		session = "session-SECRET-4444"
		urlPath = "path-SECRET-5555"
	)
	// A receiver that echoes every request header back in its error body,
	// as some do.
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_ = r.Header.Write(w)
	})
	opts := func(base string) map[string]any {
		return map[string]any{
			"url":          base + "/hooks/" + urlPath + "/{{.RecordKey}}",
			"bearer_token": bearer,
			"hmac_secret":  hmacKey,
			"headers": map[string]any{
				"X-Api-Key":       apiKey,
				"X-Session-Token": `{{index .Payload "session"}}`,
				"X-Plain":         "visible",
			},
		}
	}
	d := delivery()
	d.Payload["session"] = session
	secrets := []string{bearer, hmacKey, apiKey, session}

	c := open(t, opts(srv.URL))
	_, err := c.Deliver(context.Background(), d)
	ce := classified(t, err)
	if !strings.Contains(ce.Message, "X-Plain: visible") {
		t.Fatalf("echoed body missing from message: %q", ce.Message)
	}
	refused := open(t, opts("http://"+closedAddr(t)))
	_, errRefused := refused.Deliver(context.Background(), d)

	texts := map[string]string{
		"status error":    err.Error(),
		"status message":  ce.Message,
		"transport error": errRefused.Error(),
		"String":          fmt.Sprint(c),
		"%+v":             fmt.Sprintf("%+v", c),
		"%#v":             fmt.Sprintf("%#v", c),
	}
	for what, s := range texts {
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s leaks %q: %s", what, sec, s)
			}
		}
	}
	// The URL path can be the credential of a webhook URL; transport
	// errors and String show only the origin.
	for _, what := range []string{"transport error", "String"} {
		if strings.Contains(texts[what], urlPath) {
			t.Errorf("%s leaks the URL path: %s", what, texts[what])
		}
	}
}

func TestTemplateFailuresArePermanentAndUnsent(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, reply(200, `{}`))
	tests := map[string]map[string]any{
		"missing payload field in url":    {"url": srv.URL + `/c/{{index .Payload "nope"}}`},
		"missing field with dot syntax":   {"url": srv.URL + `/c/{{.Payload.nope}}`},
		"missing payload field in header": {"url": srv.URL + "/c", "headers": map[string]any{"X-A": `{{index .Payload "nope"}}`}},
		"header value with newline":       {"url": srv.URL + "/c", "headers": map[string]any{"X-A": `{{index .Payload "bad"}}`}},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := delivery()
			d.Payload["bad"] = "a\r\nX-Injected: 1"
			_, err := open(t, opts).Deliver(context.Background(), d)
			ce := classified(t, err)
			if ce.Class != connector.Permanent || ce.Sent {
				t.Errorf("error = {Class %s Sent %v} %v, want {permanent false}", ce.Class, ce.Sent, err)
			}
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("server received %d requests, want 0", n)
	}
}

func TestURLValuesAreEscaped(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, reply(200, `{}`))
	tests := []struct {
		name, url, key, want string
	}{
		{"path separators and query", "/c/{{.RecordKey}}", "../admin?x=1#f", "/c/..%2Fadmin%3Fx%3D1%23f"},
		{"dot-dot", "/c/{{.RecordKey}}/x", "..", "/c/%2E%2E/x"},
		{"query value", "/c?key={{.RecordKey}}", "a&b=c d+e", "/c?key=a%26b%3Dc%20d%2Be"},
		{"raw opts out", `/c/{{raw (index .Payload "path")}}`, "k", "/c/one/two"},
		{"urlquery is not escaped twice", "/c?k={{.RecordKey | urlquery}}", "a b", "/c?k=a+b"},
		// Literal URLs are parsed once, when the connector opens, and
		// sent as url.URL spells them, like rendered ones.
		{"literal with a query", "/in?a=1&b=two", "k", "/in?a=1&b=two"},
		{"literal with a space", "/in/a b", "k", "/in/a%20b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := delivery()
			d.RecordKey = tt.key
			d.Payload["path"] = "one/two"
			c := open(t, map[string]any{"url": srv.URL + tt.url})
			if _, err := c.Deliver(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, r := range srv.requests() {
				found = found || r.RequestURI == tt.want
			}
			if !found {
				t.Errorf("no request for %s among %v", tt.want, srv.requests())
			}
		})
	}
}

func TestConstraints(t *testing.T) {
	t.Parallel()
	got := open(t, map[string]any{
		"url": "https://example.com/hook", "rate_per_second": 2.5, "burst": 5, "concurrency": 3, "timeout": "3s",
	}).Constraints()
	want := connector.Constraints{RatePerSecond: 2.5, Burst: 5, BatchSize: 1, Timeout: 3 * time.Second, Concurrency: 3}
	if got != want {
		t.Errorf("Constraints = %+v, want %+v", got, want)
	}
	def := open(t, map[string]any{"url": "https://example.com/hook"}).Constraints()
	if def.RatePerSecond != 0 || def.BatchSize != 1 || def.Upsert || def.Timeout != httpdest.DefaultTimeout {
		t.Errorf("default Constraints = %+v", def)
	}
}

func TestOptionsRejected(t *testing.T) {
	t.Parallel()
	const u = "https://example.com/hook"
	tests := []struct {
		name string
		opts map[string]any
		want string
	}{
		{"unknown key", map[string]any{"url": u, "bearer": "x"}, "options.bearer: unknown option of type http (did you mean bearer_token?)"},
		{"no url", map[string]any{}, "options.url: required"},
		{"bad template", map[string]any{"url": u + "/{{.RecordKey"}, "options.url:"},
		{"unknown template field", map[string]any{"url": u + "/{{.Nope}}"}, `options.url: no field "Nope"`},
		{"unknown field via $", map[string]any{"url": u + "/{{with .Payload}}{{$.Recordkey}}{{end}}"}, `options.url: no field "Recordkey"`},
		{"unknown field in header", map[string]any{"url": u, "headers": map[string]any{"X-A": "{{if .Routes}}x{{end}}"}}, `options.headers.X-A: no field "Routes"`},
		{"unknown function", map[string]any{"url": u + "/{{nope .RecordKey}}"}, "options.url:"},
		{"relative", map[string]any{"url": "/hook"}, "options.url: must start with http:// or https://"},
		{"other scheme", map[string]any{"url": "ftp://example.com/x"}, "options.url: must start with http:// or https://"},
		{"templated host", map[string]any{"url": "https://{{.Route}}.example.com/x"}, "options.url: host must be literal"},
		{"host followed by action", map[string]any{"url": "https://example.com{{.Route}}"}, "options.url: host must be literal"},
		{"bad update url", map[string]any{"url": u, "update_url": "example.com/{{.ExternalID}}"}, "options.update_url:"},
		{"bad lookup url", map[string]any{"url": u, "lookup_url": "https://x/{{"}, "options.lookup_url:"},
		{"bad method", map[string]any{"url": u, "method": "PO ST"}, "options.method:"},
		{"bad update method", map[string]any{"url": u, "update_method": "P(T"}, "options.update_method:"},
		{"bad timeout", map[string]any{"url": u, "timeout": "soon"}, "options.timeout:"},
		{"zero timeout", map[string]any{"url": u, "timeout": "0s"}, "options.timeout:"},
		{"negative rate", map[string]any{"url": u, "rate_per_second": -1}, "options.rate_per_second:"},
		{"negative concurrency", map[string]any{"url": u, "concurrency": -1}, "options.concurrency:"},
		{"wrong type", map[string]any{"url": u, "burst": "five"}, "options.burst: want a whole number"},
		{"reserved header", map[string]any{"url": u, "headers": map[string]any{"idempotency-key": "x"}}, "options.headers.Idempotency-Key: set by Sluice"},
		{"authorization with bearer", map[string]any{"url": u, "bearer_token": "t", "headers": map[string]any{"Authorization": "Basic x"}}, "conflicts with bearer_token"},
		{"bad header name", map[string]any{"url": u, "headers": map[string]any{"X Bad": "x"}}, "not a valid header name"},
		{"bad header template", map[string]any{"url": u, "headers": map[string]any{"X-A": "{{"}}, "options.headers.X-A:"},
		{"bearer with newline", map[string]any{"url": u, "bearer_token": "a\nb"}, "options.bearer_token:"},
		{"bad id field", map[string]any{"url": u, "id_field": "data..id"}, "options.id_field:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := connector.New("http", connector.Params{Name: "crm", Options: tt.opts, AllowPrivateNetwork: true})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestStringRedacts(t *testing.T) {
	t.Parallel()
	c := open(t, map[string]any{
		"url":          "https://user:pw-SECRET@api.example.com/v1/{{.RecordKey}}",
		"update_url":   "https://api.example.com/v1/{{.ExternalID}}",
		"lookup_url":   "https://api.example.com/v1?key={{.RecordKey}}",
		"bearer_token": "tok",
		"headers":      map[string]any{"X-Api-Key": "k"},
	})
	want := `http destination "crm": POST https://api.example.com, update POST https://api.example.com, lookup GET https://api.example.com, bearer_token [redacted], headers X-Api-Key`
	if got := fmt.Sprint(c); got != want {
		t.Errorf("String =\n%s\nwant\n%s", got, want)
	}
}

// TestSendsRaw: a connection whose templates do not read the payload takes
// the stored JSON as it is; one whose templates may read it (by name, or
// by handing dot or $ whole to something) needs it decoded.
func TestSendsRaw(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url     string
		headers map[string]any
		raw     bool
	}{
		{"http://127.0.0.1:1/hook", nil, true},
		{"http://127.0.0.1:1/c/{{.RecordKey}}?e={{.EventID}}&u={{index .Upstream \"crm\"}}", map[string]any{"X-Route": "{{.Route}}"}, true},
		{"http://127.0.0.1:1/c/{{range $k, $v := .Upstream}}{{$v}}{{end}}", nil, true},
		{"http://127.0.0.1:1/c/{{.Payload.email}}", nil, false},
		{"http://127.0.0.1:1/c/{{index .Payload \"email\"}}", nil, false},
		{"http://127.0.0.1:1/c/{{with .Payload}}{{.email}}{{end}}", nil, false},
		{"http://127.0.0.1:1/c/{{$.Payload.email}}", nil, false},
		{"http://127.0.0.1:1/hook", map[string]any{"X-All": "{{printf \"%v\" .}}"}, false},
		{"http://127.0.0.1:1/hook", map[string]any{"X-All": "{{printf \"%v\" $}}"}, false},
		{"http://127.0.0.1:1/hook", map[string]any{"X-T": "{{index .Payload \"tenant\"}}"}, false},
	} {
		opts := map[string]any{"url": tc.url}
		if tc.headers != nil {
			opts["headers"] = tc.headers
		}
		c := open(t, opts)
		rs, ok := c.(connector.RawSender)
		if !ok {
			t.Fatalf("%T is not a connector.RawSender", c)
		}
		if rs.SendsRaw() != tc.raw {
			t.Errorf("url %s headers %v: SendsRaw = %v, want %v", tc.url, tc.headers, rs.SendsRaw(), tc.raw)
		}
	}
}

// TestRawBodyIsWhatPayloadWouldSend: the body sent from Raw is byte for
// byte the one sent from the decoded Payload, for JSON as the gate stores
// it (json.Marshal of the record): escapes, key order, numbers.
func TestRawBodyIsWhatPayloadWouldSend(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, reply(201, `{"id":"ext-1"}`))
	c := open(t, map[string]any{"url": srv.URL + "/hook/{{.RecordKey}}"})
	records := []map[string]any{
		{"email": "a@example.com", "n": 12345678.0, "tiny": 1e-7, "big": 1e21, "neg": -0.5, "t": true, "nil": nil},
		{"html": "<b>&amp;</b>", "sep": "a\u2028b\u2029c", "ctl": "tab\there\nnl\x01", "uni": "é漢字😀", "q": `"\/`},
		{"nested": map[string]any{"z": []any{1.0, "x", map[string]any{"b": 2.0, "a": nil}}, "a": []any{}}, "empty": map[string]any{}},
		{},
	}
	for _, rec := range records {
		stored, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var decoded map[string]any
		if err := json.Unmarshal(stored, &decoded); err != nil {
			t.Fatal(err)
		}
		d := delivery()
		d.Payload = decoded
		if _, err := c.Deliver(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		fromPayload := srv.last(t).Body
		d.Payload, d.Raw = nil, stored
		if _, err := c.Deliver(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		if fromRaw := srv.last(t).Body; !bytes.Equal(fromRaw, fromPayload) {
			t.Errorf("body from Raw %s, from Payload %s", fromRaw, fromPayload)
		}
	}
}
