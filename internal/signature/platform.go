package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Platform names a SaaS platform whose own webhook signature a source
// checks (sources.X.platform.kind), instead of a scheme Sluice chose.
type Platform string

// The platforms whose webhooks Sluice verifies the platform's way.
const (
	// HubSpot is HubSpot's request signature v3: X-HubSpot-Signature-v3
	// holds base64(HMAC-SHA256(client secret, method + URI + body +
	// timestamp)) and X-HubSpot-Request-Timestamp the send time in unix
	// milliseconds; HubSpot asks receivers to refuse requests older than
	// five minutes.
	HubSpot Platform = "hubspot"
	// Slack is Slack's signing secret v0: X-Slack-Signature holds
	// "v0=" + hex(HMAC-SHA256(signing secret, "v0:" + timestamp + ":" +
	// body)) and X-Slack-Request-Timestamp unix seconds; Slack asks
	// receivers to refuse timestamps more than five minutes from now.
	Slack Platform = "slack"
	// Notion is Notion's webhook signature: X-Notion-Signature holds
	// "sha256=" + hex(HMAC-SHA256(verification token, body)). The key is the
	// verification_token Notion sends once, unsigned, when the subscription
	// is created. Notion signs no timestamp; retries are recognised by the
	// event's id.
	Notion Platform = "notion"
	// Airtable is Airtable's notification MAC: X-Airtable-Content-MAC holds
	// "hmac-sha256=" + hex(HMAC-SHA256(base64-decoded macSecretBase64,
	// body)). It signs no timestamp; a notification carries no data (it
	// only says "list the payloads"), so a replayed one does no harm.
	Airtable Platform = "airtable"
)

// Platforms lists the known platforms, for messages.
var Platforms = []Platform{HubSpot, Slack, Notion, Airtable}

// Header names of the platforms' signatures.
const (
	HeaderHubSpotSignature = "X-HubSpot-Signature-v3"
	HeaderHubSpotTimestamp = "X-HubSpot-Request-Timestamp"
	HeaderSlackSignature   = "X-Slack-Signature"
	HeaderSlackTimestamp   = "X-Slack-Request-Timestamp"
	HeaderNotionSignature  = "X-Notion-Signature"
	HeaderAirtableMAC      = "X-Airtable-Content-MAC"
)

// PlatformTolerance is how old (HubSpot) or how far from now (Slack) a
// signed timestamp may be: five minutes, what both platforms document.
const PlatformTolerance = 5 * time.Minute

// ErrNoKey means the source has no key to verify with yet: a Notion
// source before the operator configured the verification token.
var ErrNoKey = errors.New("no verification key configured")

// PlatformVerifier checks one source's requests the platform's way. It is
// immutable after NewPlatform and safe for concurrent use.
type PlatformVerifier struct {
	platform Platform
	keys     [][]byte
}

// NewPlatform decodes secrets once, so a bad one fails `sluice check`
// instead of every request. Airtable secrets are macSecretBase64 as
// Airtable returns it when the webhook is created; the others are used
// as raw bytes. Several secrets may be listed while one is rotated.
// Notion alone may start with none (its token arrives by the handshake);
// Verify then refuses every signed request with ErrNoKey.
func NewPlatform(p Platform, secrets []string) (*PlatformVerifier, error) {
	switch p {
	case HubSpot, Slack, Notion, Airtable:
	case "":
		return nil, errors.New("kind: required")
	default:
		return nil, fmt.Errorf("kind: unknown %q (known: hubspot, slack, notion, airtable)", p)
	}
	if len(secrets) == 0 && p != Notion {
		return nil, errors.New("secrets: at least one is required")
	}
	v := &PlatformVerifier{platform: p}
	for i, s := range secrets {
		key, err := platformKey(p, s)
		if err != nil {
			// The index, never the value: this error ends up in logs.
			return nil, fmt.Errorf("secrets[%d]: %w", i, err)
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

func platformKey(p Platform, secret string) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("empty")
	}
	if p != Airtable {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(secret)
	if err != nil || len(key) == 0 {
		return nil, errors.New("not valid base64 (Airtable's macSecretBase64)")
	}
	return key, nil
}

// Platform reports which platform's signature v checks.
func (v *PlatformVerifier) Platform() Platform { return v.platform }

// Verify returns nil when the request carries the platform's valid
// signature by one of the source's secrets. url is the address the platform
// called, scheme and host included (HubSpot signs it); body the raw bytes
// as received. The errors are this package's sentinels, safe to send back.
func (v *PlatformVerifier) Verify(method, url string, h http.Header, body []byte, now time.Time) error {
	switch v.platform {
	case HubSpot:
		return v.verifyHubSpot(method, url, h, body, now)
	case Slack:
		return v.verifySlack(h, body, now)
	case Notion:
		return v.verifyBodyMAC(h, HeaderNotionSignature, "sha256=", body)
	default:
		return v.verifyBodyMAC(h, HeaderAirtableMAC, "hmac-sha256=", body)
	}
}

func (v *PlatformVerifier) verifyHubSpot(method, url string, h http.Header, body []byte, now time.Time) error {
	sig, ts := strings.TrimSpace(h.Get(HeaderHubSpotSignature)), h.Get(HeaderHubSpotTimestamp)
	if sig == "" {
		return fmt.Errorf("%w: no %s header", ErrMissingSignature, HeaderHubSpotSignature)
	}
	if ts == "" {
		return fmt.Errorf("%w: no %s header", ErrMissingSignature, HeaderHubSpotTimestamp)
	}
	ms, err := digits(ts, HeaderHubSpotTimestamp, "unix milliseconds")
	if err != nil {
		return err
	}
	// HubSpot documents only "older than five minutes"; a timestamp from
	// the future beyond the same bound is a forgery or a broken clock.
	tol := PlatformTolerance.Milliseconds()
	if d := now.UnixMilli() - ms; d > tol || d < -tol {
		return fmt.Errorf("%w: %s is more than %s from now", ErrStaleTimestamp, HeaderHubSpotTimestamp, PlatformTolerance)
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not base64 of an HMAC-SHA256", ErrBadSignature, HeaderHubSpotSignature)
	}
	for _, key := range v.keys {
		if hmac.Equal(got, hubspotMAC(key, method, url, body, ts)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no configured secret (is platform.url the address HubSpot calls?)", ErrBadSignature, HeaderHubSpotSignature)
}

func (v *PlatformVerifier) verifySlack(h http.Header, body []byte, now time.Time) error {
	sig, ts := strings.TrimSpace(h.Get(HeaderSlackSignature)), h.Get(HeaderSlackTimestamp)
	if sig == "" {
		return fmt.Errorf("%w: no %s header", ErrMissingSignature, HeaderSlackSignature)
	}
	if ts == "" {
		return fmt.Errorf("%w: no %s header", ErrMissingSignature, HeaderSlackTimestamp)
	}
	sec, err := digits(ts, HeaderSlackTimestamp, "unix seconds")
	if err != nil {
		return err
	}
	tol := int64(PlatformTolerance / time.Second)
	if d := now.Unix() - sec; d > tol || d < -tol {
		return fmt.Errorf("%w: %s is more than %s from now", ErrStaleTimestamp, HeaderSlackTimestamp, PlatformTolerance)
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not v0=<hex>", ErrBadSignature, HeaderSlackSignature)
	}
	for _, key := range v.keys {
		if hmac.Equal(got, slackMAC(key, ts, body)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no configured signing secret", ErrBadSignature, HeaderSlackSignature)
}

func (v *PlatformVerifier) verifyBodyMAC(h http.Header, header, prefix string, body []byte) error {
	value := strings.TrimSpace(h.Get(header))
	if value == "" {
		return fmt.Errorf("%w: no %s header", ErrMissingSignature, header)
	}
	if len(v.keys) == 0 {
		return fmt.Errorf("%w: set the source's platform.secrets to the verification token Notion sent", ErrNoKey)
	}
	hexSig, ok := strings.CutPrefix(value, prefix)
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not %s<hex>", ErrBadSignature, header, prefix)
	}
	for _, key := range v.keys {
		if hmac.Equal(got, bodyMAC(key, body)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no configured secret", ErrBadSignature, header)
}

// digits parses a timestamp header of plain decimal digits: the signed
// content uses the header text verbatim, so other spellings are refused.
func digits(ts, header, unit string) (int64, error) {
	if len(ts) > 18 {
		return 0, fmt.Errorf("%w: %s is not %s", ErrBadTimestamp, header, unit)
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return 0, fmt.Errorf("%w: %s is not %s", ErrBadTimestamp, header, unit)
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s is not %s", ErrBadTimestamp, header, unit)
	}
	return n, nil
}

// hubspotDecoded are the percent-escapes HubSpot decodes in the URI before
// signing it (its request-validation guide lists them).
var hubspotDecoded = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$", "%27", "'",
	"%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
	"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";",
)

func hubspotMAC(key []byte, method, url string, body []byte, ts string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(method))
	m.Write([]byte(hubspotDecoded.Replace(url)))
	m.Write(body)
	m.Write([]byte(ts))
	return m.Sum(nil)
}

func slackMAC(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("v0:"))
	m.Write([]byte(ts))
	m.Write([]byte{':'})
	m.Write(body)
	return m.Sum(nil)
}

// SignPlatform returns the headers platform p would send with a request of
// method to url carrying body at now, signed with secret (decoded as
// NewPlatform decodes it). The simulators send their webhooks with it;
// tests use it to forge good and bad requests.
func SignPlatform(p Platform, secret, method, url string, body []byte, now time.Time) (http.Header, error) {
	key, err := platformKey(p, secret)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	h := http.Header{}
	switch p {
	case HubSpot:
		ts := strconv.FormatInt(now.UnixMilli(), 10)
		h.Set(HeaderHubSpotTimestamp, ts)
		h.Set(HeaderHubSpotSignature, base64.StdEncoding.EncodeToString(hubspotMAC(key, method, url, body, ts)))
	case Slack:
		ts := strconv.FormatInt(now.Unix(), 10)
		h.Set(HeaderSlackTimestamp, ts)
		h.Set(HeaderSlackSignature, "v0="+hex.EncodeToString(slackMAC(key, ts, body)))
	case Notion:
		h.Set(HeaderNotionSignature, "sha256="+hex.EncodeToString(bodyMAC(key, body)))
	case Airtable:
		h.Set(HeaderAirtableMAC, "hmac-sha256="+hex.EncodeToString(bodyMAC(key, body)))
	default:
		return nil, fmt.Errorf("signature: unknown platform %q", p)
	}
	return h, nil
}
