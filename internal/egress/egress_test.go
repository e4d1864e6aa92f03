package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/egress"
)

// cases is every address the guard must judge, as an operator might write
// it in a URL's host. "want" is the kind; the reason is checked where it
// matters for the message.
var cases = []struct {
	host string
	want egress.Kind
}{
	// Public.
	{"93.184.216.34", egress.Public},
	{"8.8.8.8", egress.Public},
	{"1.1.1.1", egress.Public},
	{"203.0.113.7", egress.Public},
	{"172.15.255.255", egress.Public},
	{"172.32.0.1", egress.Public},
	{"100.63.255.255", egress.Public},
	{"100.128.0.1", egress.Public},
	{"169.253.255.255", egress.Public},
	{"2606:4700:4700::1111", egress.Public},
	{"2001:4860:4860::8888", egress.Public},
	{"::ffff:8.8.8.8", egress.Public},
	{"64:ff9b::808:808", egress.Public},
	{"2002:808:808::1", egress.Public},
	// Loopback.
	{"127.0.0.1", egress.Private},
	{"127.255.255.254", egress.Private},
	{"::1", egress.Private},
	{"::ffff:127.0.0.1", egress.Private},
	{"::ffff:7f00:1", egress.Private},
	{"0:0:0:0:0:ffff:7f00:0001", egress.Private},
	{"::127.0.0.1", egress.Private}, // IPv4-compatible
	{"64:ff9b::7f00:1", egress.Private},
	{"2002:7f00:1::", egress.Private},
	{"2001:0:4136:e378:8000:63bf:80ff:fffe", egress.Private}, // Teredo, client 127.0.0.1
	// Legacy IPv4 forms a C resolver accepts.
	{"2130706433", egress.Private},   // decimal 127.0.0.1
	{"017700000001", egress.Private}, // octal 127.0.0.1
	{"0x7f000001", egress.Private},   // hex 127.0.0.1
	{"0177.0.0.1", egress.Private},   // octal first byte
	{"0x7f.0.0.1", egress.Private},   // hex first byte
	{"127.1", egress.Private},        // two parts
	{"127.0.1", egress.Private},      // three parts
	{"0", egress.Private},            // 0.0.0.0
	{"167772165", egress.Private},    // 10.0.0.5
	{"0xa9fea9fe", egress.Forbidden}, // 169.254.169.254
	{"2852039166", egress.Forbidden}, // 169.254.169.254
	{"0251.0376.0251.0376", egress.Forbidden},
	{"1572395042", egress.Public}, // 93.184.216.34
	// Private ranges.
	{"10.0.0.5", egress.Private},
	{"10.255.255.255", egress.Private},
	{"172.16.0.1", egress.Private},
	{"172.31.255.254", egress.Private},
	{"192.168.1.1", egress.Private},
	{"100.64.0.1", egress.Private},
	{"100.127.255.254", egress.Private},
	{"198.18.0.1", egress.Private},
	{"0.0.0.0", egress.Private},
	{"0.1.2.3", egress.Private},
	{"::", egress.Private},
	{"fc00::1", egress.Private},
	{"fd12:3456:789a::1", egress.Private},
	{"fec0::1", egress.Private},
	{"::ffff:10.0.0.5", egress.Private},
	{"::ffff:192.168.0.1", egress.Private},
	{"::ffff:100.64.0.1", egress.Private},
	{"64:ff9b::a00:5", egress.Private},
	{"64:ff9b:1::1", egress.Private},
	{"2002:c0a8:101::1", egress.Private},
	// Forbidden: link-local and metadata, never allowed.
	{"169.254.169.254", egress.Forbidden},
	{"169.254.0.1", egress.Forbidden},
	{"169.254.170.2", egress.Forbidden},
	{"100.100.100.200", egress.Forbidden},
	{"168.63.129.16", egress.Forbidden},
	{"192.0.0.192", egress.Forbidden},
	{"fd00:ec2::254", egress.Forbidden},
	{"fd20:ce::254", egress.Forbidden},
	{"fe80::1", egress.Forbidden},
	{"fe80::1%eth0", egress.Forbidden},
	{"febf::1", egress.Forbidden},
	{"::ffff:169.254.169.254", egress.Forbidden},
	{"::ffff:a9fe:a9fe", egress.Forbidden},
	{"64:ff9b::a9fe:a9fe", egress.Forbidden},
	{"2002:a9fe:a9fe::", egress.Forbidden},
	{"::169.254.169.254", egress.Forbidden},
	{"::ffff:100.100.100.200", egress.Forbidden},
	{"224.0.0.1", egress.Forbidden},
	{"239.255.255.250", egress.Forbidden},
	{"ff02::1", egress.Forbidden},
	{"255.255.255.255", egress.Forbidden},
	{"240.0.0.1", egress.Forbidden},
}

// staticResolver answers every name with a fixed list, or with the next
// list on each call (rebinding).
type staticResolver struct {
	answers [][]netip.Addr
	calls   atomic.Int32
}

func (r *staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	n := int(r.calls.Add(1)) - 1
	if n >= len(r.answers) {
		n = len(r.answers) - 1
	}
	return r.answers[n], nil
}

// recorder stands in for the network: it records which address the guard
// let through and fails the connection, so no packet leaves the test.
type recorder struct{ dialled []string }

var errNotConnected = errors.New("test: not connected")

func (r *recorder) dial(_ context.Context, _, addr string) (net.Conn, error) {
	r.dialled = append(r.dialled, addr)
	return nil, errNotConnected
}

func TestClassifyAndDial(t *testing.T) {
	t.Parallel()
	if len(cases) < 50 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			t.Parallel()
			for _, allow := range []bool{false, true} {
				rec := &recorder{}
				pol := egress.Policy{Subject: "destination crm", AllowPrivate: allow, Dial: rec.dial,
					Resolver: &staticResolver{answers: [][]netip.Addr{nil}}}
				host := tc.host
				if strings.Contains(host, ":") {
					host = "[" + host + "]"
				}
				_, err := pol.DialContext(context.Background(), "tcp", host+":443")
				allowed := tc.want == egress.Public || tc.want == egress.Private && allow
				if allowed {
					if !errors.Is(err, errNotConnected) || len(rec.dialled) != 1 {
						t.Fatalf("allow=%v: want the dial let through, got %v (dialled %v)", allow, err, rec.dialled)
					}
					continue
				}
				var ee *egress.Error
				if !errors.As(err, &ee) || len(rec.dialled) != 0 {
					t.Fatalf("allow=%v: want refusal, got %v (dialled %v)", allow, err, rec.dialled)
				}
				if ee.Kind != tc.want {
					t.Fatalf("allow=%v: kind %v, want %v (%v)", allow, ee.Kind, tc.want, err)
				}
				if !errors.Is(err, egress.ErrRefused) {
					t.Fatalf("errors.Is(ErrRefused) false for %v", err)
				}
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	pol := egress.Policy{Subject: "destination crm", Dial: (&recorder{}).dial}
	_, err := pol.DialContext(context.Background(), "tcp", "10.0.0.5:443")
	want := "destination crm: refusing to connect to 10.0.0.5 (private network); set allow_private_network: true"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant it to contain %q", err, want)
	}
	pol.AllowPrivate = true
	_, err = pol.DialContext(context.Background(), "tcp", "169.254.169.254:80")
	want = "destination crm: refusing to connect to 169.254.169.254 (cloud metadata address); never allowed"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant it to contain %q", err, want)
	}
	pol.Resolver = &staticResolver{answers: [][]netip.Addr{{netip.MustParseAddr("fd00:ec2::254")}}}
	_, err = pol.DialContext(context.Background(), "tcp", "metadata.example:80")
	want = "refusing to connect to fd00:ec2::254 (resolved from metadata.example) (cloud metadata address)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant it to contain %q", err, want)
	}
}

// TestRebinding: a name that resolves to a public address when first
// looked up and to loopback or metadata afterwards is judged on every
// connection by what it resolves to then.
func TestRebinding(t *testing.T) {
	t.Parallel()
	res := &staticResolver{answers: [][]netip.Addr{
		{netip.MustParseAddr("93.184.216.34")},
		{netip.MustParseAddr("127.0.0.1")},
		{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("169.254.169.254")},
	}}
	rec := &recorder{}
	pol := egress.Policy{Subject: "destination crm", Resolver: res, Dial: rec.dial}
	if _, err := pol.DialContext(context.Background(), "tcp", "rebind.example:443"); !errors.Is(err, errNotConnected) {
		t.Fatalf("first dial: %v", err)
	}
	_, err := pol.DialContext(context.Background(), "tcp", "rebind.example:443")
	if !errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), "127.0.0.1 (resolved from rebind.example) (loopback)") {
		t.Fatalf("second dial: %v", err)
	}
	// A mixed answer: only the public address is tried.
	if _, err := pol.DialContext(context.Background(), "tcp", "rebind.example:443"); !errors.Is(err, errNotConnected) {
		t.Fatalf("third dial: %v", err)
	}
	want := []string{"93.184.216.34:443", "93.184.216.34:443"}
	if strings.Join(rec.dialled, ",") != strings.Join(want, ",") {
		t.Fatalf("dialled %v, want %v", rec.dialled, want)
	}
}

// TestTransportOverLoopback makes real HTTP requests through the guarded
// transport to a loopback server: refused by default, served when the
// destination allows private networks. The Control hook also refuses on
// its own, for dialers that resolve names themselves (pgx).
func TestTransportOverLoopback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()

	refused := &http.Client{Transport: egress.For("destination sim", false).Transport()}
	_, err := refused.Get(srv.URL)
	if !errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), "destination sim: refusing to connect to 127.0.0.1 (loopback); set allow_private_network: true") {
		t.Fatalf("want refusal, got %v", err)
	}
	allowed := &http.Client{Transport: egress.For("destination sim", true).Transport()}
	resp, err := allowed.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// localhost through the system resolver.
	_, err = refused.Get(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	if !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("localhost: want refusal, got %v", err)
	}

	d := net.Dialer{Control: egress.For("destination db", false).Control}
	if _, err := d.Dial("tcp", srv.Listener.Addr().String()); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("Control: want refusal, got %v", err)
	}
	d.Control = egress.For("destination db", true).Control
	c, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("Control allowed: %v", err)
	}
	c.Close()
}

func TestParseLegacyIPv4(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"2130706433": "127.0.0.1", "0x7f.1": "127.0.0.1", "127.1": "127.0.0.1", "10.1.2": "10.1.0.2",
		"0300.0250.0.1": "192.168.0.1", "4294967295": "255.255.255.255",
	} {
		got, ok := egress.ParseLegacyIPv4(in)
		if !ok || got.String() != want {
			t.Errorf("%s: got %v %v, want %s", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "4294967296", "1.2.3.4.5", "256.1", "1.2.3.256", "08", "0x", "example.com", "1.", "a1"} {
		if got, ok := egress.ParseLegacyIPv4(bad); ok {
			t.Errorf("%s: parsed as %v", bad, got)
		}
	}
}
