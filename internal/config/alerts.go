package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
)

// Alerts is the top-level `alerts:` section: where alerts go (SLA breaches,
// new escalations, paused destinations, failure-rate spikes) and how often
// one subject may alert.
//
//	alerts:
//	  window: 5m
//	  channels:
//	    - {type: slack, url: "${SLACK_WEBHOOK_URL}"}
//	    - {type: webhook, url: "https://ops.example.com/hook", secret: "${ALERT_SECRET}"}
//	    - {type: email, host: smtp.example.com, from: sluice@example.com, to: [ops@example.com],
//	       username: sluice, password: "${SMTP_PASSWORD}"}
type Alerts struct {
	// Channels receive every alert. With none, breaches are still tracked
	// and shown (`sluice sla`, GET /v1/sla), just not pushed anywhere.
	Channels []AlertChannel `yaml:"channels"`
	// Window: one alert key (e.g. "sla:leads:delivery", "escalations")
	// sends at most one alert per window; alerts suppressed meanwhile are
	// sent as one summary when the window ends. Default 5m.
	Window Duration `yaml:"window"`
	// Interval between two runs of the SLA watcher. Default 30s.
	Interval Duration `yaml:"interval"`
	// FailureRate alerts when a destination's share of failed attempts
	// between two watcher runs is above a threshold.
	FailureRate FailureRateAlert `yaml:"failure_rate"`
}

// FailureRateAlert configures the failure-rate spike alert.
type FailureRateAlert struct {
	// Above is the failed share of attempts (0 < above <= 1) that alerts.
	// Default 0.5; 1 disables the alert (a share cannot exceed 1).
	Above float64 `yaml:"above"`
	// MinAttempts is how many attempts a destination must have made
	// between two runs before its rate counts. Default 20.
	MinAttempts int `yaml:"min_attempts"`
}

// AlertChannel is one place alerts go. Which fields apply depends on Type;
// setting one that does not apply is an error. Secrets (URLs of incoming
// webhooks embed one, signing secrets, passwords) come from ${VAR}.
type AlertChannel struct {
	// Type is slack (incoming webhook), webhook (generic, signed with the
	// Standard Webhooks scheme) or email (SMTP).
	Type string `yaml:"type"`
	// Name labels the channel in errors and logs; default "<type>[<index>]".
	Name string `yaml:"name"`
	// Timeout bounds one send. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// AllowPrivateNetwork lets the channel connect to loopback and
	// private addresses (an SMTP relay or hook on the internal network).
	// Default false; link-local and cloud metadata addresses are refused
	// always.
	AllowPrivateNetwork bool `yaml:"allow_private_network"`

	// URL is where slack and webhook channels POST. It is treated as a
	// secret: errors show only its scheme and host.
	URL string `yaml:"url"`
	// Secret signs webhook requests (HMAC-SHA256, Standard Webhooks:
	// webhook-id, webhook-timestamp, webhook-signature headers). A
	// "whsec_" prefix means the rest is the base64 key. At least 8
	// characters.
	Secret string `yaml:"secret"`

	// Host and Port of the SMTP server (email). Port defaults to 587.
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// From is the sender address; To the recipients (at least one).
	From string   `yaml:"from"`
	To   []string `yaml:"to"`
	// Username and Password authenticate with AUTH PLAIN when set. The
	// password is only ever sent over TLS (or to a loopback server).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Insecure skips STARTTLS even when the server offers it. Default
	// false: STARTTLS is used whenever offered.
	Insecure bool `yaml:"insecure"`
}

// Label is the channel's name for errors and logs.
func (ch *AlertChannel) Label(i int) string {
	if ch.Name != "" {
		return ch.Name
	}
	return fmt.Sprintf("%s[%d]", ch.Type, i)
}

// FlowSLA are a flow's service levels; zero turns a check off.
type FlowSLA struct {
	// DeliverWithin: an event still delivering this long after capture
	// breaches the SLA.
	DeliverWithin Duration `yaml:"deliver_within"`
	// HoldWithin: an event held this long after capture breaches the SLA.
	// Must be less than the flow's hold_ttl, after which holds escalate.
	HoldWithin Duration `yaml:"hold_within"`
}

// DestinationSLA are a destination's queue limits; zero turns a check off.
type DestinationSLA struct {
	// QueueAge: the oldest pending delivery waiting longer than this
	// breaches the SLA.
	QueueAge Duration `yaml:"queue_age"`
	// QueueDepth: more pending deliveries than this breaches the SLA.
	QueueDepth int `yaml:"queue_depth"`
}

func (a *Alerts) applyDefaults() {
	if a.Window == 0 {
		a.Window = Duration(5 * time.Minute)
	}
	if a.Interval == 0 {
		a.Interval = Duration(30 * time.Second)
	}
	if a.FailureRate.Above == 0 {
		a.FailureRate.Above = 0.5
	}
	if a.FailureRate.MinAttempts == 0 {
		a.FailureRate.MinAttempts = 20
	}
	for i := range a.Channels {
		ch := &a.Channels[i]
		if ch.Timeout == 0 {
			ch.Timeout = Duration(10 * time.Second)
		}
		if ch.Type == "email" && ch.Port == 0 {
			ch.Port = 587
		}
	}
}

// validateSLA checks the sla blocks of flows and destinations. Messages
// never quote a value that could be a secret.
func (c *Config) validateSLA(es *Errors) {
	for _, name := range sortedKeys(c.Flows) {
		f := c.Flows[name]
		if f == nil {
			continue
		}
		if hw := f.SLA.HoldWithin; hw > 0 && f.HoldTTL > 0 && hw >= f.HoldTTL {
			es.Add("flows."+name+".sla.hold_within", "must be less than hold_ttl (%s): holds are escalated before this SLA could fire", f.HoldTTL.D())
		}
	}
	for _, name := range sortedKeys(c.Destinations) {
		d := c.Destinations[name]
		if d != nil && d.SLA.QueueDepth < 0 {
			es.Add("destinations."+name+".sla.queue_depth", "must not be negative")
		}
	}
}

// validateAlerts checks the alerts section.
func (c *Config) validateAlerts(es *Errors) {
	a := &c.Alerts
	if a.Window.D() < time.Second {
		es.Add("alerts.window", "must be at least 1s")
	}
	if a.Interval.D() < time.Second {
		es.Add("alerts.interval", "must be at least 1s")
	}
	if a.FailureRate.Above <= 0 || a.FailureRate.Above > 1 {
		es.Add("alerts.failure_rate.above", "must be more than 0 and at most 1 (1 disables the alert)")
	}
	if a.FailureRate.MinAttempts < 1 {
		es.Add("alerts.failure_rate.min_attempts", "must be at least 1")
	}
	names := map[string]bool{}
	for i := range a.Channels {
		ch := &a.Channels[i]
		p := fmt.Sprintf("alerts.channels[%d]", i)
		if label := ch.Label(i); names[label] {
			es.Add(p+".name", "duplicate channel name %q", label)
		} else {
			names[label] = true
		}
		// Which fields each type uses; others must stay empty.
		set := map[string]bool{
			"url": ch.URL != "", "secret": ch.Secret != "", "host": ch.Host != "", "port": ch.Port != 0,
			"from": ch.From != "", "to": len(ch.To) > 0, "username": ch.Username != "", "password": ch.Password != "",
			"insecure": ch.Insecure,
		}
		var uses []string
		switch ch.Type {
		case "slack":
			uses = []string{"url"}
			checkAlertURL(es, p+".url", ch.URL)
		case "webhook":
			uses = []string{"url", "secret"}
			checkAlertURL(es, p+".url", ch.URL)
			switch {
			case ch.Secret == "":
				es.Add(p+".secret", "required: requests are signed (Standard Webhooks)")
			case len(ch.Secret) < 8:
				es.Add(p+".secret", "too short (at least 8 characters)")
			default:
				if _, err := signature.SignStandardWebhooks(ch.Secret, "check", time.Unix(0, 0), nil); err != nil {
					es.Add(p+".secret", "whsec_ secret is not valid base64")
				}
			}
		case "email":
			uses = []string{"host", "port", "from", "to", "username", "password", "insecure"}
			if ch.Host == "" {
				es.Add(p+".host", "required")
			}
			if ch.Port < 1 || ch.Port > 65535 {
				es.Add(p+".port", "must be a TCP port (1-65535)")
			}
			if _, err := mail.ParseAddress(ch.From); err != nil {
				es.Add(p+".from", "not an e-mail address")
			}
			if len(ch.To) == 0 {
				es.Add(p+".to", "at least one recipient is required")
			}
			for j, to := range ch.To {
				if _, err := mail.ParseAddress(to); err != nil {
					es.Add(fmt.Sprintf("%s.to[%d]", p, j), "not an e-mail address")
				}
			}
			if (ch.Username == "") != (ch.Password == "") {
				es.Add(p+".password", "username and password go together")
			}
			if ch.Insecure && ch.Password != "" && !loopbackHost(ch.Host) {
				es.Add(p+".insecure", "would send the password unencrypted; drop insecure or the credentials")
			}
		default:
			es.Add(p+".type", "must be slack, webhook or email, got %q", ch.Type)
			continue
		}
		for _, u := range uses {
			delete(set, u)
		}
		for _, k := range sortedKeys(set) {
			if set[k] {
				es.Add(p+"."+k, "not used by type %s", ch.Type)
			}
		}
	}
}

// checkAlertURL checks an incoming-webhook URL without ever quoting it: it
// usually embeds the secret.
func checkAlertURL(es *Errors, path, raw string) {
	if raw == "" {
		es.Add(path, "required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		es.Add(path, "must be an absolute http(s) URL")
	}
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
