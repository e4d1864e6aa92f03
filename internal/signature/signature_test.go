package signature_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
)

// The published Standard Webhooks test vector (also in the Svix libraries'
// test suites).
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var now = time.Unix(1_700_000_000, 0)

func mustNew(t *testing.T, c signature.Config) *signature.Verifier {
	t.Helper()
	v, err := signature.New(c)
	if err != nil {
		t.Fatalf("New(%+v): %v", c.Scheme, err)
	}
	return v
}

// independentStandard computes a Standard Webhooks signature without the
// package's code, so a shared bug cannot make both sides agree.
func independentStandard(key []byte, id string, ts int64, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func independentHMAC(key, body string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func standardHeader(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("Webhook-Signature", sig)
	return h
}

func TestSpecVector(t *testing.T) {
	t.Parallel()
	got, err := signature.SignStandardWebhooks(specSecret, specID, time.Unix(specTS, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSig {
		t.Fatalf("SignStandardWebhooks = %q, want %q", got, specSig)
	}
	v := mustNew(t, signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{specSecret}})
	h := standardHeader(specID, specTS, specSig)
	if err := v.Verify(h, []byte(specBody), time.Unix(specTS+10, 0)); err != nil {
		t.Fatalf("Verify(spec vector) = %v", err)
	}
}

func TestStandardWebhooks(t *testing.T) {
	t.Parallel()
	const (
		oldSecret = "whsec_" + "b2xkLXNlY3JldC1rZXktYnl0ZXM=" // "old-secret-key-bytes"
		newSecret = "raw-new-secret"
		id        = "msg_1"
		body      = `{"email":"a@example.com"}`
	)
	oldKey, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(oldSecret, "whsec_"))
	ts := now.Unix()
	sigOld := independentStandard(oldKey, id, ts, body)
	sigNew := independentStandard([]byte(newSecret), id, ts, body)
	sigWrong := independentStandard([]byte("wrong"), id, ts, body)

	rotated := mustNew(t, signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{newSecret, oldSecret}})
	onlyNew := mustNew(t, signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{newSecret}})

	tests := []struct {
		name   string
		v      *signature.Verifier
		header http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"valid new secret", rotated, standardHeader(id, ts, sigNew), body, now, nil},
		{"valid old secret during rotation", rotated, standardHeader(id, ts, sigOld), body, now, nil},
		{"old secret after rotation", onlyNew, standardHeader(id, ts, sigOld), body, now, signature.ErrBadSignature},
		{"wrong secret", rotated, standardHeader(id, ts, sigWrong), body, now, signature.ErrBadSignature},
		{"one of several entries matches", onlyNew, standardHeader(id, ts, "v1a,xyz "+sigWrong+" "+sigNew), body, now, nil},
		{"other versions ignored", onlyNew, standardHeader(id, ts, "v2,"+strings.TrimPrefix(sigNew, "v1,")), body, now, signature.ErrBadSignature},
		{"tampered body", onlyNew, standardHeader(id, ts, sigNew), body + " ", now, signature.ErrBadSignature},
		{"tampered id", onlyNew, standardHeader("msg_2", ts, sigNew), body, now, signature.ErrBadSignature},
		{"edge of tolerance past", onlyNew, standardHeader(id, ts, sigNew), body, now.Add(5 * time.Minute), nil},
		{"edge of tolerance future", onlyNew, standardHeader(id, ts, sigNew), body, now.Add(-5 * time.Minute), nil},
		{"stale", onlyNew, standardHeader(id, ts, sigNew), body, now.Add(5*time.Minute + time.Second), signature.ErrStaleTimestamp},
		{"future", onlyNew, standardHeader(id, ts, sigNew), body, now.Add(-5*time.Minute - time.Second), signature.ErrStaleTimestamp},
		{"missing id", onlyNew, without(standardHeader(id, ts, sigNew), "webhook-id"), body, now, signature.ErrMissingSignature},
		{"missing timestamp", onlyNew, without(standardHeader(id, ts, sigNew), "webhook-timestamp"), body, now, signature.ErrMissingSignature},
		{"missing signature", onlyNew, without(standardHeader(id, ts, sigNew), "webhook-signature"), body, now, signature.ErrMissingSignature},
		{"no headers", onlyNew, http.Header{}, body, now, signature.ErrMissingSignature},
		{"timestamp not a number", onlyNew, with(standardHeader(id, ts, sigNew), "webhook-timestamp", "yesterday"), body, now, signature.ErrBadTimestamp},
		{"timestamp with sign", onlyNew, with(standardHeader(id, ts, sigNew), "webhook-timestamp", "+"+strconv.FormatInt(ts, 10)), body, now, signature.ErrBadTimestamp},
		{"timestamp in millis", onlyNew, with(standardHeader(id, ts, sigNew), "webhook-timestamp", strconv.FormatInt(ts*1000, 10)), body, now, signature.ErrStaleTimestamp},
		{"timestamp overflow", onlyNew, with(standardHeader(id, ts, sigNew), "webhook-timestamp", strings.Repeat("9", 40)), body, now, signature.ErrBadTimestamp},
		{"signature without version", onlyNew, standardHeader(id, ts, strings.TrimPrefix(sigNew, "v1,")), body, now, signature.ErrBadSignature},
		{"signature not base64", onlyNew, standardHeader(id, ts, "v1,!!!not-base64!!!"), body, now, signature.ErrBadSignature},
		{"signature truncated", onlyNew, standardHeader(id, ts, sigNew[:20]), body, now, signature.ErrBadSignature},
		{"signature blank entries", onlyNew, standardHeader(id, ts, "   "), body, now, signature.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.v.Verify(tt.header, []byte(tt.body), tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHMACSHA256(t *testing.T) {
	t.Parallel()
	const body = `{"action":"opened"}`
	sig := independentHMAC("s3cret", body)
	v := mustNew(t, signature.Config{Scheme: signature.HMACSHA256, Secrets: []string{"next", "s3cret"}})
	custom := mustNew(t, signature.Config{Scheme: signature.HMACSHA256, Secrets: []string{"s3cret"}, Header: "X-Sluice-Signature"})

	hdr := func(name, value string) http.Header {
		h := http.Header{}
		h.Set(name, value)
		return h
	}
	tests := []struct {
		name   string
		v      *signature.Verifier
		header http.Header
		body   string
		want   error
	}{
		{"prefixed", v, hdr("X-Hub-Signature-256", "sha256="+sig), body, nil},
		{"bare hex", v, hdr("X-Hub-Signature-256", sig), body, nil},
		{"upper-case hex", v, hdr("X-Hub-Signature-256", "sha256="+strings.ToUpper(sig)), body, nil},
		{"custom header", custom, hdr("X-Sluice-Signature", "sha256="+sig), body, nil},
		{"custom header ignores default", custom, hdr("X-Hub-Signature-256", "sha256="+sig), body, signature.ErrMissingSignature},
		{"missing", v, http.Header{}, body, signature.ErrMissingSignature},
		{"wrong secret", v, hdr("X-Hub-Signature-256", "sha256="+independentHMAC("nope", body)), body, signature.ErrBadSignature},
		{"tampered body", v, hdr("X-Hub-Signature-256", "sha256="+sig), body + "\n", signature.ErrBadSignature},
		{"not hex", v, hdr("X-Hub-Signature-256", "sha256=zz"), body, signature.ErrBadSignature},
		{"short", v, hdr("X-Hub-Signature-256", "sha256="+sig[:62]), body, signature.ErrBadSignature},
		{"sha1 prefix", v, hdr("X-Hub-Signature-256", "sha1="+sig), body, signature.ErrBadSignature},
		{"empty hex", v, hdr("X-Hub-Signature-256", "sha256="), body, signature.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.v.Verify(tt.header, []byte(tt.body), time.Time{})
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignRoundTrip(t *testing.T) {
	t.Parallel()
	body := []byte(`{"n":1}`)
	for _, c := range []signature.Config{
		{Scheme: signature.StandardWebhooks, Secrets: []string{specSecret, "old"}},
		{Scheme: signature.StandardWebhooks, Secrets: []string{"raw"}},
		{Scheme: signature.HMACSHA256, Secrets: []string{"k"}, Header: "X-Sig"},
	} {
		v := mustNew(t, c)
		h := v.Sign("msg_rt", now, body)
		if err := v.Verify(h, body, now); err != nil {
			t.Errorf("%s %v: Verify(Sign) = %v", c.Scheme, c.Secrets[0] == specSecret, err)
		}
	}
	if got, want := signature.SignHMACSHA256("k", body), "sha256="+independentHMAC("k", string(body)); got != want {
		t.Errorf("SignHMACSHA256 = %q, want %q", got, want)
	}
	if _, err := signature.SignStandardWebhooks("whsec_%%%", "id", now, body); err == nil {
		t.Error("SignStandardWebhooks with bad whsec secret: want error")
	}
}

func TestWhsecPrefix(t *testing.T) {
	t.Parallel()
	// The same text with and without the prefix is two different keys:
	// prefixed means base64, unprefixed means raw bytes.
	const b64 = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, _ := base64.StdEncoding.DecodeString(b64)
	sig := independentStandard(key, specID, specTS, specBody)
	h := standardHeader(specID, specTS, sig)
	at := time.Unix(specTS, 0)

	prefixed := mustNew(t, signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{"whsec_" + b64}})
	if err := prefixed.Verify(h, []byte(specBody), at); err != nil {
		t.Errorf("prefixed secret: %v", err)
	}
	raw := mustNew(t, signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{b64}})
	if err := raw.Verify(h, []byte(specBody), at); !errors.Is(err, signature.ErrBadSignature) {
		t.Errorf("unprefixed secret used as base64: %v, want ErrBadSignature", err)
	}
	rawSig := independentStandard([]byte(b64), specID, specTS, specBody)
	if err := raw.Verify(standardHeader(specID, specTS, rawSig), []byte(specBody), at); err != nil {
		t.Errorf("unprefixed secret as raw bytes: %v", err)
	}
	// hmac-sha256 never decodes: "whsec_..." is just a string there.
	gh := mustNew(t, signature.Config{Scheme: signature.HMACSHA256, Secrets: []string{"whsec_%%%"}})
	hh := http.Header{}
	hh.Set("X-Hub-Signature-256", independentHMAC("whsec_%%%", "x"))
	if err := gh.Verify(hh, []byte("x"), at); err != nil {
		t.Errorf("hmac-sha256 with whsec-looking secret: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	const secret = "whsec_c3VwZXItc2VjcmV0LXZhbHVlIQ==!"
	tests := []struct {
		name string
		c    signature.Config
		want string
	}{
		{"no scheme", signature.Config{Secrets: []string{"x"}}, "scheme: required"},
		{"unknown scheme", signature.Config{Scheme: "ed25519", Secrets: []string{"x"}}, `unknown "ed25519"`},
		{"no secrets", signature.Config{Scheme: signature.HMACSHA256}, "at least one"},
		{"empty secret", signature.Config{Scheme: signature.HMACSHA256, Secrets: []string{"a", ""}}, "secrets[1]: empty"},
		{"bad whsec base64", signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{secret}}, "secrets[0]: whsec_ secret is not valid base64"},
		{"empty whsec", signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{"whsec_"}}, "secrets[0]: whsec_ secret is empty"},
		{"header with standard-webhooks", signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{"x"}, Header: "X-Sig"}, "header: not configurable"},
		{"tolerance with hmac-sha256", signature.Config{Scheme: signature.HMACSHA256, Secrets: []string{"x"}, Tolerance: time.Minute}, "no timestamp"},
		{"negative tolerance", signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{"x"}, Tolerance: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := signature.New(tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want error containing %q", err, tt.want)
			}
			for _, s := range tt.c.Secrets {
				// Skip secrets too short to mean anything ("x", "whsec_").
				if len(s) > 8 && strings.Contains(err.Error(), s) {
					t.Fatalf("error %q contains the secret", err)
				}
			}
		})
	}
}

// TestErrorsDoNotLeak checks that no failure message carries a secret or the
// signature Verify expected, since the HTTP layer returns them to callers.
func TestErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	const secret = "very-secret-key"
	body := []byte(`{"a":1}`)
	v := mustNew(t, signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{secret}})
	want := strings.TrimPrefix(independentStandard([]byte(secret), "id", now.Unix(), string(body)), "v1,")
	gh := mustNew(t, signature.Config{Scheme: signature.HMACSHA256, Secrets: []string{secret}})
	wantHex := independentHMAC(secret, string(body))

	hh := http.Header{}
	hh.Set("X-Hub-Signature-256", "sha256="+independentHMAC("other", string(body)))
	errs := []error{
		v.Verify(standardHeader("id", now.Unix(), "v1,AAAA"), body, now),
		v.Verify(standardHeader("id", now.Unix(), independentStandard([]byte("x"), "id", now.Unix(), string(body))), body, now),
		v.Verify(standardHeader("id", now.Unix()-3600, "v1,AAAA"), body, now),
		gh.Verify(hh, body, now),
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		for _, s := range []string{secret, want, wantHex} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q leaks %q", err, s)
			}
		}
	}
}

func without(h http.Header, name string) http.Header {
	h.Del(name)
	return h
}

func with(h http.Header, name, value string) http.Header {
	h.Set(name, value)
	return h
}

func BenchmarkVerifyStandardWebhooks(b *testing.B) {
	v, err := signature.New(signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{"new", specSecret}})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(strings.Repeat(`{"field":"value"},`, 100))
	h := http.Header{}
	for k, vs := range v.Sign("msg_bench", now, body) {
		h[k] = vs
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := v.Verify(h, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
