// Package console is the operator web console under /ui/: the people
// Sluice's escalation paths end at (operations and sales-ops staff) fix held
// records, work escalations, settle conflicts and pause destinations in a
// browser. Pages are Go html/template rendered on the server, charts are SVG
// drawn on the server, and the little JavaScript there is (static/console.js)
// only adds live refresh and checks inputs before submit; everything works
// with plain form posts.
//
// Every action goes through the same pipeline (Gate) methods the admin API
// uses, declared here as the narrow port Ops; the console never writes the
// store (sessions, its own bookkeeping, excepted). Sign-in exchanges an
// admin or viewer token for a server-side session kept in the store;
// state-changing requests are refused cross-origin.
package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/ticket"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Ops is what the console asks of the pipeline: the Gate's operator
// actions, the same ones the admin API calls. *pipeline.Gate implements it.
type Ops interface {
	HoldPatchIf(ctx context.Context, eventID string, fields map[string]any, actor string, version time.Time) (*store.Event, error)
	HoldRelease(ctx context.Context, eventID, actor string) (*store.Event, error)
	EventDiscard(ctx context.Context, eventID, reason, actor string) (*store.Event, error)
	EscalationRetry(ctx context.Context, escID, actor string) (*store.Escalation, error)
	EscalationResolve(ctx context.Context, escID, note, actor string) (*store.Escalation, error)
	EscalationDiscard(ctx context.Context, escID, reason, actor string) (*store.Escalation, error)
	EscalationGroupList(ctx context.Context, p store.EscalationGroupListParams) ([]*pipeline.EscalationGroup, error)
	DestinationSetPaused(ctx context.Context, name string, paused bool, actor, reason string) (*store.DestinationState, error)
}

// Tickets is the escalation ticket workflow the console works tickets
// through (*ticket.Workflow implements it); its changes run through the
// gate.
type Tickets interface {
	Get(ctx context.Context, id string) (*ticket.Ticket, error)
	List(ctx context.Context, p *store.TicketListParams) ([]*ticket.Ticket, error)
	AssignIf(ctx context.Context, id, owner, actor string, version time.Time) (*ticket.Ticket, error)
	Acknowledge(ctx context.Context, id, actor string) (*ticket.Ticket, error)
	AddNote(ctx context.Context, id, text, actor string) (*ticket.Ticket, error)
	PatchRetryIf(ctx context.Context, id string, fields map[string]any, actor string, version time.Time, note string) (*ticket.Ticket, error)
	Bulk(ctx context.Context, p ticket.BulkParams) (*ticket.BulkResult, error)
}

var (
	_ Ops     = (*pipeline.Gate)(nil)
	_ Tickets = (*ticket.Workflow)(nil)
)

// Reader is what the console reads: single items, an event's deliveries
// and audit trail, and the console searches and rollups.
type Reader interface {
	EventGetByID(ctx context.Context, id string) (*store.Event, error)
	DeliveryListByEvent(ctx context.Context, eventID string) ([]*store.Delivery, error)
	DeliveryGetByID(ctx context.Context, id string) (*store.Delivery, error)
	AuditListByEvent(ctx context.Context, eventID string) ([]*store.AuditEntry, error)
	EscalationList(ctx context.Context, p *store.EscalationListParams) ([]*store.Escalation, error)
	ReconciliationList(ctx context.Context, p *store.ReconciliationListParams) ([]*store.Reconciliation, error)
	DestinationStateGet(ctx context.Context, name string) (*store.DestinationState, error)
	store.ConsoleStore
}

// Lookup reads a record as a destination has it now (for conflicts: the
// "theirs" side). It returns ok=false when the destination cannot be read
// back or has no such record.
type Lookup func(ctx context.Context, destination, recordKey string) (map[string]any, bool, error)

// Config builds a Console.
type Config struct {
	Ops     Ops
	Tickets Tickets
	Read    Reader
	// Plan is the compiled config in force (it changes on reload).
	Plan func() *pipeline.Plan
	// Config is the config in force (tokens, destinations, schemas).
	Config func() *config.Config
	// Lookup reads destinations back for the conflict view; may be nil.
	Lookup Lookup
	// Extra returns lines for the Destinations page (drift, SLA breaches,
	// breaker state); may be nil.
	Extra func(ctx context.Context) DestinationExtras
	Now   func() time.Time
	Log   *slog.Logger
	// IdleTimeout (default 30m) and MaxAge (default 12h) end sessions.
	IdleTimeout, MaxAge time.Duration
	// OnChange is called after an action that may create ready work.
	OnChange func()
}

// DestinationExtras are findings shown on the Destinations page, computed
// by the control layer.
type DestinationExtras struct {
	Health map[string]DestinationHealth // destination -> its worker on this instance
	Drift  []string                     // source drift findings, one line each
	SLA    []string                     // open SLA breaches, one line each
	Notes  map[string][]string          // destination -> extra lines
}

// DestinationHealth is a destination's delivery worker as this instance
// sees it: circuit, pace and latest failure (its message already passed
// through the gate's redaction).
type DestinationHealth struct {
	Breaker     string // "closed", "half-open" or "open"
	Failures    uint32 // consecutive failed requests
	Rate        float64
	Adaptive    float64 // the rate 429s cut it to; 0 when not cut
	Concurrency int
	LastErrorAt time.Time
	LastClass   string
	LastStatus  int
	LastError   string
}

// Console serves /ui/.
type Console struct {
	c     Config
	sess  *sessions
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New builds the console.
func New(c Config) (*Console, error) {
	if c.Ops == nil || c.Tickets == nil || c.Read == nil || c.Plan == nil || c.Config == nil {
		return nil, errors.New("console: Ops, Tickets, Read, Plan and Config are required")
	}
	if c.Now == nil {
		c.Now = func() time.Time { return time.Now().UTC() }
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 12 * time.Hour
	}
	k := &Console{c: c, sess: newSessions(c.Read, c.Now, c.IdleTimeout, c.MaxAge), pages: map[string]*template.Template{}}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		k.pages[base] = t
	}
	k.pages["conflicts"] = k.pages["tickets"]
	k.routes()
	return k, nil
}

// Handler is the console with its security middleware; mount it at /ui/.
func (k *Console) Handler() http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return secureHeaders(cop.Handler(k.mux))
}

// secureHeaders sets the headers every console answer carries: a CSP with
// no inline scripts or styles, no framing, no sniffing, no caching.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

const cookieName = "sluice_console"

type ctxKey struct{}

// user is the signed-in person of a request.
type user struct {
	Name string
	Role string
	sid  string
}

func (u *user) Admin() bool { return u != nil && u.Role == "admin" }

// Actor is the audit actor of the person's actions.
func (u *user) Actor() string { return "console:" + u.Name }

// page is a handler that needs a signed-in person; admin handlers refuse
// viewers before doing anything.
type handler func(w http.ResponseWriter, r *http.Request, u *user) error

func (k *Console) signedIn(admin bool, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie(cookieName)
		var s *store.ConsoleSession
		if c != nil {
			var err error
			if s, err = k.sess.get(r.Context(), c.Value); err != nil {
				k.c.Log.Error("console session", "err", err)
				http.Error(w, "sessions are unavailable (the store could not be read); try again", http.StatusServiceUnavailable)
				return
			}
		}
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/signin?expired="+map[bool]string{true: "1", false: ""}[c != nil], http.StatusSeeOther)
				return
			}
			http.Error(w, "not signed in (or the session expired)", http.StatusUnauthorized)
			return
		}
		u := &user{Name: s.Actor, Role: s.Role, sid: c.Value}
		if admin && !u.Admin() {
			http.Error(w, fmt.Sprintf("%s has role %s; this action needs admin", u.Name, u.Role), http.StatusForbidden)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, u))
		if err := h(w, r, u); err != nil {
			k.fail(w, r, u, err)
		}
	})
}

func (k *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /ui/signin", k.signinPage)
	m.HandleFunc("POST /ui/signin", k.signin)
	m.Handle("POST /ui/signout", k.signedIn(false, k.signout))
	read := func(p string, h handler) { m.Handle("GET "+p, k.signedIn(false, h)) }
	act := func(p string, h handler) { m.Handle("POST "+p, k.signedIn(true, h)) }
	m.Handle("GET /ui/{$}", k.signedIn(false, k.overview))
	read("/ui/overview/live", k.overviewLive)
	read("/ui/holds", k.holds)
	read("/ui/holds/{id}", k.hold)
	act("/ui/holds/{id}", k.holdAction)
	act("/ui/holds-bulk", k.holdsBulk)
	read("/ui/tickets", k.tickets)
	read("/ui/tickets/{id}", k.ticket)
	act("/ui/tickets/{id}", k.ticketAction)
	act("/ui/tickets-bulk", k.ticketsBulk)
	read("/ui/conflicts", k.conflicts)
	read("/ui/conflicts/{id}", k.conflict)
	act("/ui/conflicts/{id}", k.conflictApply)
	read("/ui/events", k.events)
	read("/ui/events/{id}", k.event)
	read("/ui/destinations", k.destinations)
	act("/ui/destinations/{name}", k.destinationAction)
	k.mux = m
}

func (k *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	k.render(w, r, http.StatusOK, "signin", nil, map[string]any{"Expired": r.URL.Query().Get("expired") == "1"})
}

// signin exchanges a token for a session. The token is compared in
// constant time and forgotten; the session keeps the name and role.
func (k *Console) signin(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	var match *config.AdminToken
	for i := range k.c.Config().AdminTokens {
		t := &k.c.Config().AdminTokens[i]
		if tok != "" && subtle.ConstantTimeCompare([]byte(t.Token), []byte(tok)) == 1 {
			match = t
		}
	}
	if match == nil {
		k.render(w, r, http.StatusUnauthorized, "signin", nil, map[string]any{"Error": "That token is not valid."})
		return
	}
	role := match.Role
	if role == "" {
		role = "admin" // the config's default
	}
	if role != "admin" {
		role = "viewer"
	}
	id, err := k.sess.create(r.Context(), match.Name, role)
	if err != nil {
		k.c.Log.Error("console session", "err", err)
		http.Error(w, "could not start a session", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/ui/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(k.c.MaxAge.Seconds())})
	k.c.Log.Info("console sign-in", "actor", match.Name, "role", role)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (k *Console) signout(w http.ResponseWriter, r *http.Request, u *user) error {
	if err := k.sess.end(r.Context(), u.sid); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/ui/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
	return nil
}

// view is what every page template gets.
type view struct {
	User  *user
	Title string
	Nav   string
	Flash string
	Error string
	Data  any
	Now   time.Time
}

func (k *Console) render(w http.ResponseWriter, r *http.Request, code int, page string, u *user, data any) {
	t := k.pages[page]
	if t == nil {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	v := view{User: u, Title: titles[page], Nav: page, Data: data, Now: k.c.Now(), Flash: r.URL.Query().Get("ok")}
	if m, ok := data.(map[string]any); ok {
		if e, ok := m["Error"].(string); ok {
			v.Error = e
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		k.c.Log.Error("console render", "page", page, "err", err)
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

var titles = map[string]string{"signin": "Sign in", "overview": "Overview", "holds": "Holds", "hold": "Held record",
	"tickets": "Escalations", "ticket": "Escalation", "conflicts": "Conflicts", "conflict": "Conflict",
	"events": "Events", "event": "Event", "destinations": "Destinations", "error": "Error"}
