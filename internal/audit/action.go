package audit

// Action names what an audit entry records. The set is closed: every writer
// uses one of the constants below, and readers (VerifyComplete, the
// console, alerts) can switch on them knowing no other value appears. A
// test in this package fails when a string literal is used as an action
// anywhere else. Values are stored as text and are part of the hash chain,
// so an existing value never changes; add new ones instead.
type Action string

// Event lifecycle: capture, the gate's verdict, and operator actions on a
// whole event.
const (
	// ActionCaptured: an inbound trigger was stored; the outcome is the
	// gate's verdict (rejected, held, delivering, delivered).
	ActionCaptured Action = "captured"
	// ActionReleased: a held event was released (by a person, or
	// auto-completed by a later record of the same key).
	ActionReleased Action = "released"
	// ActionRouted: a released event's deliveries were created.
	ActionRouted Action = "routed"
	// ActionPatched: a person changed an event's record.
	ActionPatched Action = "patched"
	// ActionDiscarded: a person discarded an event.
	ActionDiscarded Action = "discarded"
	// ActionState: an event's state followed from its deliveries.
	ActionState Action = "state"
	// ActionReplayed: a stored event was run through the gate again.
	ActionReplayed Action = "replayed"
	// ActionRedeliver: a finished delivery was queued to be written again.
	ActionRedeliver Action = "redeliver"
	// ActionRetryRequested: a person asked an escalated delivery to retry.
	ActionRetryRequested Action = "retry_requested"
	// ActionRerendered: a pending or escalated delivery's payload was
	// rendered again with the config in force (route map, then the
	// destination's current options at send time); the message names the
	// config versions involved.
	ActionRerendered Action = "rerendered"
	// ActionResubmitted: a person edited a rejected event's payload and
	// ran it through the gate again.
	ActionResubmitted Action = "resubmitted"
)

// Delivery lifecycle.
const (
	ActionDelivered     Action = "delivered"
	ActionUnblocked     Action = "unblocked"
	ActionAttemptFailed Action = "attempt_failed"
	// ActionParked: returned to the queue without spending an attempt
	// (destination paused, circuit open).
	ActionParked       Action = "parked"
	ActionEscalated    Action = "escalated"
	ActionCancelled    Action = "cancelled"
	ActionLeaseExpired Action = "lease_expired"
	ActionFallback     Action = "fallback"
)

// Escalations, tickets and reconciliations.
const (
	ActionEscalationResolved  Action = "escalation_resolved"
	ActionTicketAssigned      Action = "ticket_assigned"
	ActionTicketAcknowledged  Action = "ticket_acknowledged"
	ActionTicketNoted         Action = "ticket_noted"
	ActionPayloadPatched      Action = "payload_patched"
	ActionTicketsBulkRetry    Action = "tickets_bulk_retry"
	ActionTicketsBulkResolve  Action = "tickets_bulk_resolve"
	ActionTicketsBulkDiscard  Action = "tickets_bulk_discard"
	ActionTicketsBulkRerender Action = "tickets_bulk_rerender"
	// ActionHoldsBulk: one summary entry of a bulk patch or release of
	// held records (each record also has its own entries).
	ActionHoldsBulk              Action = "holds_bulk"
	ActionReconciliationOpened   Action = "reconciliation_opened"
	ActionReconciliationRetried  Action = "reconciliation_retried"
	ActionReconciliationResolved Action = "reconciliation_resolved"
	// ActionConsistencyMismatch: the consistency checker read a record
	// back and found it missing or different; the outcome is the task.
	ActionConsistencyMismatch Action = "consistency_mismatch"
)

// Poll sources.
const (
	// ActionEchoSuppressed: a polled change only reflected what Sluice
	// itself last wrote to that platform; it was not captured.
	ActionEchoSuppressed Action = "echo_suppressed"
)

// Platform-webhook sources.
const (
	// ActionHookVerification: a platform sent a source its verification
	// token (Notion's handshake); the token itself is kept apart, never in
	// the audit log.
	ActionHookVerification Action = "hook_verification"
	// ActionNoticeReceived: a platform webhook that only names a change
	// (a Notion page event, an Airtable notification) was queued; the
	// record is fetched in the background.
	ActionNoticeReceived Action = "notice_received"
	// ActionNoticeFailed: fetching what a notice names failed; it is
	// retried later.
	ActionNoticeFailed Action = "notice_failed"
	// ActionNoticeEscalated: a notice kept failing and people were told;
	// it is still retried.
	ActionNoticeEscalated Action = "notice_escalated"
	// ActionNoticeRecovered: an escalated notice was fetched after all.
	ActionNoticeRecovered Action = "notice_recovered"
	// ActionHookRefreshed and ActionHookRefreshFailed: Sluice extended a
	// platform webhook subscription's life (Airtable's expire after 7
	// days), or could not.
	ActionHookRefreshed     Action = "hook_refreshed"
	ActionHookRefreshFailed Action = "hook_refresh_failed"
)

// Destinations and housekeeping.
const (
	ActionDestinationPaused  Action = "destination_paused"
	ActionDestinationResumed Action = "destination_resumed"
	ActionEventsPruned       Action = "events_pruned"
	// ActionConfigReloaded: a running server put a new config in force;
	// the actor asked for it, the outcome is the new version and the
	// message names the old one and what changed.
	ActionConfigReloaded Action = "config_reloaded"
	// ActionPollCursorReset: a reload pointed a source at another platform
	// object (or another webhook), so the position it had stored means
	// nothing there; the next read starts from the beginning.
	ActionPollCursorReset Action = "poll_cursor_reset"
	// ActionSettleSwept: the leader's settle sweep found an event left
	// delivering although every delivery of it had finished, and settled
	// it (the state entry before it says to what). A repair: some settle
	// did not move the event, which is a bug to report.
	ActionSettleSwept Action = "settle_swept"
	// ActionPruned is the audit action of a retention batch that deleted
	// the oldest audit entries. Its message attests the checkpoint it
	// left (see PrunedMessage).
	ActionPruned Action = "audit_pruned"
)

// Actions lists every action, for documentation and tests.
func Actions() []Action {
	return []Action{
		ActionCaptured, ActionReleased, ActionRouted, ActionPatched, ActionDiscarded, ActionState, ActionReplayed,
		ActionRedeliver, ActionRetryRequested, ActionRerendered, ActionResubmitted,
		ActionDelivered, ActionUnblocked, ActionAttemptFailed, ActionParked, ActionEscalated, ActionCancelled,
		ActionLeaseExpired, ActionFallback,
		ActionEscalationResolved, ActionTicketAssigned, ActionTicketAcknowledged, ActionTicketNoted, ActionPayloadPatched,
		ActionTicketsBulkRetry, ActionTicketsBulkResolve, ActionTicketsBulkDiscard, ActionTicketsBulkRerender, ActionHoldsBulk,
		ActionReconciliationOpened, ActionReconciliationRetried, ActionReconciliationResolved, ActionConsistencyMismatch,
		ActionDestinationPaused, ActionDestinationResumed, ActionEventsPruned, ActionConfigReloaded, ActionPollCursorReset, ActionSettleSwept, ActionPruned,
		ActionEchoSuppressed, ActionHookVerification,
		ActionNoticeReceived, ActionNoticeFailed, ActionNoticeEscalated, ActionNoticeRecovered, ActionHookRefreshed, ActionHookRefreshFailed,
	}
}

// Known reports whether a is one of Actions.
func (a Action) Known() bool {
	for _, k := range Actions() {
		if k == a {
			return true
		}
	}
	return false
}
