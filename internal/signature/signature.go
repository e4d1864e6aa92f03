// Package signature verifies that an inbound webhook was sent by the source
// it claims to come from, before Sluice captures it. Each source names a
// scheme and one or more shared secrets (several while a secret is being
// rotated); the errors it returns are sentinels the ingest HTTP layer maps to
// 401 without ever echoing a secret or an expected signature. It is a leaf
// (config, alert, the CLI and the demo use it too, to check and to sign),
// so it lives beside intake, not inside it.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scheme names a signature format a source can use.
type Scheme string

const (
	// StandardWebhooks is the Standard Webhooks (Svix) format: webhook-id,
	// webhook-timestamp and webhook-signature headers, HMAC-SHA256 over
	// "{id}.{timestamp}.{body}". It carries a timestamp, so replays are
	// refused outside the tolerance.
	StandardWebhooks Scheme = "standard-webhooks"
	// HMACSHA256 is the GitHub format: one header holding
	// "sha256=<hex HMAC-SHA256 of the body>". It has no timestamp, so it
	// cannot refuse a replayed request on its own.
	HMACSHA256 Scheme = "hmac-sha256"
)

const (
	// DefaultHeader is the header HMACSHA256 reads when Config.Header is
	// empty, GitHub's name for it.
	DefaultHeader = "X-Hub-Signature-256"
	// DefaultTolerance is how far webhook-timestamp may be from now when
	// Config.Tolerance is zero, the value the Standard Webhooks spec
	// recommends.
	DefaultTolerance = 5 * time.Minute

	// whsecPrefix marks a Standard Webhooks secret whose key is the base64
	// text after it.
	whsecPrefix = "whsec_"
)

// Header names of the Standard Webhooks scheme.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// The header names as net/http stores them: reading with these spares the
// canonicalisation (an allocation per read) that the lowercase names cost.
var (
	canonicalID        = http.CanonicalHeaderKey(HeaderID)
	canonicalTimestamp = http.CanonicalHeaderKey(HeaderTimestamp)
	canonicalSignature = http.CanonicalHeaderKey(HeaderSignature)
)

// Errors Verify returns, each wrapped with which header or check failed.
// Callers branch with errors.Is and answer 401; the messages are safe to send
// back to the sender because they never include a secret or the expected
// signature.
var (
	// ErrMissingSignature means a header the scheme needs is absent or empty.
	ErrMissingSignature = errors.New("missing signature")
	// ErrBadSignature means the signature is malformed or matches none of
	// the source's secrets (wrong secret, or the body was altered).
	ErrBadSignature = errors.New("bad signature")
	// ErrStaleTimestamp means webhook-timestamp is further from now than
	// the tolerance, in either direction: a replay or a badly skewed clock.
	ErrStaleTimestamp = errors.New("timestamp outside tolerance")
	// ErrBadTimestamp means webhook-timestamp is not unix seconds.
	ErrBadTimestamp = errors.New("bad timestamp")
)

// Config is one source's signature settings as written in sluice.yaml.
type Config struct {
	// Scheme is StandardWebhooks or HMACSHA256; required.
	Scheme Scheme
	// Secrets are the accepted keys, at least one. List the new secret first
	// while rotating: Verifier.Sign signs with the first, Verify accepts any.
	// For StandardWebhooks a "whsec_" prefix means the rest is the base64
	// key (as Svix and the spec's libraries issue them); any other value is
	// used as raw key bytes. HMACSHA256 secrets are always raw.
	Secrets []string
	// Header is where HMACSHA256 finds the signature; empty means
	// DefaultHeader. Setting it with StandardWebhooks is an error, because
	// that scheme's header names are fixed.
	Header string
	// Tolerance is how far webhook-timestamp may be from now for
	// StandardWebhooks; 0 means DefaultTolerance. Setting it with
	// HMACSHA256 is an error, because that scheme has no timestamp to check.
	Tolerance time.Duration
}

// Verifier checks inbound requests for one source. It is immutable after New
// and safe for concurrent use.
type Verifier struct {
	scheme    Scheme
	keys      [][]byte
	macs      []sync.Pool // of *keyedMAC, one pool per key
	header    string
	tolerance time.Duration
}

// New validates c and decodes its secrets once, so a bad secret fails
// `sluice check` instead of every request.
func New(c Config) (*Verifier, error) {
	v := &Verifier{scheme: c.Scheme}
	switch c.Scheme {
	case StandardWebhooks:
		if c.Header != "" {
			return nil, errors.New("signature: header: not configurable for scheme standard-webhooks")
		}
		if c.Tolerance < 0 {
			return nil, errors.New("signature: tolerance: must not be negative")
		}
		v.tolerance = c.Tolerance
		if v.tolerance == 0 {
			v.tolerance = DefaultTolerance
		}
	case HMACSHA256:
		if c.Tolerance != 0 {
			return nil, errors.New("signature: tolerance: scheme hmac-sha256 has no timestamp")
		}
		v.header = c.Header
		if v.header == "" {
			v.header = DefaultHeader
		}
	case "":
		return nil, errors.New("signature: scheme: required")
	default:
		return nil, fmt.Errorf("signature: scheme: unknown %q (known: %s, %s)", c.Scheme, StandardWebhooks, HMACSHA256)
	}
	if len(c.Secrets) == 0 {
		return nil, errors.New("signature: secrets: at least one is required")
	}
	for i, s := range c.Secrets {
		var (
			key []byte
			err error
		)
		if c.Scheme == StandardWebhooks {
			key, err = standardKey(s)
		} else {
			key, err = rawKey(s)
		}
		if err != nil {
			// The index, never the value: this error ends up in logs.
			return nil, fmt.Errorf("signature: secrets[%d]: %w", i, err)
		}
		v.keys = append(v.keys, key)
	}
	v.macs = make([]sync.Pool, len(v.keys))
	return v, nil
}

// standardKey decodes a Standard Webhooks secret.
func standardKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, whsecPrefix)
	if !ok {
		return rawKey(secret)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("whsec_ secret is not valid base64")
	}
	if len(key) == 0 {
		return nil, errors.New("whsec_ secret is empty")
	}
	return key, nil
}

func rawKey(secret string) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("empty")
	}
	return []byte(secret), nil
}

// Scheme reports the scheme the verifier checks.
func (v *Verifier) Scheme() Scheme { return v.scheme }

// Verify returns nil when the request carries a valid signature by any of the
// source's secrets. body must be the raw bytes as received: re-encoded JSON
// does not verify. now is injected so replay checks are testable.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) error {
	if v.scheme == HMACSHA256 {
		return v.verifyHMAC(h, body)
	}
	return v.verifyStandard(h, body, now)
}

func (v *Verifier) verifyStandard(h http.Header, body []byte, now time.Time) error {
	// Repeated webhook-signature lines are read as one space-separated list,
	// so a proxy that splits the header does not break verification.
	id, ts := h.Get(canonicalID), h.Get(canonicalTimestamp)
	sigs := strings.Join(h.Values(canonicalSignature), " ")
	for _, m := range []struct{ name, value string }{
		{HeaderID, id}, {HeaderTimestamp, ts}, {HeaderSignature, sigs},
	} {
		if m.value == "" {
			return fmt.Errorf("%w: no %s header", ErrMissingSignature, m.name)
		}
	}
	sec, err := parseTimestamp(ts)
	if err != nil {
		return err
	}
	// Compare in whole seconds, the header's resolution, and without
	// converting to a Duration that could overflow on absurd timestamps.
	tol := int64(v.tolerance / time.Second)
	if d := now.Unix() - sec; d > tol || d < -tol {
		return fmt.Errorf("%w: %s is more than %s from now", ErrStaleTimestamp, HeaderTimestamp, v.tolerance)
	}

	var candidates [][]byte
	for entry := range strings.FieldsSeq(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			// Other versions (v1a is Ed25519) are not ours to check.
			continue
		}
		mac, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(mac) != sha256.Size {
			continue
		}
		candidates = append(candidates, mac)
	}
	if len(candidates) == 0 {
		return fmt.Errorf("%w: no well-formed v1 entry in %s", ErrBadSignature, HeaderSignature)
	}
	for i := range v.keys {
		m := v.mac(i)
		m.buf, m.sum = standardSum(m.h, m.buf, m.sum, id, ts, body)
		ok := false
		for _, got := range candidates {
			ok = ok || hmac.Equal(got, m.sum)
		}
		v.macs[i].Put(m)
		if ok {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no configured secret", ErrBadSignature, HeaderSignature)
}

// parseTimestamp accepts only plain decimal digits: the signed content uses
// the header text verbatim, so "+17e8"-style spellings are refused rather
// than normalised.
func parseTimestamp(ts string) (int64, error) {
	if len(ts) > 18 {
		return 0, fmt.Errorf("%w: %s is not unix seconds", ErrBadTimestamp, HeaderTimestamp)
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return 0, fmt.Errorf("%w: %s is not unix seconds", ErrBadTimestamp, HeaderTimestamp)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s is not unix seconds", ErrBadTimestamp, HeaderTimestamp)
	}
	return sec, nil
}

func (v *Verifier) verifyHMAC(h http.Header, body []byte) error {
	value := strings.TrimSpace(h.Get(v.header))
	if value == "" {
		return fmt.Errorf("%w: no %s header", ErrMissingSignature, v.header)
	}
	value = strings.TrimPrefix(value, "sha256=")
	got, err := hex.DecodeString(value)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not sha256=<hex>", ErrBadSignature, v.header)
	}
	for i := range v.keys {
		m := v.mac(i)
		m.h.Write(body)
		m.sum = m.h.Sum(m.sum[:0])
		ok := hmac.Equal(got, m.sum)
		v.macs[i].Put(m)
		if ok {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no configured secret", ErrBadSignature, v.header)
}

// Sign returns the headers a sender of this source would set, signed with the
// first secret. It exists for `sluice send`, tests and benchmarks, which
// already hold the source's Config. id and ts are ignored by HMACSHA256.
func (v *Verifier) Sign(id string, ts time.Time, body []byte) http.Header {
	h := http.Header{}
	if v.scheme == HMACSHA256 {
		h.Set(v.header, "sha256="+hex.EncodeToString(bodyMAC(v.keys[0], body)))
		return h
	}
	unix := strconv.FormatInt(ts.Unix(), 10)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, unix)
	h.Set(HeaderSignature, "v1,"+base64.StdEncoding.EncodeToString(standardMAC(v.keys[0], id, unix, body)))
	return h
}

// SignStandardWebhooks returns the webhook-signature value ("v1,<base64>")
// for one message, decoding secret as Config.Secrets describes. It errors only
// when a whsec_ secret is not valid base64.
func SignStandardWebhooks(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := standardKey(secret)
	if err != nil {
		return "", fmt.Errorf("signature: %w", err)
	}
	unix := strconv.FormatInt(ts.Unix(), 10)
	return "v1," + base64.StdEncoding.EncodeToString(standardMAC(key, id, unix, body)), nil
}

// SignHMACSHA256 returns the GitHub-style header value "sha256=<hex>" for
// body.
func SignHMACSHA256(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(bodyMAC([]byte(secret), body))
}

// keyedMAC is an HMAC keyed with one of a Verifier's secrets, with the
// buffers one verification uses; Verifiers pool them, as keying a fresh
// HMAC costs two hash blocks and several allocations per request.
type keyedMAC struct {
	h   hash.Hash
	buf []byte // the signed content's prefix ("id.ts.")
	sum []byte
}

// mac returns a reset HMAC keyed with key i, for v.macs[i].Put after use.
func (v *Verifier) mac(i int) *keyedMAC {
	if m, ok := v.macs[i].Get().(*keyedMAC); ok {
		m.h.Reset()
		return m
	}
	return &keyedMAC{h: hmac.New(sha256.New, v.keys[i]), buf: make([]byte, 0, 64), sum: make([]byte, 0, sha256.Size)}
}

func standardMAC(key []byte, id, ts string, body []byte) []byte {
	_, sum := standardSum(hmac.New(sha256.New, key), nil, nil, id, ts, body)
	return sum
}

// standardSum is the MAC, by m (a keyed HMAC, reset), of what Standard
// Webhooks signs: "<id>.<ts>.<body>". prefix is scratch for "<id>.<ts>."
// and sum receives the MAC; both come back for reuse (Verifier pools them).
func standardSum(m hash.Hash, prefix, sum []byte, id, ts string, body []byte) ([]byte, []byte) {
	prefix = append(append(append(append(prefix[:0], id...), '.'), ts...), '.')
	m.Write(prefix)
	m.Write(body)
	return prefix, m.Sum(sum[:0])
}

func bodyMAC(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}
