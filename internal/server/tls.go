package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// certReloader serves the certificate of config.TLS and reads the files
// again when either one's modification time or size changes, so a renewed
// certificate (certbot, cert-manager) is used from the next handshake. A
// renewal caught half-written fails to parse; the previous pair is kept
// and the next handshake tries again.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string
	checked time.Time
}

func newCertReloader(c *config.Config) (*certReloader, error) {
	abs := func(p string) string {
		if p != "" && !filepath.IsAbs(p) && c.Dir != "" {
			return filepath.Join(c.Dir, p)
		}
		return p
	}
	r := &certReloader{certFile: abs(c.TLS.CertFile), keyFile: abs(c.TLS.KeyFile)}
	if _, err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

// stampOf identifies the files' current contents cheaply.
func (r *certReloader) stampOf() (string, error) {
	var s string
	for _, p := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return s, nil
}

func (r *certReloader) get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// At most one stat per 100ms, however many handshakes.
	if r.cert != nil && time.Since(r.checked) < 100*time.Millisecond {
		return r.cert, nil
	}
	r.checked = time.Now()
	stamp, err := r.stampOf()
	if err != nil {
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("tls: %w", err)
	}
	if stamp == r.stamp && r.cert != nil {
		return r.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("tls: %w", err)
	}
	r.cert, r.stamp = &pair, stamp
	return r.cert, nil
}

// tlsConfig is the listeners' TLS settings: TLS 1.2 or later, the
// certificate from r.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.get()
		},
	}
}

// wrapTLS returns ln serving TLS when the config asks for it.
func (s *Server) wrapTLS(ln net.Listener) net.Listener {
	if s.certs == nil || ln == nil {
		return ln
	}
	return tls.NewListener(ln, s.certs.tlsConfig())
}
