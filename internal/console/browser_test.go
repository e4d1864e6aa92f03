package console_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/store"
)

// -screenshots regenerates docs/console/*.png; without it the screenshots
// go to a temporary directory (they are taken either way).
var screenshots = flag.Bool("screenshots", false, "write the console screenshots to docs/console/")

// chromium finds Debian's chromium (installed by .ci/run). Without it the
// browser tests skip locally but fail in CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (.ci/run installs it)")
	}
	t.Skip("chromium is not installed; apt-get install -y chromium")
	return ""
}

// browser starts one headless Chromium for a test. The flags keep it off
// the network: on a closed machine it would otherwise hang on connections.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 900), // the console must work at 1,024 px
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// tab opens a tab in a fresh browser context: its own cookies, as a
// separate person's browser would have.
func tab(t *testing.T, b context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	ctx, cancel2 := context.WithTimeout(ctx, 240*time.Second) // generous: a loaded 2-core machine
	t.Cleanup(func() { cancel2(); cancel() })
	return ctx
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// value runs one action that returns a value.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var shotDir struct {
	once sync.Once
	dir  string
}

// shot saves a full-page PNG of the current page.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shotDir.once.Do(func() {
		shotDir.dir = filepath.Join(os.TempDir(), "sluice-console-shots")
		if *screenshots {
			shotDir.dir = filepath.Join("..", "..", "docs", "console")
		}
		_ = os.MkdirAll(shotDir.dir, 0o755)
	})
	// Every page shot is also checked to fit the 1,024 px window: nothing
	// may need sideways scrolling.
	if over := value(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`)); over > 0 {
		t.Errorf("%s: the page is %d px wider than the 1,024 px window", name, over)
	}
	buf := value(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(shotDir.dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signInBrowser(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	// Keyboard only: the field has focus, Enter submits.
	run(t, ctx,
		chromedp.Navigate(base+"/ui/signin"),
		chromedp.WaitVisible(chromedp.ID(`#token`)),
		chromedp.SendKeys(chromedp.ID(`#token`), token+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`header.top`)),
	)
}

func TestBrowser(t *testing.T) {
	e := newEnv(t)
	b := browser(t)

	t.Run("sign in and overview", func(t *testing.T) {
		ctx := tab(t, b)
		run(t, ctx,
			chromedp.Navigate(e.URL+"/ui/signin"),
			chromedp.WaitVisible(chromedp.ID(`#token`)),
			chromedp.KeyEvent("\t"),
		)
		focusOutline := value(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outlineStyle`))
		if focusOutline == "none" || focusOutline == "" {
			t.Errorf("keyboard focus is not visible (outline %q)", focusOutline)
		}
		shot(t, ctx, "signin")
		signInBrowser(t, ctx, e.URL, adminToken)
		text := value(t, ctx, chromedp.Text(chromedp.CSS(`main`)))
		for _, want := range []string{"Failure rate", "Retry success", "Consistency", "Latency p50 / p95", "Logging completeness", "Queues"} {
			if !strings.Contains(text, want) {
				t.Errorf("overview lacks %q", want)
			}
		}
	})

	t.Run("fix and release a held lead; it arrives in HubSpot", func(t *testing.T) {
		id := heldLead(e, "browser-held@example.com")
		heldLead(e, "other-held@example.com")
		ctx := tab(t, b)
		signInBrowser(t, ctx, e.URL, adminToken)
		run(t, ctx, chromedp.Navigate(e.URL+"/ui/holds"), chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/holds/`+id+`"]`)))
		shot(t, ctx, "holds")
		run(t, ctx,
			chromedp.Click(chromedp.CSS(`a[href="/ui/holds/`+id+`"]`)),
			chromedp.WaitVisible(chromedp.ID(`#f-company`)),
		)
		// The browser checks types before submit: a bad amount stops it.
		run(t, ctx, chromedp.SetValue(chromedp.ID(`#f-amount`), "-5"))
		invalid := value(t, ctx, chromedp.Evaluate[bool](`!document.getElementById("f-amount").checkValidity()`))
		value(t, ctx, chromedp.Evaluate[bool](`(document.getElementById("f-amount").value = "", true)`))
		if !invalid {
			t.Error("a negative amount (schema minimum 0) passes the browser's check")
		}
		shot(t, ctx, "hold")
		run(t, ctx,
			chromedp.SendKeys(chromedp.ID(`#f-company`), "Initech"),
			chromedp.SetValue(chromedp.ID(`#f-size`), "medium"),
			chromedp.Click(chromedp.CSS(`button[value="save-release"]`)),
			chromedp.WaitVisible(chromedp.CSS(`ol.timeline`)),
		)
		waitFor(t, "the lead in HubSpot", func() bool {
			h := e.hubspot("browser-held@example.com")
			return h != nil && h["company"] == "Initech"
		})
		run(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`ol.timeline`)))
		shot(t, ctx, "event")
		if !strings.Contains(strings.Join(e.audit(id), ";"), "released by console:ana") {
			t.Error("release not audited with the actor")
		}
	})

	t.Run("resolve a conflict choosing per field", func(t *testing.T) {
		esc := e.conflict("browser-conflict@example.com")
		ctx := tab(t, b)
		signInBrowser(t, ctx, e.URL, adminToken)
		run(t, ctx,
			chromedp.Navigate(e.URL+"/ui/conflicts"),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/conflicts/`+esc+`"]`)),
			chromedp.Click(chromedp.CSS(`a[href="/ui/conflicts/`+esc+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`table.conflict`)),
		)
		shot(t, ctx, "conflict")
		run(t, ctx,
			chromedp.Click(chromedp.ID(`#t-firstname`)),
			chromedp.Click(chromedp.ID(`#x-company`)),
			chromedp.SetValue(chromedp.ID(`#e-company`), "Acme Holdings"),
			chromedp.Click(chromedp.CSS(`form button.primary`)),
			chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
		)
		waitFor(t, "the merged record in HubSpot", func() bool {
			h := e.hubspot("browser-conflict@example.com")
			return h["company"] == "Acme Holdings" && h["firstname"] == "Ada L."
		})
		shot(t, ctx, "ticket")
	})

	t.Run("act on a failure group: dry run, then apply", func(t *testing.T) {
		if err := e.sims.HubSpot.SetFaults(sim.Faults{Errors: map[string]float64{"400": 1}}); err != nil {
			t.Fatal(err)
		}
		emails := []string{"grp1@example.com", "grp2@example.com", "grp3@example.com"}
		for _, em := range emails {
			e.capture(map[string]any{"email": em, "name": "Gee", "company": "Acme"})
		}
		var group string
		waitFor(t, "three escalations in one group", func() bool {
			gs, err := e.srv.Gate.EscalationGroupList(context.Background(), store.EscalationGroupListParams{Kind: "permanent_error"})
			if err != nil || len(gs) != 1 || gs[0].Count != 3 {
				return false
			}
			group = gs[0].ID
			return true
		})
		if err := e.sims.HubSpot.SetFaults(sim.Faults{}); err != nil {
			t.Fatal(err)
		}
		ctx := tab(t, b)
		signInBrowser(t, ctx, e.URL, adminToken)
		form := `form.group-act:has(input[name="group"][value="` + group + `"])`
		run(t, ctx,
			chromedp.Navigate(e.URL+"/ui/tickets"),
			chromedp.WaitVisible(chromedp.CSS(form+` select`)),
			chromedp.SetValue(chromedp.CSS(form+` select`), "retry"),
			chromedp.Click(chromedp.CSS(form+` button[value="dry-run"]`)),
			chromedp.WaitVisible(chromedp.ID(`#group-result`)),
		)
		res := value(t, ctx, chromedp.Text(chromedp.ID(`#group-result`)))
		if !strings.Contains(res, "dry run: would retry 3 of 3 open") {
			t.Fatalf("dry run result: %q", res)
		}
		shot(t, ctx, "escalation-groups")
		run(t, ctx,
			chromedp.Click(chromedp.CSS(`#group-result button[value="apply"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#group-result[data-dry-run="false"]`)),
		)
		if res := value(t, ctx, chromedp.Text(chromedp.ID(`#group-result`))); !strings.Contains(res, "retry: 3 done") {
			t.Fatalf("group retry result: %q", res)
		}
		for _, em := range emails {
			waitFor(t, em+" in HubSpot", func() bool { return e.hubspot(em) != nil })
		}
	})

	t.Run("pause and resume a destination", func(t *testing.T) {
		ctx := tab(t, b)
		signInBrowser(t, ctx, e.URL, adminToken)
		// Keyboard only: type the reason, Enter submits the row's form
		// with its (only) button, pause.
		run(t, ctx,
			chromedp.Navigate(e.URL+"/ui/destinations"),
			chromedp.WaitVisible(chromedp.ID(`#r-hubspot`)),
			chromedp.SendKeys(chromedp.ID(`#r-hubspot`), "CRM maintenance\r"),
			chromedp.WaitVisible(chromedp.CSS(`#d-hubspot button[value="resume"]`)),
		)
		st, _ := e.srv.Driver.Executor().DestinationStateGet(context.Background(), "hubspot")
		if !st.Paused || st.Reason != "CRM maintenance" {
			t.Fatalf("not paused: %+v", st)
		}
		shot(t, ctx, "destinations")
		run(t, ctx,
			chromedp.Focus(chromedp.CSS(`#d-hubspot button[value="resume"]`)),
			chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS(`#d-hubspot button[value="pause"]`)),
		)
		st, _ = e.srv.Driver.Executor().DestinationStateGet(context.Background(), "hubspot")
		if st.Paused {
			t.Fatal("still paused")
		}
		// Overview and tickets screenshots, now that there is traffic.
		if _, err := e.srv.Rollups.Fold(context.Background()); err != nil {
			t.Fatal(err)
		}
		run(t, ctx, chromedp.Navigate(e.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS(`svg.chart`)))
		shot(t, ctx, "overview")
		run(t, ctx, chromedp.Navigate(e.URL+"/ui/tickets?status=any"), chromedp.WaitVisible(chromedp.CSS(`table`)))
		shot(t, ctx, "tickets")
		run(t, ctx, chromedp.Navigate(e.URL+"/ui/events"), chromedp.WaitVisible(chromedp.CSS(`table`)))
		shot(t, ctx, "events")
	})

	t.Run("a viewer cannot act", func(t *testing.T) {
		id := heldLead(e, "viewer-browser@example.com")
		ctx := tab(t, b)
		signInBrowser(t, ctx, e.URL, viewerToken)
		run(t, ctx,
			chromedp.Navigate(e.URL+"/ui/holds/"+id),
			chromedp.WaitVisible(chromedp.ID(`#f-company`)),
		)
		buttons := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("main button, main input[name^='f.']").length`))
		if buttons != 0 {
			t.Errorf("viewer sees %d buttons or inputs on a hold", buttons)
		}
		shot(t, ctx, "hold-viewer")
		run(t, ctx, chromedp.Navigate(e.URL+"/ui/destinations"), chromedp.WaitVisible(chromedp.CSS(`#d-hubspot`)))
		buttons = value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#d-hubspot button").length`))
		if buttons != 0 {
			t.Errorf("viewer sees pause buttons")
		}
		// A forged POST from the viewer's own signed-in page is refused.
		status := value(t, ctx, chromedp.Evaluate[int](`fetch("/ui/destinations/hubspot", {method: "POST", body: new URLSearchParams("op=pause")}).then(r => r.status)`,
			chromedp.EvalAwaitPromise))
		if status != http.StatusForbidden {
			t.Errorf("viewer's forged POST: %d", status)
		}
		if st, _ := e.srv.Driver.Executor().DestinationStateGet(context.Background(), "hubspot"); st.Paused {
			t.Fatal("viewer paused a destination")
		}
	})

	t.Run("a cross-origin POST is refused", func(t *testing.T) {
		// Another site the admin visits while signed in tries to pause HubSpot.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<form method="post" action="%s/ui/destinations/hubspot"><input name="op" value="pause"></form><script>document.forms[0].submit()</script>`, e.URL)
		}))
		defer evil.Close()
		evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site, not just another port
		ctx := tab(t, b)
		signInBrowser(t, ctx, e.URL, adminToken)
		run(t, ctx,
			chromedp.Navigate(evilURL),
			chromedp.WaitReady(chromedp.CSS(`body`)),
		)
		value(t, ctx, chromedp.Poll[bool](`location.href.indexOf("/ui/destinations/hubspot") >= 0 && document.body.innerText.length > 0`))
		body := value(t, ctx, chromedp.Text(chromedp.CSS(`body`)))
		if !strings.Contains(body, "cross-origin request refused") {
			t.Errorf("cross-origin POST answered: %q", body)
		}
		if st, _ := e.srv.Driver.Executor().DestinationStateGet(context.Background(), "hubspot"); st.Paused {
			t.Fatal("a cross-origin POST paused the destination")
		}
	})

	t.Run("a session expires", func(t *testing.T) {
		// The same gate and store behind a console whose clock the test moves.
		clock := &fakeClock{t: time.Now().UTC()}
		read, _ := e.srv.Driver.Executor().(console.Reader)
		k, err := console.New(console.Config{Ops: e.srv.Gate, Tickets: e.srv.Tickets, Read: read, Plan: e.srv.Gate.Plan, Config: func() *config.Config { return e.srv.Config }, Now: clock.Now,
			IdleTimeout: 30 * time.Minute, MaxAge: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(k.Handler())
		defer srv.Close()
		ctx := tab(t, b)
		signInBrowser(t, ctx, srv.URL, adminToken)
		run(t, ctx, chromedp.Navigate(srv.URL+"/ui/holds"), chromedp.WaitVisible(chromedp.CSS(`table`)))
		clock.Add(29 * time.Minute) // still within the idle limit
		run(t, ctx, chromedp.Navigate(srv.URL+"/ui/holds"), chromedp.WaitVisible(chromedp.CSS(`table`)))
		loc := value(t, ctx, chromedp.Location())
		if !strings.HasSuffix(loc, "/ui/holds") {
			t.Fatalf("session ended early: %s", loc)
		}
		clock.Add(31 * time.Minute) // idle too long
		run(t, ctx, chromedp.Navigate(srv.URL+"/ui/holds"), chromedp.WaitVisible(chromedp.ID(`#token`)))
		text := value(t, ctx, chromedp.Text(chromedp.CSS(`main`)))
		if !strings.Contains(text, "Your session ended") {
			t.Errorf("expired session page: %q", text)
		}
		// Absolute expiry: active all along, still ended after MaxAge.
		signInBrowser(t, ctx, srv.URL, adminToken)
		for i := 0; i < 3; i++ { // 25, 50, 75 minutes: never idle for 30
			clock.Add(25 * time.Minute)
			run(t, ctx, chromedp.Navigate(srv.URL+"/ui/events"), chromedp.WaitReady(chromedp.CSS(`main`)))
		}
		loc = value(t, ctx, chromedp.Location())
		if !strings.Contains(loc, "/ui/signin") {
			t.Errorf("session outlived its absolute limit: %s", loc)
		}
	})
	_ = store.EventHeld
	_ = slices.Contains[[]string]
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
