package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const (
	// defaultServer is where the admin commands look for Sluice when
	// neither --server nor SLUICE_SERVER says otherwise: `sluice serve`
	// with its default listen address.
	defaultServer = "http://127.0.0.1:8080"
	// defaultTimeout bounds one admin request, connection to last byte.
	defaultTimeout = 30 * time.Second
	// maxResponseBytes caps what the CLI reads from one answer, so a
	// misdirected --server cannot make it buffer without bound.
	maxResponseBytes = 32 << 20
)

// clientOpts are the connection and output settings every command that
// talks to a running Sluice shares. Flags win over the environment, which
// wins over the defaults; the environment is read when the command runs, so
// a token never shows up as a flag default in --help.
type clientOpts struct {
	server  string
	token   string
	timeout time.Duration
	// json prints the server's answer as it came instead of a summary.
	json bool
}

// addClientFlags registers --server, --token, --timeout and --json as
// persistent flags of cmd, so a command group passes them to every
// subcommand. withToken is false for commands that do not call the admin
// API (`sluice send`), which then have no --token to mislead.
func addClientFlags(cmd *cobra.Command, o *clientOpts, withToken bool) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.server, "server", "", "Sluice base URL (default $SLUICE_SERVER, else "+defaultServer+")")
	if withToken {
		f.StringVar(&o.token, "token", "", "admin API bearer token (default $SLUICE_TOKEN)")
	}
	f.DurationVar(&o.timeout, "timeout", defaultTimeout, "timeout of one request")
	f.BoolVar(&o.json, "json", false, "print the server's JSON answer instead of a summary")
}

// client resolves the options against env into a ready Client.
func (o *clientOpts) client(env *Env) (*Client, error) {
	server := o.server
	if server == "" {
		server = env.Getenv("SLUICE_SERVER")
	}
	if server == "" {
		server = defaultServer
	}
	token := o.token
	if token == "" {
		token = env.Getenv("SLUICE_TOKEN")
	}
	return NewClient(server, token, o.timeout)
}

// Client is a thin client of a running Sluice: the admin API under /v1/
// and the capture endpoint. It holds no state beyond where the server is
// and how to authenticate, and it never includes the token in an error or
// in anything it returns.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient checks server (a base URL; "host:port" means http) and builds a
// Client. A zero timeout means defaultTimeout.
func NewClient(server, token string, timeout time.Duration) (*Client, error) {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", server, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host[:port]", u.Redacted())
	}
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &Client{base: u, token: token, http: &http.Client{Timeout: timeout}}, nil
}

// URL is the absolute URL of path on the server, safe to print.
func (c *Client) URL(path string) string { return c.base.Redacted() + path }

// Admin sends one admin API request with the bearer token and returns the
// response body. body, when not nil, is sent as JSON. An answer outside 2xx
// is an *APIError.
func (c *Client) Admin(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	target := c.base.String() + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	status, hdr, raw, err := c.send(req)
	if err != nil {
		return nil, err
	}
	if status < 200 || status > 299 {
		ae := parseAPIError(status, hdr, raw)
		if status == http.StatusUnauthorized && c.token == "" {
			ae.Hint = "no token given: set --token or SLUICE_TOKEN"
		}
		return nil, ae
	}
	return raw, nil
}

// Post sends body to path as-is with the given headers and no token,
// returning the status and body whatever the status: the capture endpoint,
// where a 422 is an answer to show rather than a failure of the CLI.
func (c *Client) Post(ctx context.Context, path string, hdr http.Header, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return c.send(req)
}

func (c *Client) send(req *http.Request) (int, http.Header, []byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error names the URL, which holds no secret (the token is a
		// header); say where we looked so a wrong --server is obvious.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, nil, fmt.Errorf("%s %s: %w (is Sluice running there? see --server / SLUICE_SERVER)", req.Method, c.URL(req.URL.Path), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: read answer: %w", req.Method, c.URL(req.URL.Path), err)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// FieldError is one field's problem in a 422 answer.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// APIError is an error answer from Sluice, decoded from
// {"error": {"code", "kind", "message", "missing"?, "errors"?}} so that a
// person sees what to fix: the status, the stable kind, the message, and
// which fields are missing or wrong.
type APIError struct {
	Status  int
	Kind    string
	Message string
	// Missing lists required fields a held record still lacks.
	Missing []string
	// Errors are per-field validation problems.
	Errors []FieldError
	// RetryAfter is the server's Retry-After header, if any.
	RetryAfter string
	// Hint is the CLI's own advice, such as how to pass a token.
	Hint string
	// Body is the answer as received, for --json.
	Body []byte
}

func parseAPIError(status int, hdr http.Header, raw []byte) *APIError {
	ae := &APIError{Status: status, RetryAfter: hdr.Get("Retry-After"), Body: raw}
	var env struct {
		Error struct {
			Kind    string       `json:"kind"`
			Message string       `json:"message"`
			Missing []string     `json:"missing"`
			Errors  []FieldError `json:"errors"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Error.Kind == "" && env.Error.Message == "" {
		// Not Sluice's error shape (a proxy, a wrong --server): show the
		// start of what came back.
		ae.Message = strings.TrimSpace(oneLine(truncate(string(raw), 200)))
		return ae
	}
	ae.Kind, ae.Message, ae.Missing, ae.Errors = env.Error.Kind, env.Error.Message, env.Error.Missing, env.Error.Errors
	return ae
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if e.Kind != "" {
		fmt.Fprintf(&b, " (%s)", e.Kind)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Missing) > 0 {
		b.WriteString("\n  missing: " + strings.Join(e.Missing, ", "))
	}
	for _, fe := range e.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", fe.Field, fe.Message)
	}
	if e.RetryAfter != "" {
		b.WriteString("\n  retry after " + e.RetryAfter + "s")
	}
	if e.Hint != "" {
		b.WriteString("\n  " + e.Hint)
	}
	return b.String()
}

// adminCall is the common path of a read or action command: call the
// admin API and either print the answer raw (--json) or decode it into
// T and hand it to render.
func adminCall[T any](cmd *cobra.Command, env *Env, o *clientOpts, method, path string, query url.Values, body any, render func(T) error) error {
	c, err := o.client(env)
	if err != nil {
		return err
	}
	if path, err = expandIDPath(cmd.Context(), c, path); err != nil {
		return err
	}
	raw, err := c.Admin(cmd.Context(), method, path, query, body)
	if err != nil {
		var ae *APIError
		if o.json && errors.As(err, &ae) && json.Valid(ae.Body) {
			writeRaw(env.Out, ae.Body)
		}
		return err
	}
	if o.json {
		writeRaw(env.Out, raw)
		return nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return render(v)
}
