// Package connector defines the seam between the delivery engine and the
// platforms Sluice writes to: a small Connector interface, optional
// capabilities discovered by type assertion, the error classes that steer
// retries, pauses and escalations, and a registry of connector factories.
package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/egress"
)

// Delivery is one write of one canonical record to one destination. Its ID is
// stable across attempts so that receivers (and Sluice's own ledger) can use
// it as an idempotency key.
type Delivery struct {
	ID        string
	EventID   string
	Route     string
	RecordKey string
	// Payload is the record already mapped to the destination's format by the
	// route's mapping. For a RawSender the engine leaves it nil and sets Raw.
	Payload map[string]any
	// Raw is the stored JSON object Payload would be decoded from, set
	// instead of Payload for a connector that is a RawSender. It is what
	// json.Marshal of the decoded Payload would write (the gate stores
	// payloads encoded by json.Marshal), except that numbers keep every
	// digit they were stored with.
	Raw json.RawMessage
	// ExternalID is the destination's ID for RecordKey from the identity map,
	// empty when Sluice has never confirmed a write of this key here.
	ExternalID string
	// Upstream holds the external IDs of the routes this one runs `after`,
	// keyed by route name.
	Upstream map[string]string
	Attempt  int
	// Ambiguous is true when an earlier attempt may have been applied by the
	// destination (timeout after send, lease lost mid-request). Connectors
	// that can look up by key must do so before writing again.
	Ambiguous bool
	// Op is OpUpsert (write the record) or OpDelete (remove it). The
	// engine hands a delete to Deleter.Delete, never to Deliver or a batch.
	Op Op
}

// Op is what a delivery asks of the destination.
//
// A delete event is a record its source reports gone: a HubSpot object
// listed with archived=true, a Notion page moved to the trash, an Airtable
// record destroyed (webhooks only: polling cannot see it), a row removed
// from a SQL table. Triggers (polls, platform webhooks) capture it as an
// event whose operation is "delete" (pipeline.CaptureInput.Operation); the
// flow's on_delete (and each route's) says whether it is routed or only
// recorded; a routed delete becomes deliveries with Op == OpDelete, which
// only destinations implementing Deleter accept (`sluice check` refuses a
// route that would send deletes anywhere else).
type Op string

const (
	// OpUpsert creates or updates the record (the zero value).
	OpUpsert Op = ""
	// OpDelete removes the record from the destination.
	OpDelete Op = "delete"
)

// Deleter is implemented by connectors whose platform can remove a record:
// HubSpot archives it, Notion moves the page to the trash, Airtable and SQL
// delete it. Delete finds the record by d.ExternalID, else by
// d.RecordKey, and succeeds when it is already gone (so a retry after an
// ambiguous outcome, or a delete echoed back from the other side of a
// two-way sync, is harmless). Result.ExternalID names what was removed,
// empty when nothing was there.
type Deleter interface {
	Delete(ctx context.Context, d Delivery) (Result, error)
}

// DeleteTarget is the ID a Delete acts on: d.ExternalID, else the record
// found by d.RecordKey through l. found is false when the platform has no
// such record, which a Delete reports as already gone.
func DeleteTarget(ctx context.Context, l Looker, d Delivery) (id string, found bool, err error) {
	if d.ExternalID != "" {
		return d.ExternalID, true, nil
	}
	id, _, found, err = l.Lookup(ctx, d.RecordKey)
	return id, found, err
}

// Result is what a confirmed write returns.
type Result struct {
	ExternalID string
	Status     int
	Message    string
}

// Connector writes records to one configured destination.
type Connector interface {
	// Deliver performs one write. A non-nil error should be an *Error so the
	// engine knows whether to retry, pause or escalate; any other error is
	// treated as retryable.
	Deliver(ctx context.Context, d Delivery) (Result, error)
	// Constraints tells the engine how to schedule writes to this destination.
	Constraints() Constraints
}

// Closer is implemented by connectors that hold something to release: a
// database pool, idle HTTP connections, a share of a rate gate, a
// goroutine. The server calls Close once per connector, and only after the
// engine has finished every attempt in flight on it: when a reload removes
// or rebuilds the destination (or refuses a config, for what it built) and
// at shutdown. ctx carries the deadline: a Close that cannot finish by then
// returns ctx.Err() and leaves the rest to the process's exit. A connector
// with nothing to release does not implement it.
type Closer interface {
	Close(ctx context.Context) error
}

// Close closes c if it is a Closer; nil otherwise.
func Close(ctx context.Context, c Connector) error {
	if cl, ok := c.(Closer); ok {
		return cl.Close(ctx)
	}
	return nil
}

// BatchResult is the outcome of one item of a batch write.
type BatchResult struct {
	Result Result
	Err    error
}

// RawSender is implemented by connectors that write a delivery's payload
// as the JSON it was stored as and read nothing of it otherwise. When
// SendsRaw is true, the engine hands them Delivery.Raw and does not decode
// the payload into Payload only for them to encode it again (a decode and
// an encode per delivery). A connector must still accept a Delivery with
// Payload set instead (tests, the conformance suite).
type RawSender interface {
	SendsRaw() bool
}

// Batcher is implemented by connectors whose platform accepts several records
// in one request. Results are per item, in input order: a batch may partly
// succeed.
type Batcher interface {
	DeliverBatch(ctx context.Context, ds []Delivery) ([]BatchResult, error)
}

// Looker is implemented by connectors that can find a record by its key and
// read it back; the engine uses it to resolve ambiguous outcomes and the
// control layer to check consistency.
type Looker interface {
	Lookup(ctx context.Context, recordKey string) (externalID string, fields map[string]any, found bool, err error)
}

// FieldLooker is implemented by connectors whose platform returns only the
// fields asked for (HubSpot returns only the properties a request names).
// LookupFields is Lookup reading at least fields besides the connector's
// own, so that a comparison with what Sluice wrote (conflict review,
// consistency checks) compares those fields rather than nothing: a field
// missing from a read-back is never a difference.
type FieldLooker interface {
	LookupFields(ctx context.Context, recordKey string, fields []string) (externalID string, found map[string]any, ok bool, err error)
}

// FieldReader is implemented by connectors that can read a record's
// fields by its ID in the platform, where that read is consistent while
// the look-up by key is not (HubSpot's search shows a write seconds late,
// and allows a few requests a second). Conflict review reads through it
// when the identity map knows the record's ID: a stale read-back would
// take Sluice's own recent write for someone else's change.
type FieldReader interface {
	// ReadFields returns the record's fields, at least those named; ok is
	// false when the platform no longer has the record.
	ReadFields(ctx context.Context, externalID string, fields []string) (found map[string]any, ok bool, err error)
}

// Constraints are the platform limits a connector declares. Zero values mean
// "no limit" except where noted.
type Constraints struct {
	// RatePerSecond is the steady request rate; 0 means unlimited.
	RatePerSecond float64
	// Burst is the token bucket size; 0 means 1.
	Burst int
	// BatchSize is the most records per request (1 when Batcher is absent).
	BatchSize int
	// MaxPayloadBytes is the largest request body the platform accepts.
	MaxPayloadBytes int
	// Timeout bounds one request; 0 means the engine default.
	Timeout time.Duration
	// Concurrency is the number of requests in flight at once; 0 means 4.
	Concurrency int
	// Upsert is true when the platform dedupes by key itself.
	Upsert bool
}

// Class says what the engine should do about a failed write.
type Class string

const (
	// Retryable failures (timeouts, connection errors, 429, 5xx) are retried
	// with backoff.
	Retryable Class = "retryable"
	// Permanent failures (a 4xx data error) are escalated with the platform's
	// own message; retrying the same payload cannot succeed.
	Permanent Class = "permanent"
	// Auth failures (401/403) pause the destination: every write would fail.
	Auth Class = "auth"
	// Drift means the destination's schema no longer matches (unknown
	// property, missing column): the destination is paused.
	Drift Class = "drift"
	// Conflict (409) asks for a lookup and update, or a person.
	Conflict Class = "conflict"
)

// Error is a classified delivery failure.
type Error struct {
	Class Class
	// Status is the platform's HTTP status, 0 when none was received.
	Status int
	// Code is the platform's own error code, when it has one.
	Code string
	// Message is the platform's own message, safe to show and store (no
	// secrets).
	Message string
	// RetryAfter is the wait the platform asked for, 0 when it did not say.
	RetryAfter time.Duration
	// Sent is true when the request may have reached the platform, so the
	// outcome is ambiguous if Class is Retryable.
	Sent bool
	Err  error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Status != 0 {
		return fmt.Sprintf("%s (HTTP %d): %s", e.Class, e.Status, msg)
	}
	return fmt.Sprintf("%s: %s", e.Class, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// CodeTemplate is the Code of a Permanent error a connector returns when a
// template of its own options could not be rendered for a record (a missing
// field, a type it cannot print): nothing was sent and the destination
// refused nothing, so the fault is the config's, and escalations say so.
const CodeTemplate = "template"

// Classify returns the class of err; unclassified errors are Retryable
// because losing a record is worse than one more attempt.
func Classify(err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	return &Error{Class: Retryable, Message: err.Error(), Err: err, Sent: true}
}

// ClassifyStatus maps an HTTP status to its class, the rule every HTTP
// connector starts from before reading the platform's error body.
func ClassifyStatus(status int) Class {
	switch {
	case status == 401 || status == 403:
		return Auth
	case status == 409:
		return Conflict
	case status == 408 || status == 425 || status == 429 || status >= 500:
		return Retryable
	default:
		return Permanent
	}
}

// Params is what a connector is built from: the destination's name, its
// raw options (the YAML mapping under the destination, decoded as
// JSON-compatible values) and its network policy.
type Params struct {
	Name    string
	Options map[string]any
	// AllowPrivateNetwork lets the connector reach loopback and private
	// addresses (the destination's allow_private_network). Link-local and
	// cloud metadata addresses stay refused.
	AllowPrivateNetwork bool
	// Credential, when set, supplies the access token of every request
	// instead of options.token: an expiring token refreshed by package
	// credential. See UseCredential.
	Credential Credential
}

// Credential is an access token that expires and is refreshed.
type Credential interface {
	// Token returns a token valid now; an error is an *Error (Auth when
	// the credential cannot be refreshed any more, Retryable when the
	// token endpoint failed for a while).
	Token(ctx context.Context) (string, error)
	// Rejected is told that the platform refused token (401); it returns
	// a new token, refreshing once, or an error when there is none.
	Rejected(ctx context.Context, token string) (string, error)
}

// Egress is the guard every outbound connection of the connector must dial
// through.
func (p Params) Egress() egress.Policy {
	return egress.For("destination "+p.Name, p.AllowPrivateNetwork)
}

// Factory builds a connector from its Params.
type Factory func(p Params) (Connector, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
	specs      = map[string]*Spec{}
)

// RegisterSpec publishes the Spec of a connector type, which `sluice
// check`, the redaction of options and the generated docs read. Call it
// from the connector package's init, next to Register. It panics on a
// duplicate or on a spec without a kind.
func RegisterSpec(s *Spec) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if s.Kind == "" {
		panic("connector: spec without a kind")
	}
	if _, dup := specs[s.Kind]; dup {
		panic("connector: duplicate spec of " + s.Kind)
	}
	specs[s.Kind] = s
}

// SpecOf returns the Spec of a registered connector type.
func SpecOf(kind string) (*Spec, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s, ok := specs[kind]
	return s, ok
}

// Specs returns every registered Spec, sorted by kind.
func Specs() []*Spec {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]*Spec, 0, len(specs))
	for _, s := range specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// Register makes a connector type available to configs. It panics on a
// duplicate so a wiring mistake fails at start-up.
func Register(kind string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("connector: duplicate registration of " + kind)
	}
	registry[kind] = f
}

// New builds a connector of the registered kind.
func New(kind string, p Params) (Connector, error) {
	registryMu.RLock()
	f, ok := registry[kind]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown destination type %q (known: %v)", kind, Kinds())
	}
	return f(p)
}

// Kinds lists the registered connector types.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DecodeOptions decodes raw options into a connector's typed options
// struct, rejecting unknown keys so typos fail `sluice check`. Errors name
// the option ("options.timeout: ..."). Connectors with a Spec decode
// through Spec.Decode, which checks more and reports every problem; this
// stays for option sets without one (a poll source's feed options).
func DecodeOptions(options map[string]any, into any) error {
	b, err := json.Marshal(options)
	if err != nil {
		return fmt.Errorf("options: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return fmt.Errorf("options.%s: want %s, got a JSON %s", te.Field, goKind(te.Type), te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("options.%s: unknown option", strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
		}
		return fmt.Errorf("options: %w", err)
	}
	return nil
}

func goKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}
