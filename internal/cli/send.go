package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/signature"
)

func init() { extraCommands = append(extraCommands, sendCmd) }

// sendOpts are `sluice send`'s flags.
type sendOpts struct {
	source, file, data   string
	form                 bool
	secret, scheme, sigH string
	headers              []string
	idemKey              string
	repeat               int
}

// sendCmd is `sluice send`: post an event to a source's capture endpoint
// the way the real sender would, signed, to try a config or smoke-test a
// deployment without the upstream tool.
func sendCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	s := &sendOpts{}
	cmd := &cobra.Command{
		Use:   "send --source NAME [--data JSON | --file F | stdin]",
		Short: "Post an event to a source's webhook endpoint, signed like its sender would",
		Long: `Post an event to POST /v1/sources/{source}/events and print Sluice's answer.

The body comes from --data, --file (- for stdin) or stdin. With a secret
(--secret or $SLUICE_SOURCE_SECRET) the request is signed with --scheme:
standard-webhooks sets webhook-id, webhook-timestamp and webhook-signature;
hmac-sha256 sets X-Hub-Signature-256 (or --signature-header).

--idempotency-key becomes the webhook-id (standard-webhooks) or the
Idempotency-Key header; --repeat N sends N copies, each with its own id
(key-1, key-2, ... when a key is given). --header "Name: value" adds or
overrides a header after signing.

Exits 0 when every answer is 2xx, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSend(cmd, env, o, s)
		},
	}
	addClientFlags(cmd, o, false)
	f := cmd.Flags()
	f.StringVar(&s.source, "source", "", "source name, as in the config (required)")
	f.StringVar(&s.data, "data", "", "the body")
	f.StringVarP(&s.file, "file", "f", "", "read the body from this file (- for stdin)")
	f.BoolVar(&s.form, "form", false, "send as application/x-www-form-urlencoded (the body is a=1&b=2)")
	f.StringVar(&s.secret, "secret", "", "the source's signing secret (default $SLUICE_SOURCE_SECRET)")
	f.StringVar(&s.scheme, "scheme", string(signature.StandardWebhooks), "signature scheme: standard-webhooks or hmac-sha256")
	f.StringVar(&s.sigH, "signature-header", signature.DefaultHeader, "header for hmac-sha256")
	f.StringArrayVarP(&s.headers, "header", "H", nil, `extra header "Name: value" (repeatable)`)
	f.StringVar(&s.idemKey, "idempotency-key", "", "idempotency key (default: a fresh id when signing or repeating)")
	f.IntVar(&s.repeat, "repeat", 1, "send this many copies, each with a distinct id")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

// captureAnswer is the capture endpoint's success (and 422) answer.
type captureAnswer struct {
	EventID   string       `json:"event_id"`
	State     string       `json:"state"`
	Duplicate bool         `json:"duplicate"`
	Errors    []FieldError `json:"errors"`
	Missing   []string     `json:"missing"`
	Released  []string     `json:"released"`
}

func runSend(cmd *cobra.Command, env *Env, o *clientOpts, s *sendOpts) error {
	if s.repeat < 1 {
		return errors.New("--repeat must be at least 1")
	}
	secret := s.secret
	if secret == "" {
		secret = env.Getenv("SLUICE_SOURCE_SECRET")
	}
	scheme := signature.Scheme(s.scheme)
	if scheme != signature.StandardWebhooks && scheme != signature.HMACSHA256 {
		return fmt.Errorf("--scheme %q: want standard-webhooks or hmac-sha256", s.scheme)
	}
	extra, err := parseHeaders(s.headers)
	if err != nil {
		return err
	}
	body, err := readBody(cmd, s)
	if err != nil {
		return err
	}
	c, err := o.client(env)
	if err != nil {
		return err
	}
	ctype := "application/json"
	if s.form {
		ctype = "application/x-www-form-urlencoded"
	}
	path := "/v1/sources/" + url.PathEscape(s.source) + "/events"

	failed := 0
	for i := range s.repeat {
		id := s.idemKey
		switch {
		case id != "" && s.repeat > 1:
			id = fmt.Sprintf("%s-%d", id, i+1)
		case id == "":
			id = newMessageID()
		}
		hdr := http.Header{}
		hdr.Set("Content-Type", ctype)
		signed := secret != ""
		switch {
		case signed && scheme == signature.StandardWebhooks:
			now := time.Now()
			sig, err := signature.SignStandardWebhooks(secret, id, now, body)
			if err != nil {
				return err
			}
			hdr.Set(signature.HeaderID, id)
			hdr.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
			hdr.Set(signature.HeaderSignature, sig)
		case s.idemKey != "" || s.repeat > 1:
			// Without a webhook-id, Idempotency-Key is the key; a fresh one
			// per copy keeps --repeat from being answered as duplicates.
			hdr.Set("Idempotency-Key", id)
		}
		if signed && scheme == signature.HMACSHA256 {
			hdr.Set(s.sigH, signature.SignHMACSHA256(secret, body))
		}
		for k, vs := range extra {
			hdr[k] = vs
		}

		status, rhdr, raw, err := c.Post(cmd.Context(), path, hdr, body)
		if err != nil {
			return err
		}
		if status < 200 || status > 299 {
			failed++
		}
		prefix := ""
		if s.repeat > 1 {
			prefix = fmt.Sprintf("[%d/%d] ", i+1, s.repeat)
		}
		if o.json {
			fmt.Fprintf(env.Err, "%s%d %s\n", prefix, status, http.StatusText(status))
			writeRaw(env.Out, raw)
			continue
		}
		renderCapture(env.Out, prefix, status, rhdr, raw)
	}
	if s.repeat > 1 && !o.json {
		fmt.Fprintf(env.Out, "sent %d: %d accepted, %d not\n", s.repeat, s.repeat-failed, failed)
	}
	if failed > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

func renderCapture(w io.Writer, prefix string, status int, hdr http.Header, raw []byte) {
	var a captureAnswer
	if status >= 400 && status != http.StatusUnprocessableEntity || json.Unmarshal(raw, &a) != nil || a.EventID == "" {
		fmt.Fprintf(w, "%s%s\n", prefix, parseAPIError(status, hdr, raw).Error())
		return
	}
	fmt.Fprintf(w, "%s%d %s: event %s %s", prefix, status, http.StatusText(status), a.EventID, a.State)
	if a.Duplicate {
		fmt.Fprint(w, " (duplicate: already captured)")
	}
	fmt.Fprintln(w)
	if len(a.Missing) > 0 {
		fmt.Fprintf(w, "  missing: %s\n", strings.Join(a.Missing, ", "))
	}
	for _, p := range a.Errors {
		fmt.Fprintf(w, "  %s: %s\n", p.Field, p.Message)
	}
	if len(a.Released) > 0 {
		fmt.Fprintf(w, "  released held: %s\n", strings.Join(a.Released, ", "))
	}
}

// readBody takes the body from --data, --file or stdin, once, so every
// --repeat copy is the same bytes.
func readBody(cmd *cobra.Command, s *sendOpts) ([]byte, error) {
	switch {
	case s.data != "" && s.file != "":
		return nil, errors.New("give --data or --file, not both")
	case cmd.Flags().Changed("data"):
		return []byte(s.data), nil
	case s.file != "" && s.file != "-":
		b, err := os.ReadFile(s.file)
		if err != nil {
			return nil, fmt.Errorf("--file: %w", err)
		}
		return b, nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return nil, errors.New("no body: give --data, --file, or pipe it on stdin")
		}
	}
	b, err := io.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	return b, nil
}

// parseHeaders reads curl-style "Name: value" flags.
func parseHeaders(hs []string) (http.Header, error) {
	out := http.Header{}
	for _, h := range hs {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--header %q: want \"Name: value\"", h)
		}
		out.Add(k, strings.TrimSpace(v))
	}
	return out, nil
}

// newMessageID is a fresh webhook id in the msg_ style Standard Webhooks
// senders use.
func newMessageID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "msg_" + hex.EncodeToString(b)
}
