// Package egress guards Sluice's outbound connections: every connector and
// alert sender dials through a Policy, which checks the address actually
// being connected to (after name resolution, at connect time) so that a
// hostile or mistaken URL, or a DNS answer that changes between check and
// use (rebinding), cannot make Sluice reach the cloud metadata service, a
// link-local address or, unless the destination allows it, the loopback
// and private networks it runs in.
//
// Three kinds of address:
//   - Public: allowed.
//   - Private (loopback, RFC 1918, carrier-grade NAT, unique local IPv6,
//     unspecified, benchmarking, and the same through IPv4-mapped, NAT64,
//     6to4, Teredo and IPv4-compatible IPv6 forms): refused unless the
//     destination sets allow_private_network: true (simulators, demos,
//     services on the same network).
//   - Forbidden (link-local, cloud metadata, multicast, broadcast,
//     reserved): always refused; no legitimate destination lives there.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kind is how the guard treats an address.
type Kind int

const (
	// Public addresses are always allowed.
	Public Kind = iota
	// Private addresses need allow_private_network: true.
	Private
	// Forbidden addresses are never connected to.
	Forbidden
)

// OptionName is the configuration key that allows private addresses; error
// messages name it so the fix is one copy away.
const OptionName = "allow_private_network"

type rangeRule struct {
	prefix netip.Prefix
	kind   Kind
	reason string
}

func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// metadata are the instance metadata and platform service addresses of the
// clouds Sluice may run in. Some sit inside ranges that are merely private
// (100.100.100.200 is in CGNAT space, fd00:ec2::254 in ULA space), which is
// why they are listed one by one and checked first.
var metadata = []rangeRule{
	{p("169.254.169.254/32"), Forbidden, "cloud metadata address"},    // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
	{p("169.254.170.2/32"), Forbidden, "cloud metadata address"},      // AWS ECS task metadata
	{p("169.254.169.253/32"), Forbidden, "cloud metadata address"},    // AWS VPC DNS
	{p("100.100.100.200/32"), Forbidden, "cloud metadata address"},    // Alibaba Cloud
	{p("168.63.129.16/32"), Forbidden, "cloud metadata address"},      // Azure WireServer
	{p("192.0.0.192/32"), Forbidden, "cloud metadata address"},        // Oracle Cloud (legacy)
	{p("fd00:ec2::254/128"), Forbidden, "cloud metadata address"},     // AWS IMDS over IPv6
	{p("fd00:ec2::253/128"), Forbidden, "cloud metadata address"},     // AWS VPC DNS over IPv6
	{p("fd00:ec2::23/128"), Forbidden, "cloud metadata address"},      // AWS time sync over IPv6
	{p("fd20:ce::254/128"), Forbidden, "cloud metadata address"},      // GCP metadata over IPv6
	{p("fd00:a9fe:a9fe::1/128"), Forbidden, "cloud metadata address"}, // Azure IMDS over IPv6
}

// ranges classify everything else; the first match wins, so narrower
// forbidden ranges come before wider private ones.
var ranges = []rangeRule{
	{p("169.254.0.0/16"), Forbidden, "link-local"},
	{p("fe80::/10"), Forbidden, "link-local"},
	{p("224.0.0.0/4"), Forbidden, "multicast"},
	{p("ff00::/8"), Forbidden, "multicast"},
	{p("255.255.255.255/32"), Forbidden, "broadcast"},
	{p("240.0.0.0/4"), Forbidden, "reserved"},
	{p("127.0.0.0/8"), Private, "loopback"},
	{p("::1/128"), Private, "loopback"},
	{p("0.0.0.0/8"), Private, "unspecified"},
	{p("::/128"), Private, "unspecified"},
	{p("10.0.0.0/8"), Private, "private network"},
	{p("172.16.0.0/12"), Private, "private network"},
	{p("192.168.0.0/16"), Private, "private network"},
	{p("100.64.0.0/10"), Private, "carrier-grade NAT"},
	{p("198.18.0.0/15"), Private, "benchmarking network"},
	{p("192.0.0.0/24"), Private, "IETF protocol assignments"},
	{p("fc00::/7"), Private, "unique local address"},
	{p("fec0::/10"), Private, "site-local"},
	{p("64:ff9b:1::/48"), Private, "local-use NAT64"},
	{p("100::/64"), Forbidden, "discard-only"},
}

// Classify says how the guard treats ip and why, looking through every
// IPv6 form that embeds an IPv4 address (mapped, NAT64, 6to4, Teredo,
// IPv4-compatible): an embedded address is judged as itself.
func Classify(ip netip.Addr) (Kind, string) {
	ip = ip.WithZone("")
	if embedded, ok := embeddedIPv4(ip); ok {
		k, why := Classify(embedded)
		if k != Public && embedded != ip {
			why += " (embedded in " + ip.String() + ")"
		}
		return k, why
	}
	for _, r := range metadata {
		if r.prefix.Contains(ip) {
			return r.kind, r.reason
		}
	}
	for _, r := range ranges {
		if r.prefix.Contains(ip) {
			return r.kind, r.reason
		}
	}
	if !ip.IsValid() {
		return Forbidden, "invalid address"
	}
	return Public, ""
}

var (
	nat64   = p("64:ff9b::/96")
	sixTo4  = p("2002::/16")
	teredo  = p("2001::/32")
	compat4 = p("::/96")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries, if any.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return ip, false
	}
	if ip.Is4In6() {
		return ip.Unmap(), true
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixTo4.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	case teredo.Contains(ip):
		// The client's address is stored inverted in the last 32 bits.
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	case compat4.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	}
	return ip, false
}

// Error is a refused connection. It names the destination and the address
// so `sluice check` and a delivery's last error say exactly what to change.
type Error struct {
	// Subject is what was connecting: "destination crm", "alert channel
	// ops".
	Subject string
	// Host is the name that was dialled, empty when it was an address.
	Host   string
	Addr   string
	Kind   Kind
	Reason string
}

func (e *Error) Error() string {
	target := e.Addr
	if e.Host != "" && e.Host != e.Addr {
		target = fmt.Sprintf("%s (resolved from %s)", e.Addr, e.Host)
	}
	msg := fmt.Sprintf("refusing to connect to %s (%s)", target, e.Reason)
	if e.Subject != "" {
		msg = e.Subject + ": " + msg
	}
	if e.Kind == Private {
		return msg + "; set " + OptionName + ": true"
	}
	return msg + "; never allowed"
}

// ErrRefused matches every *Error with errors.Is.
var ErrRefused = errors.New("egress refused")

// Is makes errors.Is(err, ErrRefused) true for a refusal.
func (e *Error) Is(target error) bool { return target == ErrRefused }

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy is the guard of one destination or alert channel. The zero value
// refuses private and forbidden addresses and resolves with the system
// resolver.
type Policy struct {
	// Subject names the destination in errors ("destination crm").
	Subject string
	// AllowPrivate allows loopback and private addresses (never forbidden
	// ones).
	AllowPrivate bool
	// Resolver replaces net.DefaultResolver (tests).
	Resolver Resolver
	// Dial makes the connection to a checked address (tests); default a
	// net.Dialer whose Control checks the address once more.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// For is the policy of a named subject.
func For(subject string, allowPrivate bool) Policy {
	return Policy{Subject: subject, AllowPrivate: allowPrivate}
}

// Check refuses ip unless the policy allows it.
func (p Policy) Check(ip netip.Addr) error {
	return p.check("", ip)
}

func (p Policy) check(host string, ip netip.Addr) error {
	k, why := Classify(ip)
	if k == Public || k == Private && p.AllowPrivate {
		return nil
	}
	return &Error{Subject: p.Subject, Host: host, Addr: ip.WithZone("").String(), Kind: k, Reason: why}
}

// Control is a net.Dialer Control function: it runs after the address is
// resolved and before the connection is made, so it judges exactly the
// address the socket will reach.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	if strings.HasPrefix(network, "unix") {
		if p.AllowPrivate {
			return nil
		}
		return &Error{Subject: p.Subject, Addr: address, Kind: Private, Reason: "local socket"}
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &Error{Subject: p.Subject, Addr: address, Kind: Forbidden, Reason: "not an IP address"}
	}
	return p.check("", ip)
}

// DialContext resolves address's host, refuses the addresses the policy
// does not allow, and connects to the first allowed one that answers. Host
// names that a C library would read as an IPv4 address in decimal, octal
// or hexadecimal ("2130706433", "0177.0.0.1", "0x7f.1") are read that way
// here too, so they are judged as the address they mean.
func (p Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if strings.HasPrefix(network, "unix") {
		if err := p.Control(network, address, nil); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		return p.dial(ctx, network, address)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	ips, err := p.resolve(ctx, network, host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, ip := range ips {
		if err := p.check(host, ip); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		conn, err := p.dial(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil || errors.Is(firstErr, ErrRefused) {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("no addresses for %s", host)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: firstErr}
}

func (p Policy) dial(ctx context.Context, network, address string) (net.Conn, error) {
	if p.Dial != nil {
		return p.Dial(ctx, network, address)
	}
	d := net.Dialer{Control: p.Control, Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return d.DialContext(ctx, network, address)
}

// resolve turns host into addresses: an address literal (including the
// legacy IPv4 forms) as itself, a name through the resolver.
func (p Policy) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{ip}, nil
	}
	if ip, ok := ParseLegacyIPv4(host); ok {
		return []netip.Addr{ip}, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ipNet := "ip"
	switch network {
	case "tcp4", "udp4":
		ipNet = "ip4"
	case "tcp6", "udp6":
		ipNet = "ip6"
	}
	ips, err := r.LookupNetIP(ctx, ipNet, host)
	if err != nil {
		return nil, err
	}
	return ips, nil
}

// ParseLegacyIPv4 reads the IPv4 forms inet_aton accepts besides the
// dotted quad: one to four parts, each decimal, octal (leading 0) or
// hexadecimal (0x), the last part filling the remaining bytes
// ("2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1").
func ParseLegacyIPv4(s string) (netip.Addr, bool) {
	if s == "" || strings.HasSuffix(s, ".") {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		base := 10
		digits := part
		switch {
		case len(part) > 1 && (part[:2] == "0x" || part[:2] == "0X"):
			base, digits = 16, part[2:]
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		if digits == "" {
			if base == 16 {
				return netip.Addr{}, false
			}
			digits = "0"
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i, v := range vals[:last] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// Transport is an http.Transport that dials through the policy. It uses no
// proxy from the environment: a proxy would resolve and connect on Sluice's
// behalf, out of the guard's sight.
func (p Policy) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = p.DialContext
	return t
}

// CheckHost judges a configured host without resolving it, for `sluice
// check`: an address literal, a legacy numeric IPv4 form or "localhost" is
// judged now; any other name is judged at connect time, once resolved, and
// passes here.
func (p Policy) CheckHost(host string) error {
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		if p.AllowPrivate {
			return nil
		}
		return &Error{Subject: p.Subject, Addr: host, Kind: Private, Reason: "loopback"}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		var ok bool
		if ip, ok = ParseLegacyIPv4(host); !ok {
			return nil
		}
	}
	return p.check(host, ip)
}
