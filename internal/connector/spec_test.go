package connector_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/connector"
)

var testSpec = connector.Spec{
	Kind: "test", Title: "Test", Doc: "A spec for tests.",
	Options: []connector.Option{
		{Name: "token", Type: connector.String, Required: true, Credential: true, Secret: true, Doc: "The access token."},
		{Name: "object", Type: connector.String, Required: true, Enum: []string{"contacts", "deals"}, Doc: "What is written."},
		{Name: "rate", Type: connector.Int, Default: 5, Min: connector.AtLeast(1), Max: connector.AtMost(10), Doc: "Requests per second."},
		{Name: "timeout", Type: connector.Duration, Default: "10s", Doc: "Bounds a request."},
		{Name: "base_url", Type: connector.URL, Default: "https://api.example.com", Doc: "The origin."},
		{Name: "fields", Type: connector.StringList, Doc: "Fields."},
		{Name: "types", Type: connector.StringMap, Enum: []string{"text", "number"}, Doc: "Types."},
		{Name: "typecast", Type: connector.Bool, Default: false, Doc: "Convert."},
	},
}

type testOptions struct {
	Token    string            `json:"token"`
	Object   string            `json:"object"`
	Rate     int               `json:"rate"`
	Timeout  string            `json:"timeout"`
	BaseURL  string            `json:"base_url"`
	Fields   []string          `json:"fields"`
	Types    map[string]string `json:"types"`
	Typecast bool              `json:"typecast"`
}

func problems(t *testing.T, err error) map[string]string {
	t.Helper()
	var oe *connector.OptionsError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v is not an *OptionsError", err)
	}
	out := map[string]string{}
	for _, p := range oe.Problems {
		out[p.Path()] = p.Message
	}
	return out
}

func TestSpecDecodeAppliesDefaults(t *testing.T) {
	var o testOptions
	err := testSpec.Decode(connector.Params{Options: map[string]any{"token": "tok-123456", "object": "deals", "fields": []any{"a", "b"}, "types": map[string]any{"a": "text"}}}, &o)
	if err != nil {
		t.Fatal(err)
	}
	if o.Rate != 5 || o.Timeout != "10s" || o.BaseURL != "https://api.example.com" || o.Object != "deals" || len(o.Fields) != 2 || o.Types["a"] != "text" {
		t.Fatalf("decoded %+v", o)
	}
	// A credential block supplies a Credential-marked option.
	o = testOptions{}
	if err := testSpec.Decode(connector.Params{Options: map[string]any{"object": "deals"}, Credential: fakeCredential{}}, &o); err != nil {
		t.Fatalf("with a credential: %v", err)
	}
}

func TestSpecDecodeReportsEveryProblemWithItsPath(t *testing.T) {
	secret := "tok-very-secret-value"
	err := testSpec.Decode(connector.Params{Options: map[string]any{
		"tokn":     secret,
		"object":   "tickets",
		"rate":     11,
		"timeout":  "ten seconds",
		"base_url": "ftp://example.com",
		"fields":   "a,b",
		"types":    map[string]any{"a": "date"},
		"typecast": "yes",
	}}, &testOptions{})
	got := problems(t, err)
	want := map[string]string{
		"options.tokn":     "did you mean token?",
		"options.token":    "required",
		"options.object":   `"tickets" is not one of contacts, deals`,
		"options.rate":     "more than the maximum 10",
		"options.timeout":  "is not a duration",
		"options.base_url": "must start with http:// or https://",
		"options.fields":   "want a list of strings, got a string",
		"options.types.a":  `"date" is not one of text, number`,
		"options.typecast": "want true or false, got a string",
	}
	for path, frag := range want {
		if !strings.Contains(got[path], frag) {
			t.Errorf("%s: %q, want it to contain %q", path, got[path], frag)
		}
	}
	if len(got) != len(want) {
		t.Errorf("problems %v, want %d", got, len(want))
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows a secret: %v", err)
	}
	// A secret of the wrong type is not echoed either.
	err = testSpec.Decode(connector.Params{Options: map[string]any{"token": []any{secret}, "object": "deals"}}, &testOptions{})
	if got := problems(t, err)["options.token"]; !strings.Contains(got, "want a string") || strings.Contains(err.Error(), secret) {
		t.Errorf("options.token: %q", got)
	}
	// Empty required values are named as such.
	err = testSpec.Decode(connector.Params{Options: map[string]any{"token": "", "object": "deals", "rate": 2.5}}, &testOptions{})
	got = problems(t, err)
	if !strings.Contains(got["options.token"], "must not be empty") || !strings.Contains(got["options.rate"], "want a whole number") {
		t.Errorf("problems %v", got)
	}
}

func TestSpecRedact(t *testing.T) {
	out := testSpec.Redact(map[string]any{"token": "tok-123456", "object": "deals", "tokn": "tok-999999"})
	if out["token"] != "[redacted]" || out["tokn"] != "[redacted]" || out["object"] != "deals" {
		t.Fatalf("redacted %v", out)
	}
	if s := testSpec.Secrets(map[string]any{"token": "tok-123456", "object": "deals"}); len(s) != 1 || s[0] != "tok-123456" {
		t.Fatalf("secrets %v", s)
	}
}

func TestDecodeOptionsNamesTheOption(t *testing.T) {
	var o testOptions
	err := connector.DecodeOptions(map[string]any{"rate": "fast"}, &o)
	if err == nil || !strings.HasPrefix(err.Error(), "options.rate: want a whole number") {
		t.Fatalf("got %v", err)
	}
	err = connector.DecodeOptions(map[string]any{"colour": "red"}, &o)
	if err == nil || err.Error() != "options.colour: unknown option" {
		t.Fatalf("got %v", err)
	}
}

type fakeCredential struct{}

func (fakeCredential) Token(context.Context) (string, error) { return "tok-from-credential", nil }
func (fakeCredential) Rejected(context.Context, string) (string, error) {
	return "", errors.New("no other token")
}
