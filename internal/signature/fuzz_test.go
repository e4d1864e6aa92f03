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

// The fuzz secret and clock are fixed so the seed corpus under
// testdata/fuzz/FuzzVerify can hold valid signatures: the first seed is the
// Standard Webhooks spec vector.
const (
	fuzzSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	fuzzNow    = 1614265330
)

// FuzzVerify feeds arbitrary header values and bodies to both schemes. Verify
// must not panic, must fail only with one of the package's sentinels, and
// must accept only what a configured secret signed, within tolerance.
func FuzzVerify(f *testing.F) {
	std, err := signature.New(signature.Config{Scheme: signature.StandardWebhooks, Secrets: []string{"raw-other", fuzzSecret}})
	if err != nil {
		f.Fatal(err)
	}
	gh, err := signature.New(signature.Config{Scheme: signature.HMACSHA256, Secrets: []string{fuzzSecret}})
	if err != nil {
		f.Fatal(err)
	}
	specKey, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(fuzzSecret, "whsec_"))
	stdKeys := [][]byte{[]byte("raw-other"), specKey}
	now := time.Unix(fuzzNow, 0)
	sentinels := []error{signature.ErrMissingSignature, signature.ErrBadSignature, signature.ErrStaleTimestamp, signature.ErrBadTimestamp}

	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		h.Set("X-Hub-Signature-256", sig)

		if err := std.Verify(h, body, now); err == nil {
			n, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil || n < fuzzNow-300 || n > fuzzNow+300 || strings.HasPrefix(ts, "+") {
				t.Fatalf("standard-webhooks accepted timestamp %q", ts)
			}
			if !signedByAny(stdKeys, id+"."+ts+"."+string(body), sig) {
				t.Fatalf("standard-webhooks accepted %q, signed by no key", sig)
			}
		} else {
			mustBeSentinel(t, err, sentinels)
		}

		if err := gh.Verify(h, body, now); err == nil {
			m := hmac.New(sha256.New, []byte(fuzzSecret))
			m.Write(body)
			want := hex.EncodeToString(m.Sum(nil))
			got := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(sig), "sha256="))
			if got != want {
				t.Fatalf("hmac-sha256 accepted %q, want %q", sig, want)
			}
		} else {
			mustBeSentinel(t, err, sentinels)
		}
	})
}

func signedByAny(keys [][]byte, content, header string) bool {
	for _, key := range keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(content))
		want := m.Sum(nil)
		for _, entry := range strings.Fields(header) {
			// Decoded, not textual, comparison: base64 decoding tolerates
			// non-canonical trailing bits, which is harmless.
			b64, ok := strings.CutPrefix(entry, "v1,")
			got, err := base64.StdEncoding.DecodeString(b64)
			if ok && err == nil && hmac.Equal(got, want) {
				return true
			}
		}
	}
	return false
}

func mustBeSentinel(t *testing.T, err error, sentinels []error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("unclassified error %v", err)
}
