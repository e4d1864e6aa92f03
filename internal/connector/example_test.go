package connector_test

// This file shows how to write a connector against the kit: a Spec that
// declares the options (and so drives decoding, `sluice check` and the
// docs), RoundTrip for the HTTP exchange, Register to make the type
// available to configs, and connectortest.Exercise to prove it to the
// delivery engine. The platform is "notes", a key-value API small enough
// to simulate in a few lines: PUT /notes/{key} stores a JSON record,
// GET /notes/{key} reads it back.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/connector"
	"github.com/sluicehq/sluice/internal/connector/connectortest"
	"github.com/sluicehq/sluice/internal/sim"
)

// notesSpec declares what a "notes" destination accepts. In a connector
// package it lives in spec.go and is registered from init.
var notesSpec = connector.Spec{
	Kind:  "notes",
	Title: "Notes (example)",
	Doc:   "Stores each record under its key with PUT /notes/{key}.",
	Options: []connector.Option{
		{Name: "base_url", Type: connector.URL, Required: true, Doc: "The API origin."},
		{Name: "token", Type: connector.String, Required: true, Secret: true, Doc: "The API token."},
		{Name: "timeout", Type: connector.Duration, Default: "10s", Doc: "Bounds one request."},
	},
}

// notesOptions is what the spec decodes into: one field per option.
type notesOptions struct {
	BaseURL string `json:"base_url"`
	Token   string `json:"token"`
	Timeout string `json:"timeout"`
}

// notesConn is the connector: a RoundTrip does the exchange (auth header,
// User-Agent, timeout classification, bounded body, Sent); the connector
// only builds requests and classifies the platform's answers.
type notesConn struct {
	base string
	rt   *connector.RoundTrip
	tr   *http.Transport
}

var (
	_ connector.Connector = (*notesConn)(nil)
	_ connector.Looker    = (*notesConn)(nil)
)

func openNotes(p connector.Params) (connector.Connector, error) {
	var o notesOptions
	if err := notesSpec.Decode(p, &o); err != nil {
		return nil, err // "options.<name>: ..." for each problem
	}
	timeout, _ := time.ParseDuration(o.Timeout) // the spec checked it
	client, tr := connector.HTTPClient(p.Name, p.Egress())
	return &notesConn{
		base: strings.TrimRight(o.BaseURL, "/"),
		tr:   tr,
		rt: &connector.RoundTrip{Client: client, Header: connector.Bearer(o.Token), Timeout: timeout,
			Redact: connector.NewRedactor(o.Token).Redact},
	}, nil
}

func init() {
	connector.RegisterSpec(&notesSpec)
	connector.Register("notes", openNotes)
}

func (c *notesConn) url(key string) string { return c.base + "/notes/" + url.PathEscape(key) }

// failure turns an answer other than 2xx into the class that steers the
// engine: retry, pause (auth, drift), escalate.
func failure(r *connector.Response) *connector.Error {
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &body)
	return &connector.Error{Class: connector.ClassifyStatus(r.Status), Status: r.Status, Message: body.Error,
		RetryAfter: connector.RetryAfterHeader(r.Header, time.Now())}
}

func (c *notesConn) Deliver(ctx context.Context, d connector.Delivery) (connector.Result, error) {
	body, err := connector.JSON(d.Payload)
	if err != nil {
		return connector.Result{}, err
	}
	// PUT by key is an upsert: a retry after an ambiguous outcome cannot
	// duplicate the record.
	r, err := c.rt.Do(ctx, connector.Request{Method: http.MethodPut, URL: c.url(d.RecordKey), Label: "PUT /notes", Body: body})
	if err != nil {
		return connector.Result{}, err
	}
	if r.Status/100 != 2 {
		return connector.Result{}, failure(r)
	}
	return connector.Result{ExternalID: d.RecordKey, Status: r.Status, Message: "stored"}, nil
}

func (c *notesConn) Lookup(ctx context.Context, key string) (string, map[string]any, bool, error) {
	r, err := c.rt.Do(ctx, connector.Request{Method: http.MethodGet, URL: c.url(key), Label: "GET /notes", Read: true})
	switch {
	case err != nil:
		return "", nil, false, err
	case r.Status == http.StatusNotFound:
		return "", nil, false, nil
	case r.Status != http.StatusOK:
		return "", nil, false, failure(r)
	}
	var fields map[string]any
	if err := json.Unmarshal(r.Body, &fields); err != nil {
		return "", nil, false, &connector.Error{Class: connector.Retryable, Status: r.Status, Message: "unreadable record: " + err.Error()}
	}
	return key, fields, true, nil
}

func (c *notesConn) Constraints() connector.Constraints {
	return connector.Constraints{BatchSize: 1, Upsert: true, RatePerSecond: 50, Burst: 10}
}

// Close releases idle connections (connector.Closer: the server calls it
// after the last delivery on the connector finished).
func (c *notesConn) Close(context.Context) error {
	c.tr.CloseIdleConnections()
	return nil
}

// notesSim is the platform's simulator, with the faults connectortest
// injects.
type notesSim struct {
	mu     sync.Mutex
	notes  map[string]json.RawMessage
	faults sim.Faults
}

func (s *notesSim) SetFaults(f sim.Faults) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	return nil
}

func (s *notesSim) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.notes[key]; ok {
		return 1
	}
	return 0
}

func (s *notesSim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	fail := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q}`, msg)
	}
	switch {
	case r.Header.Get("Authorization") != "Bearer notes-token-123" || f.Revoked:
		fail(http.StatusUnauthorized, "invalid token")
		return
	}
	draw := rand.Float64()
	for code, p := range f.Errors {
		if draw -= p; draw < 0 {
			status, _ := strconv.Atoi(code)
			fail(status, "injected "+code)
			return
		}
	}
	key := strings.TrimPrefix(r.URL.Path, "/notes/")
	switch r.Method {
	case http.MethodPut:
		var rec json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&rec); err != nil {
			fail(http.StatusBadRequest, "body is not JSON")
			return
		}
		s.mu.Lock()
		s.notes[key] = rec
		s.mu.Unlock()
		if f.TimeoutAfterWrite > 0 && rand.Float64() < f.TimeoutAfterWrite {
			// Applied, never answered: the ambiguous outcome.
			select {
			case <-r.Context().Done():
			case <-time.After(time.Duration(f.Hang)):
			}
			panic(http.ErrAbortHandler)
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		s.mu.Lock()
		rec, ok := s.notes[key]
		s.mu.Unlock()
		if !ok {
			fail(http.StatusNotFound, "no such note")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(rec)
	default:
		fail(http.StatusMethodNotAllowed, "method not allowed")
	}
}

func startNotes() (*notesSim, *httptest.Server) {
	s := &notesSim{notes: map[string]json.RawMessage{}}
	return s, httptest.NewServer(s)
}

// Example shows the connector in use as the engine uses it: built from a
// destination's options through the registry, a delivery, a lookup, and an
// option mistake as `sluice check` reports it.
func Example() {
	_, srv := startNotes()
	defer srv.Close()
	ctx := context.Background()

	conn, err := connector.New("notes", connector.Params{Name: "notes", AllowPrivateNetwork: true,
		Options: map[string]any{"base_url": srv.URL, "token": "notes-token-123"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer connector.Close(context.Background(), conn)
	res, err := conn.Deliver(ctx, connector.Delivery{ID: "dlv-1", RecordKey: "ada@example.com", Payload: map[string]any{"name": "Ada"}})
	fmt.Println(res.ExternalID, res.Message, err)
	_, fields, found, err := conn.(connector.Looker).Lookup(ctx, "ada@example.com")
	fmt.Println(found, fields["name"], err)

	_, err = connector.New("notes", connector.Params{Name: "notes",
		Options: map[string]any{"base_url": srv.URL, "tokn": "notes-token-123", "timeout": 5}})
	fmt.Println(err)
	// Output:
	// ada@example.com stored <nil>
	// true Ada <nil>
	// options.timeout: want a duration such as "10s" or "1m30s", got a number (5); options.token: required (The API token); options.tokn: unknown option of type notes (did you mean token?)
}

// TestExampleConnectorConformance runs the connector suite against the
// example: what every platform connector passes.
func TestExampleConnectorConformance(t *testing.T) {
	connectortest.CheckSpec(t, &notesSpec, notesOptions{})
	connectortest.Exercise(t, connectortest.Harness{
		New: func(t *testing.T) (connector.Connector, connectortest.Sim) {
			s, srv := startNotes()
			t.Cleanup(srv.Close)
			c, err := connector.New("notes", connector.Params{Name: "notes", AllowPrivateNetwork: true,
				Options: map[string]any{"base_url": srv.URL, "token": "notes-token-123"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { connector.Close(context.Background(), c) })
			return c, s
		},
		Payload:       func(key string, variant int) map[string]any { return map[string]any{"email": key, "n": variant} },
		Field:         "n",
		Count:         func(s connectortest.Sim, key string) int { return s.(*notesSim).count(key) },
		FieldValue:    func(fields map[string]any) any { return fields["n"] },
		ExpectedValue: func(_ string, variant int) any { return float64(variant) },
	})
}
