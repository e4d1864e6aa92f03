package signature_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
)

const platformURL = "https://sluice.example.com/v1/sources/crm/events?x=a%3Ab"

var platformSecrets = map[signature.Platform]string{
	signature.HubSpot:  "hubspot-client-secret-0123",
	signature.Slack:    "8f742231b10e8888abcd99yyyzzz85a5",
	signature.Notion:   "secret_notion-verification-token",
	signature.Airtable: base64.StdEncoding.EncodeToString([]byte("airtable-mac-secret-0123456789ab")),
}

// TestSlackDocumentedVector checks the example Slack's "Verifying requests
// from Slack" guide works through.
func TestSlackDocumentedVector(t *testing.T) {
	v, err := signature.NewPlatform(signature.Slack, []string{"8f742231b10e8888abcd99yyyzzz85a5"})
	if err != nil {
		t.Fatal(err)
	}
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", "1531420618")
	h.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	if err := v.Verify("POST", "", h, []byte(body), time.Unix(1531420618+30, 0)); err != nil {
		t.Fatalf("documented vector: %v", err)
	}
}

func TestPlatformVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`[{"eventId":1,"objectId":101,"subscriptionType":"contact.creation"}]`)
	for _, p := range signature.Platforms {
		t.Run(string(p), func(t *testing.T) {
			secret := platformSecrets[p]
			v, err := signature.NewPlatform(p, []string{"some-other-secret", secret})
			if p == signature.Airtable {
				v, err = signature.NewPlatform(p, []string{base64.StdEncoding.EncodeToString([]byte("other")), secret})
			}
			if err != nil {
				t.Fatal(err)
			}
			good, err := signature.SignPlatform(p, secret, "POST", platformURL, body, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify("POST", platformURL, good, body, now.Add(time.Minute)); err != nil {
				t.Fatalf("good request refused: %v", err)
			}
			// The body altered by one byte.
			altered := append([]byte(nil), body...)
			altered[3] = 'X'
			if err := v.Verify("POST", platformURL, good, altered, now); !errors.Is(err, signature.ErrBadSignature) {
				t.Fatalf("altered body: err = %v, want ErrBadSignature", err)
			}
			// Signed with a secret the source does not have.
			wrongSecret := "not-the-secret-at-all"
			if p == signature.Airtable {
				wrongSecret = base64.StdEncoding.EncodeToString([]byte(wrongSecret))
			}
			wrong, _ := signature.SignPlatform(p, wrongSecret, "POST", platformURL, body, now)
			if err := v.Verify("POST", platformURL, wrong, body, now); !errors.Is(err, signature.ErrBadSignature) {
				t.Fatalf("wrong secret: err = %v, want ErrBadSignature", err)
			}
			if err := v.Verify("POST", platformURL, http.Header{}, body, now); !errors.Is(err, signature.ErrMissingSignature) {
				t.Fatalf("no headers: err = %v, want ErrMissingSignature", err)
			}
			switch p {
			case signature.HubSpot, signature.Slack:
				// Five minutes and one second late: refused as a replay.
				if err := v.Verify("POST", platformURL, good, body, now.Add(5*time.Minute+time.Second)); !errors.Is(err, signature.ErrStaleTimestamp) {
					t.Fatalf("old timestamp: err = %v, want ErrStaleTimestamp", err)
				}
				bad := good.Clone()
				ts := signature.HeaderSlackTimestamp
				if p == signature.HubSpot {
					ts = signature.HeaderHubSpotTimestamp
				}
				bad.Set(ts, "+1800000000")
				if err := v.Verify("POST", platformURL, bad, body, now); !errors.Is(err, signature.ErrBadTimestamp) {
					t.Fatalf("non-digit timestamp: err = %v, want ErrBadTimestamp", err)
				}
			}
			if p == signature.HubSpot {
				// HubSpot signs method and URL: another path does not verify.
				if err := v.Verify("POST", strings.Replace(platformURL, "crm", "other", 1), good, body, now); !errors.Is(err, signature.ErrBadSignature) {
					t.Fatalf("other URL: err = %v", err)
				}
				// HubSpot decodes some escapes before signing: %3A and ":" sign alike.
				if err := v.Verify("POST", strings.Replace(platformURL, "%3A", ":", 1), good, body, now); err != nil {
					t.Fatalf("decoded URL: %v", err)
				}
			}
		})
	}
}

func TestNewPlatformRefusesBadSettings(t *testing.T) {
	for _, c := range []struct {
		p       signature.Platform
		secrets []string
		want    string
	}{
		{"", []string{"x"}, "kind: required"},
		{"zapier", []string{"x"}, "unknown"},
		{signature.HubSpot, nil, "at least one"},
		{signature.Airtable, []string{"not base64!"}, "secrets[0]: not valid base64"},
		{signature.Slack, []string{""}, "secrets[0]: empty"},
	} {
		_, err := signature.NewPlatform(c.p, c.secrets)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewPlatform(%q, %q) = %v, want %q", c.p, c.secrets, err, c.want)
		}
	}
	// Notion may start without a key; signed requests are then refused.
	v, err := signature.NewPlatform(signature.Notion, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := signature.SignPlatform(signature.Notion, "secret_x", "POST", platformURL, []byte("{}"), time.Now())
	if err := v.Verify("POST", platformURL, h, []byte("{}"), time.Now()); !errors.Is(err, signature.ErrNoKey) {
		t.Fatalf("notion without key: err = %v, want ErrNoKey", err)
	}
}

// FuzzPlatformVerify feeds arbitrary headers and bodies to every
// platform's verifier: it must not panic, must fail only with a sentinel,
// and must accept nothing but what the configured secret signed.
func FuzzPlatformVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	for _, p := range signature.Platforms {
		h, _ := signature.SignPlatform(p, platformSecrets[p], "POST", platformURL, []byte(`{"a":1}`), now)
		for name := range h {
			f.Add(string(p), h.Get(name), h.Get(signature.HeaderHubSpotTimestamp)+h.Get(signature.HeaderSlackTimestamp), []byte(`{"a":1}`))
		}
	}
	verifiers := map[string]*signature.PlatformVerifier{}
	for _, p := range signature.Platforms {
		v, err := signature.NewPlatform(p, []string{platformSecrets[p]})
		if err != nil {
			f.Fatal(err)
		}
		verifiers[string(p)] = v
	}
	sentinels := []error{signature.ErrMissingSignature, signature.ErrBadSignature, signature.ErrStaleTimestamp, signature.ErrBadTimestamp}
	f.Fuzz(func(t *testing.T, platform, sig, ts string, body []byte) {
		v := verifiers[platform]
		if v == nil {
			return
		}
		h := http.Header{}
		for _, name := range []string{signature.HeaderHubSpotSignature, signature.HeaderSlackSignature, signature.HeaderNotionSignature, signature.HeaderAirtableMAC} {
			h.Set(name, sig)
		}
		h.Set(signature.HeaderHubSpotTimestamp, ts)
		h.Set(signature.HeaderSlackTimestamp, ts)
		err := v.Verify("POST", platformURL, h, body, now)
		if err != nil {
			mustBeSentinel(t, err, sentinels)
			return
		}
		want, _ := signature.SignPlatform(v.Platform(), platformSecrets[v.Platform()], "POST", platformURL, body, now)
		for name := range want {
			if name == signature.HeaderHubSpotTimestamp || name == signature.HeaderSlackTimestamp {
				continue
			}
			if !strings.EqualFold(strings.TrimSpace(sig), want.Get(name)) && v.Platform() != signature.HubSpot && v.Platform() != signature.Slack {
				t.Fatalf("%s accepted %q, want %q", platform, sig, want.Get(name))
			}
		}
		if (v.Platform() == signature.HubSpot || v.Platform() == signature.Slack) && (ts == "" || strings.ContainsAny(ts, "+- ")) {
			t.Fatalf("%s accepted timestamp %q", platform, ts)
		}
	})
}
