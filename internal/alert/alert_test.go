package alert_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/config"
)

// clock is a settable fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(d time.Duration) {
	c.mu.Lock()
	c.now = t0.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// recorder is a channel that keeps what it was sent; Fail, when set,
// decides its answer.
type recorder struct {
	mu   sync.Mutex
	got  []alert.Alert
	Fail func(alert.Alert) error
}

func (r *recorder) Send(_ context.Context, a alert.Alert) error {
	r.mu.Lock()
	r.got = append(r.got, a)
	r.mu.Unlock()
	if r.Fail != nil {
		return r.Fail(a)
	}
	return nil
}

func (r *recorder) take() []alert.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

func esc(n int, sev string) alert.Alert {
	return alert.Alert{Key: "escalations", Kind: alert.KindEscalation, Severity: sev, Title: "New escalation " + string(rune('A'+n))}
}

func TestAlerterOneAlertPerWindowThenOneSummary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{now: t0}
	rec := &recorder{}
	a := alert.New(5*time.Minute, clk.Now)
	a.Add("rec", rec)

	if err := a.Notify(ctx, esc(0, alert.SeverityWarning)); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 1 || got[0].Title != "New escalation A" || !got[0].Time.Equal(t0) {
		t.Fatalf("first alert: %+v", got)
	}
	// An outage: 12 more within the window, one of them critical.
	for i := 1; i <= 12; i++ {
		clk.Set(time.Duration(i) * 20 * time.Second)
		sev := alert.SeverityWarning
		if i == 7 {
			sev = alert.SeverityCritical
		}
		if err := a.Notify(ctx, esc(i, sev)); err != nil {
			t.Fatal(err)
		}
	}
	// Another key is not held back by this one's window.
	if err := a.Notify(ctx, alert.Alert{Key: "sla:leads:delivery", Kind: alert.KindSLABreach, Severity: alert.SeverityWarning, Title: "SLA"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 1 || got[0].Key != "sla:leads:delivery" {
		t.Fatalf("during the window only the other key may send: %+v", got)
	}
	clk.Set(4*time.Minute + 59*time.Second)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("summary before the window ended: %+v", got)
	}

	clk.Set(5 * time.Minute)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	if len(got) != 1 {
		t.Fatalf("want one summary, got %d: %+v", len(got), got)
	}
	s := got[0]
	if s.Kind != alert.KindSummary || s.Key != "escalations" || s.Severity != alert.SeverityCritical ||
		s.Title != "12 more escalations in the last 5 minutes" || !s.Time.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("summary: %+v", s)
	}
	if len(s.Items) != 11 || s.Items[0] != "09:00:20Z New escalation B" || s.Items[10] != "... and 2 more" {
		t.Fatalf("summary items: %q", s.Items)
	}
	if !strings.HasPrefix(s.Text, "12 more escalations in the last 5 minutes: New escalation B; New escalation C;") {
		t.Fatalf("summary text: %q", s.Text)
	}
	st := a.Stats()
	if st.Sent != 3 || st.Suppressed != 12 || st.Summaries != 1 || st.Failed != 0 {
		t.Fatalf("stats: %+v", st)
	}

	// The summary started a new window: one more alert in it is summarised
	// at its end, in the singular.
	clk.Set(7 * time.Minute)
	_ = a.Notify(ctx, esc(13, alert.SeverityWarning))
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("alert inside the summary's window sent: %+v", got)
	}
	clk.Set(10 * time.Minute)
	_ = a.Flush(ctx)
	if got := rec.take(); len(got) != 1 || got[0].Title != "1 more escalation in the last 5 minutes" {
		t.Fatalf("second summary: %+v", got)
	}
	// An alert standing for a batch counts as its batch.
	clk.Set(11 * time.Minute)
	batch := esc(15, alert.SeverityWarning)
	batch.Count, batch.Title = 7, "7 new escalations"
	_ = a.Notify(ctx, batch)
	_ = a.Notify(ctx, esc(16, alert.SeverityWarning))
	clk.Set(15 * time.Minute)
	_ = a.Flush(ctx)
	if got := rec.take(); len(got) != 1 || got[0].Title != "8 more escalations in the last 5 minutes" || got[0].Count != 8 ||
		len(got[0].Items) != 2 || got[0].Items[0] != "09:11:00Z 7 new escalations" {
		t.Fatalf("summary of a batch: %+v", got)
	}
	// A quiet window ends without a message, and the next alert goes out
	// at once.
	clk.Set(20 * time.Minute)
	_ = a.Flush(ctx)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("quiet window sent %+v", got)
	}
	_ = a.Notify(ctx, esc(14, alert.SeverityWarning))
	if got := rec.take(); len(got) != 1 || got[0].Kind != alert.KindEscalation {
		t.Fatalf("alert after a quiet window: %+v", got)
	}
}

func TestAlerterSendsOwedSummaryBeforeNextAlert(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{now: t0}
	rec := &recorder{}
	a := alert.New(time.Minute, clk.Now)
	a.Add("rec", rec)
	_ = a.Notify(ctx, alert.Alert{Key: "k", Kind: alert.KindFailureRate, Title: "one"})
	clk.Set(30 * time.Second)
	_ = a.Notify(ctx, alert.Alert{Key: "k", Kind: alert.KindFailureRate, Title: "two"})
	rec.take()
	clk.Set(2 * time.Minute) // no Flush ran in between
	_ = a.Notify(ctx, alert.Alert{Key: "k", Kind: alert.KindFailureRate, Title: "three"})
	got := rec.take()
	if len(got) != 2 || got[0].Title != "1 more failure-rate alert in the last 1 minute" || got[1].Title != "three" {
		t.Fatalf("want the owed summary, then the alert: %+v", got)
	}
}

func TestAlerterConcurrentNotifySendsOnce(t *testing.T) {
	t.Parallel()
	clk := &clock{now: t0}
	rec := &recorder{}
	a := alert.New(time.Minute, clk.Now)
	a.Add("rec", rec)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = a.Notify(context.Background(), esc(i%20, alert.SeverityWarning))
		}()
	}
	wg.Wait()
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("%d alerts sent, want 1", len(got))
	}
	if st := a.Stats(); st.Suppressed != 49 {
		t.Fatalf("stats: %+v", st)
	}
}

type panicky struct{}

func (panicky) Send(context.Context, alert.Alert) error { panic("boom with s3cr3t-password") }

func TestAlerterReturnsAndCountsFailuresWithoutSecrets(t *testing.T) {
	t.Parallel()
	clk := &clock{now: t0}
	ok := &recorder{}
	bad := &recorder{Fail: func(alert.Alert) error {
		return errors.New("POST https://hooks.example.com/services/T0/B0/s3cr3t-token: refused (password s3cr3t-password)")
	}}
	a := alert.New(time.Minute, clk.Now)
	a.Add("good", ok)
	a.Add("bad", bad)
	a.Add("panicky", panicky{})
	a.SetSecrets("https://hooks.example.com/services/T0/B0/s3cr3t-token", "s3cr3t-password")

	err := a.Notify(context.Background(), alert.Alert{Key: "k", Kind: alert.KindSLABreach, Title: "t"})
	if err == nil {
		t.Fatal("failed channels not reported")
	}
	msg := err.Error()
	for _, want := range []string{"alert k via bad", "[redacted]", "alert k via panicky: channel panicked"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "s3cr3t") {
		t.Fatalf("secret in error: %s", msg)
	}
	if len(ok.take()) != 1 {
		t.Fatal("a failing channel stopped the others")
	}
	if st := a.Stats(); st.Sent != 1 || st.Failed != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestFromConfigBuildsChannelsAndListsSecrets(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]byte(`
sources: {s: {allow_unsigned: true}}
alerts:
  window: 2m
  channels:
    - {type: slack, url: "https://hooks.slack.com/services/T0/B0/${SLACK_TOKEN}"}
    - {type: webhook, name: ops-hook, url: "https://ops.example.com/hook?key=querysecret", secret: "${HOOK_SECRET}"}
    - {type: email, host: smtp.example.com, from: sluice@example.com, to: [ops@example.com], username: u, password: "${SMTP_PASSWORD}"}
`), func(k string) (string, bool) {
		return map[string]string{"SLACK_TOKEN": "slacktoken123", "HOOK_SECRET": "hook-secret-1", "SMTP_PASSWORD": "smtp-pass-1"}[k], true
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := alert.FromConfig(c.Alerts, nil)
	if err != nil || a.Channels() != 3 {
		t.Fatalf("from config: %v %v", a, err)
	}
	secrets := strings.Join(alert.Secrets(c.Alerts), " ")
	for _, want := range []string{"slacktoken123", "querysecret", "hook-secret-1", "smtp-pass-1"} {
		if !strings.Contains(secrets, want) {
			t.Errorf("Secrets misses %q: %s", want, secrets)
		}
	}
	if strings.Contains(secrets, "smtp.example.com ") {
		t.Errorf("a host is not a secret: %s", secrets)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/XYZ": "https://hooks.slack.com/[redacted]",
		"https://ops.example.com/?token=abc":         "https://ops.example.com/[redacted]",
		"https://user:pw@ops.example.com":            "https://ops.example.com",
		"http://127.0.0.1:8080/":                     "http://127.0.0.1:8080",
		"::not a url":                                "[redacted URL]",
	} {
		if got := alert.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
