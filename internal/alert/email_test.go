package alert_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/egress"
)

// smtpServer is a loopback SMTP server speaking just enough of the protocol
// (EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) to capture messages.
type smtpServer struct {
	addr *net.TCPAddr
	// tls, when set, makes the server offer STARTTLS.
	tls *tls.Config
	// rejectRcpt is refused with 550.
	rejectRcpt string

	mu   sync.Mutex
	msgs []smtpMessage
	auth []string // "user:pass" of each AUTH PLAIN, with whether it came over TLS
}

type smtpMessage struct {
	from string
	to   []string
	data string
	tls  bool
}

func startSMTP(t *testing.T, s *smtpServer) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().(*net.TCPAddr)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c) }()
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	secure := false
	var cur smtpMessage
	tp.PrintfLine("220 test.local ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"test.local"}
			if s.tls != nil && !secure {
				ext = append(ext, "STARTTLS")
			}
			ext = append(ext, "AUTH PLAIN", "8BITMIME")
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				tp.PrintfLine("250%s%s", sep, e)
			}
		case "STARTTLS":
			if s.tls == nil || secure {
				tp.PrintfLine("502 not offered")
				continue
			}
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tp, secure, cur = tc, textproto.NewConn(tc), true, smtpMessage{}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if strings.ToUpper(mech) != "PLAIN" || err != nil || len(parts) != 3 {
				tp.PrintfLine("535 bad auth")
				continue
			}
			s.mu.Lock()
			s.auth = append(s.auth, parts[1]+":"+parts[2]+map[bool]string{true: " (tls)", false: " (plain)"}[secure])
			s.mu.Unlock()
			tp.PrintfLine("235 ok")
		case "MAIL":
			cur = smtpMessage{from: angle(arg), tls: secure}
			tp.PrintfLine("250 ok")
		case "RCPT":
			to := angle(arg)
			if to == s.rejectRcpt {
				tp.PrintfLine("550 5.1.1 no such user %s", to)
				continue
			}
			cur.to = append(cur.to, to)
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go on")
			lines, err := tp.ReadDotLines()
			if err != nil {
				return
			}
			cur.data = strings.Join(lines, "\n")
			s.mu.Lock()
			s.msgs = append(s.msgs, cur)
			s.mu.Unlock()
			tp.PrintfLine("250 queued")
		case "RSET", "NOOP":
			tp.PrintfLine("250 ok")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 unknown")
		}
	}
}

func angle(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	addr, _, _ := strings.Cut(rest, ">")
	return addr
}

func (s *smtpServer) messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.msgs...)
}

func (s *smtpServer) auths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

// selfSigned is a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func emailTo(s *smtpServer) *alert.Email {
	return &alert.Email{Host: "127.0.0.1", Port: s.addr.Port, From: "Sluice <sluice@example.com>",
		To: []string{"ops@example.com", "Oncall <oncall@example.com>"}, Timeout: 5 * time.Second,
		Now: func() time.Time { return t0 }, Egress: egress.For("alert channel mail", true)}
}

// readMessage parses a captured message and decodes its body.
func readMessage(t *testing.T, data string) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, data)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m, string(body)
}

func TestEmailDeliversWithAuthOnLoopback(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, &smtpServer{})
	e := emailTo(srv)
	e.Username, e.Password = "sluice", "smtp-pass-1"
	a := sample
	a.Title = "SLA breach: flow leads — not delivered\r\nBcc: attacker@example.com"
	if err := e.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.from != "sluice@example.com" || strings.Join(m.to, ",") != "ops@example.com,oncall@example.com" || m.tls {
		t.Fatalf("envelope: %+v", m)
	}
	if got := srv.auths(); len(got) != 1 || got[0] != "sluice:smtp-pass-1 (plain)" {
		t.Fatalf("auth: %q", got)
	}
	msg, body := readMessage(t, m.data)
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "[Sluice warning] SLA breach: flow leads — not delivered Bcc: attacker@example.com" {
		t.Fatalf("subject %q %v", subject, err)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Fatal("header injected through the title")
	}
	if msg.Header.Get("From") != `"Sluice" <sluice@example.com>` || msg.Header.Get("X-Sluice-Alert-Key") != "sla:leads:delivery" ||
		msg.Header.Get("Auto-Submitted") != "auto-generated" || !strings.Contains(msg.Header.Get("To"), "<oncall@example.com>") {
		t.Fatalf("headers: %v", msg.Header)
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(t0) {
		t.Fatalf("date: %v %v", d, err)
	}
	for _, want := range []string{"3 events <still> delivering & late", "- evt_1\n- evt_2", "key: sla:leads:delivery", "time: 2026-11-29T09:00:00Z"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestEmailUsesSTARTTLSWhenOffered(t *testing.T) {
	t.Parallel()
	serverTLS, pool := selfSigned(t)
	srv := startSMTP(t, &smtpServer{tls: serverTLS})
	e := emailTo(srv)
	e.Username, e.Password = "sluice", "smtp-pass-1"
	e.TLSConfig = &tls.Config{RootCAs: pool}
	if err := e.Send(context.Background(), sample); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.messages(); len(msgs) != 1 || !msgs[0].tls {
		t.Fatalf("message not sent over TLS: %+v", msgs)
	}
	if got := srv.auths(); len(got) != 1 || got[0] != "sluice:smtp-pass-1 (tls)" {
		t.Fatalf("auth: %q", got)
	}
}

func TestEmailInsecureSkipsSTARTTLS(t *testing.T) {
	t.Parallel()
	serverTLS, _ := selfSigned(t)
	srv := startSMTP(t, &smtpServer{tls: serverTLS})
	e := emailTo(srv)
	e.Insecure = true
	if err := e.Send(context.Background(), sample); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.messages(); len(msgs) != 1 || msgs[0].tls {
		t.Fatalf("want a plain-text session: %+v", msgs)
	}
}

func TestEmailFailuresAreErrorsWithoutThePassword(t *testing.T) {
	t.Parallel()
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		serverTLS, _ := selfSigned(t)
		srv := startSMTP(t, &smtpServer{tls: serverTLS})
		e := emailTo(srv)
		e.Username, e.Password = "sluice", "smtp-pass-1"
		err := e.Send(context.Background(), sample) // system roots do not know the test CA
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") || strings.Contains(err.Error(), "smtp-pass-1") {
			t.Fatalf("want a STARTTLS error, got %v", err)
		}
		if len(srv.messages()) != 0 || len(srv.auths()) != 0 {
			t.Fatal("sent after a failed handshake")
		}
	})
	t.Run("recipient refused", func(t *testing.T) {
		t.Parallel()
		srv := startSMTP(t, &smtpServer{rejectRcpt: "oncall@example.com"})
		e := emailTo(srv)
		e.Username, e.Password = "sluice", "smtp-pass-1"
		err := e.Send(context.Background(), sample)
		if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "RCPT TO oncall@example.com") ||
			strings.Contains(err.Error(), "smtp-pass-1") {
			t.Fatalf("want a 550 error, got %v", err)
		}
		if len(srv.messages()) != 0 {
			t.Fatal("message sent with a refused recipient")
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		t.Parallel()
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		e := &alert.Email{Host: "127.0.0.1", Port: port, From: "sluice@example.com", To: []string{"ops@example.com"}, Timeout: time.Second, Egress: egress.For("alert channel mail", true)}
		if err := e.Send(context.Background(), sample); err == nil || !strings.Contains(err.Error(), "connect") {
			t.Fatalf("want a connect error, got %v", err)
		}
	})
}
