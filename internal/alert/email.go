package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/egress"
	"github.com/sluicehq/sluice/internal/id"
)

// Email sends alerts over SMTP (net/smtp): EHLO, STARTTLS whenever the
// server offers it (unless Insecure), AUTH PLAIN when a username is set,
// then one message to every recipient. net/smtp refuses to send the
// password over an unencrypted connection to anything but a loopback
// server, so a server that does not offer STARTTLS cannot learn it.
type Email struct {
	Host     string
	Port     int
	From     string
	To       []string
	Username string
	Password string
	// Insecure skips STARTTLS even when offered.
	Insecure bool
	// Timeout bounds the whole conversation; 0 means 10s.
	Timeout time.Duration
	// TLSConfig verifies the server after STARTTLS; nil means the system
	// roots and ServerName Host. Tests put their own CA here.
	TLSConfig *tls.Config
	// LocalName is sent with EHLO; empty means "localhost".
	LocalName string
	// Now dates the message; nil means time.Now.
	Now func() time.Time
	// Egress guards the connection to Host; the zero value refuses
	// loopback and private addresses.
	Egress egress.Policy
}

var _ Channel = (*Email)(nil)

// Send implements Channel.
func (e *Email) Send(ctx context.Context, a Alert) error {
	if err := e.send(ctx, a); err != nil {
		msg := err.Error()
		if e.Password != "" {
			msg = strings.ReplaceAll(msg, e.Password, "[redacted]")
		}
		if msg != err.Error() {
			return fmt.Errorf("email via %s: %s", net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), msg)
		}
		return fmt.Errorf("email via %s: %w", net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), err)
	}
	return nil
}

func (e *Email) send(ctx context.Context, a Alert) error {
	from, err := mail.ParseAddress(e.From)
	if err != nil {
		return errors.New("from: not an e-mail address")
	}
	var to []*mail.Address
	for i, s := range e.To {
		addr, err := mail.ParseAddress(s)
		if err != nil {
			return fmt.Errorf("to[%d]: not an e-mail address", i)
		}
		to = append(to, addr)
	}
	if len(to) == 0 {
		return errors.New("no recipients")
	}
	msg, err := e.message(a, from, to)
	if err != nil {
		return err
	}

	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := e.Egress.DialContext(ctx, "tcp", net.JoinHostPort(e.Host, strconv.Itoa(e.Port)))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// Cancelling ctx unblocks whatever the conversation is waiting for.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, e.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	local := e.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if !e.Insecure {
		if ok, _ := c.Extension("STARTTLS"); ok {
			cfg := &tls.Config{ServerName: e.Host, MinVersion: tls.VersionTLS12}
			if e.TLSConfig != nil {
				cfg = e.TLSConfig.Clone()
				if cfg.ServerName == "" {
					cfg.ServerName = e.Host
				}
			}
			if err := c.StartTLS(cfg); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		}
	}
	if e.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("AUTH: the server offers no authentication (credentials are configured)")
		}
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, e.Host)); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r.Address); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", r.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("QUIT: %w", err)
	}
	return nil
}

// message renders the alert as a plain-text, quoted-printable message.
func (e *Email) message(a Alert, from *mail.Address, to []*mail.Address) ([]byte, error) {
	now := time.Now()
	if e.Now != nil {
		now = e.Now()
	}
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") } // no header injection
	subject := oneLine(fmt.Sprintf("[Sluice %s] %s", a.Severity, a.Title))
	rcpts := make([]string, len(to))
	for i, r := range to {
		rcpts[i] = r.String()
	}
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", strings.Join(rcpts, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+id.New("alert", now)+"@sluice>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated")
	hdr("X-Sluice-Alert-Key", oneLine(a.Key))
	hdr("X-Sluice-Alert-Kind", oneLine(a.Kind))
	b.WriteString("\r\n")

	var body strings.Builder
	body.WriteString(oneLine(a.Title) + "\n\n")
	if a.Text != "" {
		body.WriteString(a.Text + "\n\n")
	}
	for _, it := range a.Items {
		body.WriteString("- " + it + "\n")
	}
	if len(a.Items) > 0 {
		body.WriteString("\n")
	}
	fmt.Fprintf(&body, "severity: %s\nkind: %s\nkey: %s\ntime: %s\n", a.Severity, a.Kind, a.Key, a.Time.UTC().Format(time.RFC3339))
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(body.String(), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
