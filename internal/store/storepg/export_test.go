package storepg

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/sqlstore"
)

// HotPlan is one hot statement for TestHotPathPlans: its text, arguments
// for EXPLAIN and the indexes its plan must use.
type HotPlan struct {
	Name  string
	Query string
	Args  []any
	Want  []string
	// Forbid lists plan node types that must not appear (a Sort under the
	// claim's LIMIT means every pending delivery is read and sorted).
	Forbid []string
}

// HotPlans lists the statements of the capture path, the delivery claim
// and settle, the audit head and the maintenance queries.
func HotPlans() []HotPlan {
	now := time.Now().UTC()
	return []HotPlan{
		{"capture: idempotency lookup", qEventByIdem, []any{"src", "k1"}, []string{"events_idem"}, nil},
		{"capture: held by key", qHeldByKey, []any{"flow", "key1"}, []string{"events_held_key"}, nil},
		{"capture: event insert", qEventInsert, []any{"evt_x", "src", "flow", "kx", "key1", "delivering", "application/json", []byte{}, nil, nil, nil, nil, now, now, "", ""}, nil, nil},
		{"capture: queued event inserts", qEventInsertMany, queuedInsertArgs(now), nil, nil},
		{"capture: held records of queued keys", qHeldOfKeys, []any{[]string{"flow", "flow"}, []string{"key1", "key2"}, []string{"evt_x", "evt_y"}},
			[]string{"events_held_key"}, nil},
		{"capture: delivery insert", qDeliveryInsert, []any{"dlv_x", "evt_x", "r", "sink", "key1", "pending", []string{}, "{}", 0, now, "", nil, false, "", 0, "", now, now, "", "", "", ""}, nil, nil},
		{"audit insert", qAuditInsertMany, []any{[]int64{1}, []time.Time{now}, []string{""}, []string{""}, []string{""}, []int32{0}, []string{"a"}, []string{"captured"}, []string{""}, []int32{0}, []string{""}, []int64{0}, []string{""}, []string{""}}, nil, nil},
		{"audit head", qAuditHead, nil, []string{"audit_log_pkey"}, nil},
		{"claim: lock keys", qClaimLock, []any{"sink", now, 128, int32(1), 32}, []string{"deliveries_ready", "deliveries_active_key"}, []string{"Sort", "Incremental Sort"}},
		{"claim: take", qClaimTake, []any{"sink", now, []int64{1, 2}, "w", now}, []string{"deliveries_pkey", "deliveries_active_key", "identities_pkey"}, nil},
		{"settle: checks, events locked", qSettleLock, []any{[]string{"evt_1", "evt_2"}}, []string{"events_pkey"}, nil},
		{"settle: checks, deliveries", qSettleCheck, []any{[]string{"evt_1", "evt_2"}}, []string{"deliveries_event"}, nil},
		{"settle: delivery by id", qDeliveryByID, []any{"dlv_1"}, []string{"deliveries_id_key"}, nil},
		{"settle: queued event states", qEventStateUpdate, []any{"delivered", now, "evt_1"}, []string{"events_pkey"}, nil},
		{"settle: queued identities", qIdentityPutMany, []any{[]string{"sink"}, []string{"key1"}, []string{"x"}, []time.Time{now}}, nil, nil},
		{"capture: queued delivery inserts", qDeliveryInsertMany, deliveryInsertArrays([]*store.Delivery{{ID: "dlv_x", EventID: "evt_x", Route: "r",
			Destination: "sink", RecordKey: "key1", State: "pending", After: []string{"a"}, Payload: []byte("{}"), NextAt: now, CreatedAt: now, UpdatedAt: now}}), nil, nil},
		{"settle: queued event states, several", qEventStateUpdateMany, []any{[]string{"delivered", "delivered"}, []time.Time{now, now}, []string{"evt_1", "evt_2"}},
			[]string{"events_pkey"}, nil},
		{"settle: queued delivery updates, several", qDeliveryUpdateMany, func() []any {
			args, _ := deliveryUpdateArrays([]store.Delivery{{ID: "dlv_1", State: "succeeded", Payload: []byte("{}"), NextAt: now, UpdatedAt: now},
				{ID: "dlv_2", State: "succeeded", Payload: []byte("{}"), NextAt: now, UpdatedAt: now}})
			return args
		}(), []string{"deliveries_id_key"}, nil},
		{"settle: delivery update", qDeliveryUpdate, []any{"succeeded", "{}", 1, now, "", nil, false, "", 200, "", now, "", "dlv_1"}, []string{"deliveries_id_key"}, nil},
		{"settle: deliveries of the event", qDeliveriesByEvent, []any{"evt_1"}, []string{"deliveries_event"}, nil},
		{"settle: event by id", qEventByID, []any{"evt_1"}, []string{"events_pkey"}, nil},
		{"settle: event state", qEventStateByID, []any{"evt_1"}, []string{"events_pkey"}, nil},
		{"settle: event state, locked", qEventStateLock, []any{"evt_1"}, []string{"events_pkey"}, nil},
		{"identity by key", sqlstore.Rebind(sqlstore.QueryIdentityGet), []any{"sink", "key1"}, []string{"identities_pkey"}, nil},
		{"pre-send: latest succeeded", qDeliveryLatestSucceeded, []any{"sink", "key1"}, []string{"deliveries_succeeded_key"}, nil},
		{"worker: next ready", qDeliveryNextReady, []any{"sink"}, []string{"deliveries_ready"}, nil},
		{"maintain: expired leases", qDeliveriesLeaseExpired, []any{now, 500}, []string{"deliveries_lease"}, nil},
		{"maintain: expired holds", qEventsHoldExpired, []any{now, 100}, []string{"events_hold_until"}, nil},
		{"fallback: needing fallback", qDeliveriesNeedingFallback, []any{"sink", 100}, []string{"deliveries_needing_fallback"}, nil},
		// Periodic (SLA watcher, metrics scrape): index seeks, no sort of the backlog.
		{"sla: oldest delivering event", sqlstore.Rebind(sqlstore.QueryEventOldest(store.EventDelivering)), []any{"flow"}, []string{"events_state_flow"}, []string{"Sort"}},
		{"sla: oldest held event", sqlstore.Rebind(sqlstore.QueryEventOldest(store.EventHeld)), []any{"flow"}, []string{"events_state_flow"}, []string{"Sort"}},
		{"sla: delivering events, counted", sqlstore.Rebind(sqlstore.QueryEventCount(store.EventDelivering)), []any{"flow", 10000}, []string{"events_state_flow"}, []string{"Sort", "Bitmap Heap Scan"}},
		{"sla: held events, counted", sqlstore.Rebind(sqlstore.QueryEventCount(store.EventHeld)), []any{"flow", 10000}, []string{"events_state_flow"}, []string{"Sort", "Bitmap Heap Scan"}},
		{"sla: oldest pending delivery", sqlstore.Rebind(sqlstore.QueryDeliveryOldest), []any{"sink"}, []string{"deliveries_pending_age"}, []string{"Sort"}},
		{"sla: earliest next_at", sqlstore.Rebind(sqlstore.QueryDeliveryNextAt), []any{"sink"}, []string{"deliveries_ready"}, []string{"Sort"}},
		{"metrics: pending deliveries", sqlstore.Rebind(sqlstore.QueryDeliveryCountAll), []any{"sink"}, nil, nil},
		{"metrics: delivering events", sqlstore.Rebind(sqlstore.QueryEventCountAll(store.EventDelivering)), []any{"flow"}, []string{"events_state_flow"}, nil},
		{"sla: pending deliveries, counted", sqlstore.Rebind(sqlstore.QueryDeliveryCount), []any{"sink", 10000}, []string{"deliveries_pending_age"}, []string{"Sort", "Bitmap Heap Scan"}},
		// The console's queue stats (every live refresh): the few in
		// flight, then per destination a count that stops at the limit.
		{"console: in flight", sqlstore.Rebind(sqlstore.QueryQueueInflight), nil, []string{"deliveries_lease"}, nil},
		{"console: unfinished, counted", sqlstore.Rebind(sqlstore.QueryQueueUnfinished), []any{"sink", 10000}, []string{"deliveries_active_key"}, []string{"Sort", "Bitmap Heap Scan"}},
		// The leader's settle sweep: a window of the delivering events in
		// index order, two probes of each one's deliveries.
		{"sweep: delivering events", sqlstore.Rebind(sqlstore.QueryEventsDelivering), []any{"evt_1", "evt_1", 500}, []string{"events_state_flow", "deliveries_event"}, []string{"Sort", "Bitmap Heap Scan"}},
		// The console's and the API's lists by state alone or flow alone
		// (sqlstore.EventParts): the flows in a state one seek each, then
		// one range of a (state, flow) pair per flow, in id order.
		{"lists: first flow in a state", sqlstore.Rebind(sqlstore.QueryFlowFirst), []any{"delivered"}, []string{"events_state_flow"}, []string{"Sort"}},
		{"lists: next flow in a state", sqlstore.Rebind(sqlstore.QueryFlowAfter), []any{"delivered", "flow"}, []string{"events_state_flow"}, []string{"Sort"}},
		{"lists: a (state, flow) range", `SELECT id FROM events WHERE id < $1 AND state = $2 AND flow = $3 ORDER BY id DESC LIMIT $4`, []any{"evt_2", "delivered", "flow", 51}, []string{"events_state_flow"}, []string{"Sort", "Bitmap Heap Scan"}},
	}
}

// queuedInsertArgs is qEventInsertMany's arguments for two queued captures.
func queuedInsertArgs(now time.Time) []any {
	b := &behind{evIns: []evInsert{
		{e: store.Event{ID: "evt_x", Source: "src", Flow: "flow", IdemKey: "kx", RecordKey: "key1", State: "delivering",
			Raw: []byte("{}"), Canonical: []byte("{}"), ReceivedAt: now, UpdatedAt: now}},
		{e: store.Event{ID: "evt_y", Source: "src", Flow: "flow", RecordKey: "key2", State: "held", Raw: []byte("{}"),
			HoldUntil: now, ReceivedAt: now, UpdatedAt: now}},
	}}
	batch := &pgx.Batch{}
	b.queueEventInserts(batch)
	return batch.QueuedQueries[0].Arguments
}
