// Package alert pushes alerts to people: a Slack incoming webhook, a
// generic webhook signed with the Standard Webhooks scheme, or e-mail over
// SMTP. Each channel is a small type behind one interface, Channel; an
// Alerter fans an alert out to every configured channel and rate-limits per
// alert key, so an outage sends one alert and then a summary per window,
// not a flood.
//
// Channel URLs (incoming-webhook URLs embed their secret), signing secrets
// and SMTP passwords never appear in an error: URLs are shown as scheme and
// host only, and the Alerter masks every configured secret in the errors it
// returns as a second line of defence.
package alert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/egress"
	"github.com/sluicehq/sluice/internal/redact"
)

// Severities, most urgent first.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Kinds of alert the control layer sends. Receivers branch on Kind.
const (
	KindSLABreach         = "sla_breach"
	KindSLAResolved       = "sla_resolved"
	KindEscalation        = "escalation"
	KindDestinationPaused = "destination_paused"
	KindDestinationResume = "destination_resumed"
	KindFailureRate       = "failure_rate"
	// KindNoticeEscalated: a platform webhook's notice kept failing to be
	// fetched (it is still retried).
	KindNoticeEscalated = "notice_escalated"
	// KindHookExpiring: a platform webhook subscription could not be
	// refreshed and expires soon, or expired.
	KindHookExpiring = "hook_expiring"
	// KindSummary is the Alerter's own: alerts of one key suppressed
	// during a window.
	KindSummary = "summary"
)

// Alert is one message for people.
type Alert struct {
	// Key groups alerts for rate limiting ("sla:leads:delivery",
	// "escalations", "destination_paused:crm"); empty means Kind.
	Key      string    `json:"key"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Title    string    `json:"title"`
	Text     string    `json:"text"`
	Items    []string  `json:"items"`
	Time     time.Time `json:"time"`
	// Count is how many occurrences the alert stands for (escalations in
	// a batch); 0 means 1. Summaries add them up.
	Count int `json:"count,omitempty"`
}

// Channel delivers an alert somewhere. Send must return errors that do not
// contain the channel's secrets.
type Channel interface {
	Send(ctx context.Context, a Alert) error
}

// Stats counts what an Alerter did since it was made.
type Stats struct {
	// Sent and Failed count channel sends (an alert to three channels is
	// three sends).
	Sent, Failed int64
	// Suppressed counts alerts held back by the window; Summaries the
	// summaries sent for them.
	Suppressed, Summaries int64
}

// Alerter fans alerts out to channels, at most one per key per window.
// Alerts of a key suppressed during its window are counted and sent as one
// summary when the window ends (at the next Flush or Notify of that key).
// It is safe for concurrent use; sends happen outside its lock.
type Alerter struct {
	now      func() time.Time
	window   time.Duration
	channels []namedChannel
	mask     *strings.Replacer

	mu    sync.Mutex
	keys  map[string]*keyState
	stats Stats
}

type namedChannel struct {
	name string
	ch   Channel
}

// keyState is one key's current window.
type keyState struct {
	until      time.Time // the window ends
	suppressed int       // occurrences (Alert.Count) held back
	// suppressedAlerts counts the alerts themselves.
	suppressedAlerts int
	kinds            map[string]int
	severity         string
	samples          []Alert // the first maxSamples suppressed
}

// maxSamples bounds what a summary lists.
const maxSamples = 10

// New returns an Alerter with no channels. window <= 0 means 5 minutes; now
// nil means time.Now.
func New(window time.Duration, now func() time.Time) *Alerter {
	if window <= 0 {
		window = 5 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Alerter{now: now, window: window, keys: map[string]*keyState{}, mask: strings.NewReplacer()}
}

// Add registers a channel under a name used in errors.
func (a *Alerter) Add(name string, ch Channel) {
	a.channels = append(a.channels, namedChannel{name, ch})
}

// Channels is the number of channels.
func (a *Alerter) Channels() int { return len(a.channels) }

// FromConfig builds the Alerter the alerts section describes. The config
// must have been validated.
func FromConfig(c config.Alerts, now func() time.Time) (*Alerter, error) {
	a := New(c.Window.D(), now)
	for i := range c.Channels {
		ch := &c.Channels[i]
		name := ch.Label(i)
		timeout := ch.Timeout.D()
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		guard := egress.For("alert channel "+name, ch.AllowPrivateNetwork)
		switch ch.Type {
		case "slack":
			a.Add(name, &Slack{URL: ch.URL, Client: NewHTTPClient(timeout, guard)})
		case "webhook":
			a.Add(name, &Webhook{URL: ch.URL, Secret: ch.Secret, Client: NewHTTPClient(timeout, guard), Now: a.now})
		case "email":
			a.Add(name, &Email{Host: ch.Host, Port: ch.Port, From: ch.From, To: ch.To, Username: ch.Username,
				Password: ch.Password, Insecure: ch.Insecure, Timeout: timeout, Now: a.now, Egress: guard})
		default:
			return nil, fmt.Errorf("alerts.channels[%d].type: unknown %q", i, ch.Type)
		}
	}
	a.SetSecrets(Secrets(c)...)
	return a, nil
}

// SetSecrets makes the Alerter mask these values in every error it returns.
func (a *Alerter) SetSecrets(secrets ...string) {
	var list []string
	for _, s := range secrets {
		if len(s) >= 6 {
			list = append(list, s)
		}
	}
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	pairs := make([]string, 0, 2*len(list))
	for _, s := range list {
		pairs = append(pairs, s, "[redacted]")
	}
	a.mask = strings.NewReplacer(pairs...)
}

// Secrets are the secret values of the alerts section (channel URLs and
// their paths, signing secrets, SMTP passwords), for the process-wide
// redactor: add them to redact.New next to redact.FromConfig.
func Secrets(c config.Alerts) []string {
	var out []string
	for _, ch := range c.Channels {
		out = append(out, redact.URLSecrets(ch.URL)...)
		out = append(out, ch.Secret, ch.Password)
	}
	var keep []string
	for _, s := range out {
		if len(s) >= 6 {
			keep = append(keep, s)
		}
	}
	return keep
}

// Stats returns the counters.
func (a *Alerter) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Notify sends al to every channel unless an alert of the same key was sent
// less than a window ago; then it is counted for that window's summary and
// Notify returns nil. A summary still owed for a finished window is sent
// first. The error joins every channel that failed.
func (a *Alerter) Notify(ctx context.Context, al Alert) error {
	now := a.now()
	if al.Time.IsZero() {
		al.Time = now
	}
	if al.Key == "" {
		al.Key = al.Kind
	}
	a.mu.Lock()
	st := a.keys[al.Key]
	if st != nil && now.Before(st.until) {
		st.add(al)
		a.stats.Suppressed++
		a.mu.Unlock()
		return nil
	}
	var owed []Alert
	if st != nil && st.suppressed > 0 {
		owed = append(owed, st.summary(al.Key, a.window, now))
		a.stats.Summaries++
	}
	a.keys[al.Key] = &keyState{until: now.Add(a.window)}
	a.mu.Unlock()
	return a.sendAll(ctx, append(owed, al))
}

// Flush sends the summary of every window that has ended with suppressed
// alerts (each starts a new window) and forgets windows that ended quietly.
// Call it periodically; the SLA watcher does on every run.
func (a *Alerter) Flush(ctx context.Context) error {
	now := a.now()
	var due []Alert
	a.mu.Lock()
	for k, st := range a.keys {
		if now.Before(st.until) {
			continue
		}
		if st.suppressed == 0 {
			delete(a.keys, k)
			continue
		}
		due = append(due, st.summary(k, a.window, now))
		a.stats.Summaries++
		a.keys[k] = &keyState{until: now.Add(a.window)}
	}
	a.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].Key < due[j].Key })
	return a.sendAll(ctx, due)
}

func (a *Alerter) sendAll(ctx context.Context, alerts []Alert) error {
	var errs []error
	for _, al := range alerts {
		for _, c := range a.channels {
			err := a.sendOne(ctx, c, al)
			a.mu.Lock()
			if err != nil {
				a.stats.Failed++
			} else {
				a.stats.Sent++
			}
			a.mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// sendOne sends through one channel, turning a panic into an error and
// masking secrets in whatever the channel returned.
func (a *Alerter) sendOne(ctx context.Context, c namedChannel, al Alert) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("alert %s via %s: channel panicked: %s", al.Key, c.name, a.mask.Replace(fmt.Sprint(r)))
		}
	}()
	if err := c.ch.Send(ctx, al); err != nil {
		msg := err.Error()
		if masked := a.mask.Replace(msg); masked != msg {
			return fmt.Errorf("alert %s via %s: %s", al.Key, c.name, masked)
		}
		return fmt.Errorf("alert %s via %s: %w", al.Key, c.name, err)
	}
	return nil
}

var severityRank = map[string]int{SeverityCritical: 3, SeverityWarning: 2, SeverityInfo: 1}

func (s *keyState) add(al Alert) {
	n := al.Count
	if n < 1 {
		n = 1
	}
	s.suppressed += n
	s.suppressedAlerts++
	if s.kinds == nil {
		s.kinds = map[string]int{}
	}
	s.kinds[al.Kind] += n
	if severityRank[al.Severity] > severityRank[s.severity] {
		s.severity = al.Severity
	}
	if len(s.samples) < maxSamples {
		s.samples = append(s.samples, al)
	}
}

// nouns name alert kinds in summaries: singular, plural.
var nouns = map[string][2]string{
	KindSLABreach:         {"SLA breach", "SLA breaches"},
	KindSLAResolved:       {"SLA recovery", "SLA recoveries"},
	KindEscalation:        {"escalation", "escalations"},
	KindDestinationPaused: {"destination pause", "destination pauses"},
	KindDestinationResume: {"destination resumption", "destination resumptions"},
	KindFailureRate:       {"failure-rate alert", "failure-rate alerts"},
}

// summary is the alert that stands for the suppressed ones, e.g.
// "12 more escalations in the last 5 minutes: ...".
func (s *keyState) summary(key string, window time.Duration, now time.Time) Alert {
	noun := [2]string{"alert for " + key, "alerts for " + key}
	if len(s.kinds) == 1 {
		for k := range s.kinds {
			if n, ok := nouns[k]; ok {
				noun = n
			}
		}
	}
	word := noun[1]
	if s.suppressed == 1 {
		word = noun[0]
	}
	title := fmt.Sprintf("%d more %s in the last %s", s.suppressed, word, humanDuration(window))
	titles := make([]string, 0, len(s.samples))
	items := make([]string, 0, len(s.samples)+1)
	for _, al := range s.samples {
		titles = append(titles, al.Title)
		items = append(items, al.Time.UTC().Format("15:04:05Z")+" "+al.Title)
	}
	text := title + ": " + strings.Join(titles, "; ")
	if extra := s.suppressedAlerts - len(s.samples); extra > 0 {
		items = append(items, fmt.Sprintf("... and %d more", extra))
		text += fmt.Sprintf("; and %d more", extra)
	}
	sev := s.severity
	if sev == "" {
		sev = SeverityInfo
	}
	return Alert{Key: key, Kind: KindSummary, Severity: sev, Title: title, Text: text, Items: items, Time: now, Count: s.suppressed}
}

// humanDuration writes 5m as "5 minutes", 1h as "1 hour".
func humanDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	case d%time.Second == 0:
		return unit(int64(d/time.Second), "second")
	}
	return d.String()
}

// NewHTTPClient is the client of the webhook channels: bounded, dialling
// through the channel's egress guard, and never following redirects (a
// redirect would re-send the alert, and its secret-bearing URL, somewhere
// else).
func NewHTTPClient(timeout time.Duration, guard egress.Policy) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		Transport:     guard.Transport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// RedactURL is how a channel URL may appear in errors and logs: scheme and
// host only, since the path and query usually are the secret.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[redacted URL]"
	}
	out := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		out += "/[redacted]"
	}
	return out
}
