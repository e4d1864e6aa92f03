package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/server"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// serial and returns it.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "sluice-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	// Write to temporary names and rename, as certificate tools do.
	for path, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kb}} {
		if err := os.WriteFile(path+".tmp", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// TestTLSAndSeparateAdminListener: there was no TLS and one listener for
// everything. Intake and admin now serve TLS, the admin API and metrics
// only on admin_listen, and a certificate renewed on disk is used from the
// next handshake.
func TestTLSAndSeparateAdminListener(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeCert(t, certFile, keyFile, 1)
	text := fmt.Sprintf(`store: %q
admin_listen: 127.0.0.1:1
tls: {cert_file: %q, key_file: %q}
admin_tokens: [{name: ops, token: ops-token-0123456789, role: admin}]
sources: {forms: {allow_unsigned: true}}
`+hardenFlow, filepath.Join(dir, "s.db"), certFile, keyFile)
	c := parseConfig(t, text)
	srv, err := server.New(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv.AdminListener, _ = net.Listen("tcp", "127.0.0.1:0")
	intake, admin := "https://"+ln.Addr().String(), "https://"+srv.AdminListener.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	defer func() { cancel(); <-done; srv.Close() }()

	pool := x509.NewCertPool()
	pool.AddCert(first)
	var seen *x509.Certificate
	client := func(roots *x509.CertPool) *http.Client {
		return &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: roots,
			VerifyConnection: func(cs tls.ConnectionState) error { seen = cs.PeerCertificates[0]; return nil }}}}
	}
	do := func(cl *http.Client, method, url, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer ops-token-0123456789")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cl := client(pool)
	if code := do(cl, "POST", intake+"/v1/sources/forms/events", `{"email":"tls@example.com"}`); code != http.StatusAccepted {
		t.Fatalf("intake over TLS: %d", code)
	}
	for _, tc := range []struct {
		base, path string
		want       int
	}{
		{intake, "/v1/events", http.StatusNotFound},
		{intake, "/metrics", http.StatusNotFound},
		{intake, "/readyz", http.StatusOK},
		{admin, "/v1/events", http.StatusOK},
		{admin, "/metrics", http.StatusOK},
		{admin, "/readyz", http.StatusOK},
		{admin, "/v1/sources/forms/events", http.StatusNotFound},
	} {
		method := "GET"
		if code := do(cl, method, tc.base+tc.path, ""); code != tc.want {
			t.Errorf("GET %s%s: %d, want %d", tc.base, tc.path, code, tc.want)
		}
	}
	if resp, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("plain HTTP answered %d on a TLS listener", resp.StatusCode)
		}
	}

	// Renew the certificate on disk: the next handshake presents it.
	time.Sleep(150 * time.Millisecond) // the reloader stats at most every 100ms
	second := writeCert(t, certFile, keyFile, 2)
	pool2 := x509.NewCertPool()
	pool2.AddCert(second)
	if code := do(client(pool2), "GET", admin+"/readyz", ""); code != http.StatusOK || seen.SerialNumber.Int64() != 2 {
		t.Fatalf("after renewal: %d, serial %v", code, seen.SerialNumber)
	}
	if code := do(client(pool2), "GET", intake+"/healthz", ""); code != http.StatusOK || seen.SerialNumber.Int64() != 2 {
		t.Fatalf("intake after renewal: %d, serial %v", code, seen.SerialNumber)
	}
}
