package api

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

func contextWith(ctx context.Context, k, v any) context.Context { return context.WithValue(ctx, k, v) }

// EventJSON is the wire form of an event.
type EventJSON struct {
	ID        string           `json:"id"`
	Source    string           `json:"source"`
	Flow      string           `json:"flow"`
	RecordKey string           `json:"record_key,omitempty"`
	State     store.EventState `json:"state"`
	Record    json.RawMessage  `json:"record,omitempty"`
	Errors    json.RawMessage  `json:"errors,omitempty"`
	Missing   json.RawMessage  `json:"missing,omitempty"`
	HoldUntil time.Time        `json:"hold_until,omitzero"`
	// ConfigVersion is the version (content hash) of the config that
	// captured the event.
	ConfigVersion string    `json:"config_version,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	Raw           string    `json:"raw,omitempty"`
	// ContentType is how Raw was sent (with Raw only), so a shadow run
	// can parse it as intake did.
	ContentType string `json:"content_type,omitempty"`
}

func eventJSON(e *store.Event, full bool) EventJSON {
	j := EventJSON{ID: e.ID, Source: e.Source, Flow: e.Flow, RecordKey: e.RecordKey, State: e.State, Record: e.Canonical,
		Errors: e.Problems, Missing: e.Missing, HoldUntil: e.HoldUntil, ConfigVersion: e.ConfigVersion, ReceivedAt: e.ReceivedAt, UpdatedAt: e.UpdatedAt}
	if string(j.Missing) == "[]" {
		j.Missing = nil
	}
	if full {
		j.Raw, j.ContentType = string(e.Raw), e.ContentType
	}
	return j
}

// DeliveryJSON is the wire form of a delivery.
type DeliveryJSON struct {
	ID          string              `json:"id"`
	Route       string              `json:"route"`
	Destination string              `json:"destination"`
	State       store.DeliveryState `json:"state"`
	Attempts    int                 `json:"attempts"`
	After       []string            `json:"after,omitempty"`
	NextAt      time.Time           `json:"next_at,omitzero"`
	ExternalID  string              `json:"external_id,omitempty"`
	LastStatus  int                 `json:"last_status,omitempty"`
	LastError   string              `json:"last_error,omitempty"`
	Ambiguous   bool                `json:"ambiguous,omitempty"`
	Payload     json.RawMessage     `json:"payload"`
	// FallbackFor is set on a fallback copy: the delivery it stands in for.
	FallbackFor string `json:"fallback_for,omitempty"`
}

func deliveryJSON(d *store.Delivery) DeliveryJSON {
	return DeliveryJSON{ID: d.ID, Route: d.Route, Destination: d.Destination, State: d.State, Attempts: d.Attempts, After: d.After,
		NextAt: d.NextAt, ExternalID: d.ExternalID, LastStatus: d.LastStatus, LastError: d.LastError, Ambiguous: d.Ambiguous, Payload: d.Payload, FallbackFor: d.FallbackFor}
}

// EscalationJSON is the wire form of an escalation.
type EscalationJSON struct {
	ID         string `json:"id"`
	EventID    string `json:"event_id"`
	DeliveryID string `json:"delivery_id,omitempty"`
	Kind       string `json:"kind"`
	Reason     string `json:"reason"`
	LastError  string `json:"last_error,omitempty"`
	LastStatus int    `json:"last_status,omitempty"`
	Status     string `json:"status"`
	Actor      string `json:"actor,omitempty"`
	Note       string `json:"note,omitempty"`
	// Group is the failure group (pipeline.GroupKey) and Code the
	// platform's error code; Destination is set by lists and show.
	Group       string    `json:"group,omitempty"`
	Code        string    `json:"code,omitempty"`
	Destination string    `json:"destination,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Payload is what the escalated delivery sends (or the event's record
	// for an event-level escalation); only on a single escalation.
	Payload json.RawMessage `json:"payload,omitempty"`
}

func escalationJSON(e *store.Escalation) EscalationJSON {
	return EscalationJSON{ID: e.ID, EventID: e.EventID, DeliveryID: e.DeliveryID, Kind: e.Kind, Reason: e.Reason, LastError: e.LastError,
		LastStatus: e.LastStatus, Status: e.Status, Actor: e.Actor, Note: e.Note, Group: e.GroupID, Code: e.Code, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// AuditJSON is the wire form of an audit entry.
type AuditJSON struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	DeliveryID string    `json:"delivery_id,omitempty"`
	Route      string    `json:"route,omitempty"`
	Attempt    int       `json:"attempt,omitempty"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Outcome    string    `json:"outcome,omitempty"`
	Status     int       `json:"status,omitempty"`
	Message    string    `json:"message,omitempty"`
	LatencyMS  int64     `json:"latency_ms,omitempty"`
}

func auditJSON(e *store.AuditEntry) AuditJSON {
	return AuditJSON{Seq: e.Seq, At: e.At, DeliveryID: e.DeliveryID, Route: e.Route, Attempt: e.Attempt, Actor: e.Actor,
		Action: string(e.Action), Outcome: e.Outcome, Status: e.Status, Message: e.Message, LatencyMS: e.LatencyMS}
}

// ReconciliationJSON is the wire form of a reconciliation task.
type ReconciliationJSON struct {
	ID        string          `json:"id"`
	EventID   string          `json:"event_id"`
	Status    string          `json:"status"`
	Summary   json.RawMessage `json:"summary"`
	Actor     string          `json:"actor,omitempty"`
	Note      string          `json:"note,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func reconciliationJSON(r *store.Reconciliation) ReconciliationJSON {
	return ReconciliationJSON{ID: r.ID, EventID: r.EventID, Status: r.Status, Summary: r.Summary, Actor: r.Actor, Note: r.Note, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}
