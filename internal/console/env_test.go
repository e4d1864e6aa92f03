package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/simrun"
	"github.com/sluicehq/sluice/internal/store"
)

const (
	adminToken  = "admin-token-ana-0123456789abcdef"
	viewerToken = "viewer-token-val-0123456789abcdef"
)

// env is a running Sluice (real SQLite file, real HTTP on loopback) whose
// CRM is the HubSpot simulator, with the console at URL + "/ui/".
type env struct {
	t    *testing.T
	srv  *server.Server
	sims *simrun.Set
	URL  string
}

// leadFlow: leads need a company (held without one); phone is sensitive;
// HubSpot reviews conflicts.
const leadFlow = `
entities:
  lead:
    key: email
    schema:
      type: object
      required: [email, company]
      properties:
        email: {type: string, format: email}
        company: {type: string, minLength: 1}
        size: {type: string, enum: [small, medium, large]}
        amount: {type: number, minimum: 0}
        phone: {type: string}
flows:
  leads:
    source: webforms
    entity: lead
    normalize:
      fields:
        email: {from: email, type: email}
        name: {from: name, trim: true}
        company: {from: company, trim: true}
        size: {from: size}
        amount: {from: amount, type: number}
        phone: {from: phone, sensitive: true}
    routes:
      crm:
        destination: hubspot
        map: {fields: {email: {from: email}, firstname: {from: name}, company: {from: company}}}
`

func newEnv(t *testing.T) *env {
	t.Helper()
	sims, err := simrun.Start(simrun.Options{Seed: 7, Unlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sims.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dests := sims.DestinationsYAML(true, 3)
	// Only HubSpot is routed to; it reviews conflicts.
	dests = strings.Replace(dests, "  hubspot:\n    type: hubspot\n", "  hubspot:\n    type: hubspot\n    on_conflict: review\n", 1)
	raw := fmt.Sprintf("listen: %q\nstore: %q\nadmin_tokens:\n  - {name: ana, token: %q, role: admin}\n  - {name: val, token: %q, role: viewer}\nsources:\n  webforms: {allow_unsigned: true}\n",
		ln.Addr().String(), filepath.Join(t.TempDir(), "console.db"), adminToken, viewerToken) + leadFlow + dests
	c, err := config.Parse([]byte(raw), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return &env{t: t, srv: srv, sims: sims, URL: "http://" + ln.Addr().String()}
}

// capture sends one lead through the gate, as intake would.
func (e *env) capture(lead map[string]any) pipeline.CaptureResult {
	e.t.Helper()
	body, _ := json.Marshal(lead)
	res, err := e.srv.Gate.Capture(context.Background(), pipeline.CaptureInput{Source: "webforms", ContentType: "application/json", Body: body, Payload: lead})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) event(id string) *store.Event {
	e.t.Helper()
	ev, err := e.srv.Driver.Executor().EventGetByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// auditActors lists "action by actor" of an event's trail.
func (e *env) audit(id string) []string {
	e.t.Helper()
	as, err := e.srv.Driver.Executor().AuditListByEvent(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, string(a.Action)+" by "+a.Actor)
	}
	return out
}

// waitFor polls cond (the engine delivers asynchronously); it is a
// deadline for the test, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second) // generous: a loaded 2-core CI machine
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a browser-like HTTP client: a cookie jar, no redirects
// followed (so tests see them), and same-origin headers on POSTs.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, base: e.URL, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	Code int
	Body string
	Loc  string
	H    http.Header
}

func (c *client) do(method, path string, form url.Values, hdr map[string]string) resp {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", c.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Code: res.StatusCode, Body: string(b), Loc: res.Header.Get("Location"), H: res.Header}
}

func (c *client) get(path string) resp { return c.do(http.MethodGet, path, nil, nil) }
func (c *client) post(path string, form url.Values) resp {
	return c.do(http.MethodPost, path, form, nil)
}

func (c *client) signIn(token string) {
	c.t.Helper()
	r := c.post("/ui/signin", url.Values{"token": {token}})
	if r.Code != http.StatusSeeOther || r.Loc != "/ui/" {
		c.t.Fatalf("sign in: %d %s %s", r.Code, r.Loc, r.Body)
	}
}

var _ sync.Mutex

// changeInHubSpot edits a contact in the simulator, as a person in HubSpot
// would.
func (e *env) changeInHubSpot(email string, props map[string]any) {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"properties": props})
	req, _ := http.NewRequest(http.MethodPatch, e.sims.URL["hubspot"]+"/crm/v3/objects/contacts/"+url.PathEscape(email)+"?idProperty=email", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+simrun.HubSpotToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		e.t.Fatalf("hubspot update: %d %s", res.StatusCode, body)
	}
}

// hubspot returns the simulator's contact with that email.
func (e *env) hubspot(email string) map[string]string {
	for _, r := range e.sims.HubSpot.Records("contacts") {
		if r["email"] == email {
			return r
		}
	}
	return nil
}

// conflict delivers a lead, changes it in HubSpot, sends an update and
// returns the conflict escalation that opens.
func (e *env) conflict(email string) string {
	e.t.Helper()
	e.capture(map[string]any{"email": email, "name": "Ada", "company": "Acme"})
	waitFor(e.t, "the lead in HubSpot", func() bool { return e.hubspot(email) != nil })
	waitFor(e.t, "the delivery confirmed", func() bool {
		id, err := e.srv.Driver.Executor().IdentityGet(context.Background(), "hubspot", email)
		return err == nil && id != ""
	})
	e.changeInHubSpot(email, map[string]any{"firstname": "Ada L.", "company": "Acme Europe"})
	e.capture(map[string]any{"email": email, "name": "Ada", "company": "Acme Global"})
	var esc string
	waitFor(e.t, "a conflict escalation", func() bool {
		escs, _ := e.srv.Driver.Executor().EscalationList(context.Background(), &store.EscalationListParams{Status: store.EscalationOpen, Limit: 100})
		for _, x := range escs {
			if x.Kind == "conflict_review" {
				esc = x.ID
				return true
			}
		}
		return false
	})
	return esc
}

func (e *env) ticketEvent(esc string) string {
	e.t.Helper()
	t, err := e.srv.Tickets.Get(context.Background(), esc)
	if err != nil {
		e.t.Fatal(err)
	}
	return t.EventID
}
