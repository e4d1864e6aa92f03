package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// ConsoleStore is the capability behind the operator console: searches over
// events that use keyset pagination and indexed filters (no raw bodies), and
// the per-minute rollups its overview charts read. Like TicketStore it is
// separate from Executor and found by type assertion, so the console can
// grow without every driver method set changing at once.
type ConsoleStore interface {
	// EventSearch returns event summaries matching p, keyset-paginated by ID.
	EventSearch(ctx context.Context, p *EventSearchParams) ([]*EventSummary, error)
	// QueueStats is, for each of p.Destinations, how many deliveries wait
	// and since when the oldest has; destinations with nothing unfinished
	// are left out. Its cost does not grow with the backlog when
	// p.CountLimit is set (ADR 0034).
	QueueStats(ctx context.Context, p *QueueStatsParams) ([]*QueueStat, error)
	// RollupFold folds up to limit audit entries after the rollup watermark
	// into per-minute rollups and moves the watermark, in one transaction
	// (call it on an ExecutorTx). Several instances may call it: the
	// watermark row is locked, so every entry is counted once. It returns
	// how many entries it scanned (0: caught up).
	RollupFold(ctx context.Context, limit int) (int, error)
	// RollupConsistencyAdd adds one consistency check's result to the
	// rollup of its minute.
	RollupConsistencyAdd(ctx context.Context, at time.Time, destination string, checked, inconsistent int) error
	// RollupList returns the rollups of minutes in [From, To), oldest
	// first, summed per p.Bucket (default one minute) in the database.
	RollupList(ctx context.Context, p *RollupListParams) ([]*Rollup, error)
	// EventCountInStates counts the events in each of the given states
	// through the state index: cheap for the open states (held,
	// delivering, escalated), which are small next to the delivered
	// history, unlike EventCountByState, which counts every event.
	EventCountInStates(ctx context.Context, states []EventState) (map[EventState]int64, error)

	// Console sessions, keyed by the SHA-256 of the cookie's identifier
	// (ConsoleSession.IDHash). They are the console's own bookkeeping,
	// not event state, so the console writes them itself.

	// ConsoleSessionInsert stores a new session.
	ConsoleSessionInsert(ctx context.Context, s *ConsoleSession) error
	// ConsoleSessionGet returns a session; ErrNotFound if there is none.
	ConsoleSessionGet(ctx context.Context, idHash string) (*ConsoleSession, error)
	// ConsoleSessionTouch records that the session was used at seen.
	ConsoleSessionTouch(ctx context.Context, idHash string, seen time.Time) error
	// ConsoleSessionDelete ends a session (sign-out, expiry); deleting one
	// that is gone is not an error.
	ConsoleSessionDelete(ctx context.Context, idHash string) error
	// ConsoleSessionPurge deletes sessions idle or too old, and returns
	// how many.
	ConsoleSessionPurge(ctx context.Context, p *ConsoleSessionPurgeParams) (int, error)
}

// ConsoleSessionPurgeParams says which sessions have ended; two times,
// named so that they cannot be swapped unnoticed.
type ConsoleSessionPurgeParams struct {
	SeenBefore    time.Time // idle: last seen before this
	CreatedBefore time.Time // past the session's maximum age
}

// ConsoleSession is a signed-in person as the store keeps them: who, in
// which role, since when, last seen when. Never the token or the cookie.
type ConsoleSession struct {
	IDHash    string
	Actor     string
	Role      string
	CreatedAt time.Time
	SeenAt    time.Time
}

// EventSearchParams filters EventSearch. Zero fields do not filter.
type EventSearchParams struct {
	ID        string
	State     EventState
	Flow      string
	RecordKey string
	// Missing selects held events missing this required field.
	Missing string
	// From is inclusive, To exclusive (on the receive time, through the
	// time-ordered ID, so the primary key serves the range).
	From, To time.Time
	// After continues a page: IDs after it in the chosen order.
	After string
	// Oldest orders oldest first (holds); otherwise newest first.
	Oldest bool
	Limit  int // default 50
}

// EventSummary is an event without its raw body: what a list shows.
type EventSummary struct {
	ID         string
	Source     string
	Flow       string
	RecordKey  string
	State      EventState
	Missing    []string
	ReceivedAt time.Time
	UpdatedAt  time.Time
}

// QueueStatsParams says which destinations QueueStats reads and how far
// it counts.
type QueueStatsParams struct {
	// Destinations to read, usually all of the config plan's.
	Destinations []string
	// CountLimit stops each destination's count of waiting and pending
	// deliveries past this many: Pending is then CountLimit and
	// QueueStat.Capped says there are more; 0 counts everything, at a cost that grows with the
	// backlog.
	CountLimit int64
}

// Validate checks p.
func (p *QueueStatsParams) Validate() error {
	if p.CountLimit < 0 {
		return fmt.Errorf("count_limit: must not be negative, got %d", p.CountLimit)
	}
	return nil
}

// QueueStat is one destination's backlog.
type QueueStat struct {
	Destination string
	Pending     int64 // waiting and pending deliveries
	Capped      bool  // there are more than Pending (the count limit)
	Inflight    int64
	Oldest      time.Time // creation time of the oldest unfinished delivery; zero if none
}

// RollupListParams selects rollups.
type RollupListParams struct {
	From, To    time.Time
	Flow        string // "" for all
	Destination string // "" for all
	// Bucket sums the minutes per bucket of this length counted from From
	// (truncated to the minute); a Rollup's Minute is then its bucket's
	// start. Zero or less: one minute, the stored grain.
	Bucket time.Duration
}

// LatencyBounds are the upper bounds (milliseconds) of the capture-to-
// confirmed latency histogram kept per minute; the last bucket is
// everything above the last bound.
var LatencyBounds = []int64{50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000, 3600000}

// Rollup is one minute of one flow's deliveries to one destination.
type Rollup struct {
	Minute      time.Time
	Flow        string
	Destination string
	// Settled deliveries: succeeded plus failed for good.
	Settled int64
	Failed  int64
	// Retried settled after more than one attempt; RetriedOK of them succeeded.
	Retried   int64
	RetriedOK int64
	// Latency counts succeeded deliveries per LatencyBounds bucket
	// (len(LatencyBounds)+1 entries).
	Latency []int64
	// Complete counts settled deliveries whose event has its capture entry
	// in the audit log (logging completeness).
	Complete int64
	// Checked and Inconsistent are consistency read-backs.
	Checked      int64
	Inconsistent int64
}

// RollupFact is one settled delivery, the input of FoldRollups.
type RollupFact struct {
	At          time.Time
	Flow        string
	Destination string
	Failed      bool
	Attempt     int
	LatencyMS   int64
	Complete    bool
	// Again: the delivery had settled before (it was escalated, then
	// retried by a person or a reconciliation), so it counts as retried
	// whatever its attempt number.
	Again bool
	// Undo takes the fact back out: a delivery that settles again
	// replaces its earlier settlement, so each delivery counts once, at
	// its latest outcome.
	Undo bool
}

// FoldRollups groups facts into per-minute rollups, in minute, flow,
// destination order. Drivers share it so both count the same way.
func FoldRollups(facts []RollupFact) []*Rollup {
	type k struct {
		m          int64
		flow, dest string
	}
	by := map[k]*Rollup{}
	for _, f := range facts {
		m := f.At.UTC().Truncate(time.Minute)
		key := k{m.Unix(), f.Flow, f.Destination}
		r := by[key]
		if r == nil {
			r = &Rollup{Minute: m, Flow: f.Flow, Destination: f.Destination, Latency: make([]int64, len(LatencyBounds)+1)}
			by[key] = r
		}
		n := int64(1)
		if f.Undo {
			n = -1
		}
		retried := f.Attempt > 1 || f.Again
		r.Settled += n
		if f.Complete {
			r.Complete += n
		}
		if retried {
			r.Retried += n
		}
		if f.Failed {
			r.Failed += n
			continue
		}
		if retried {
			r.RetriedOK += n
		}
		r.Latency[LatencyBucket(f.LatencyMS)] += n
	}
	out := make([]*Rollup, 0, len(by))
	for _, r := range by {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Minute.Equal(b.Minute) {
			return a.Minute.Before(b.Minute)
		}
		if a.Flow != b.Flow {
			return a.Flow < b.Flow
		}
		return a.Destination < b.Destination
	})
	return out
}

// LatencyBucket is the histogram bucket of a latency.
func LatencyBucket(ms int64) int {
	for i, b := range LatencyBounds {
		if ms <= b {
			return i
		}
	}
	return len(LatencyBounds)
}

// Add merges o's counts into r.
func (r *Rollup) Add(o *Rollup) {
	r.Settled += o.Settled
	r.Failed += o.Failed
	r.Retried += o.Retried
	r.RetriedOK += o.RetriedOK
	r.Complete += o.Complete
	r.Checked += o.Checked
	r.Inconsistent += o.Inconsistent
	if len(r.Latency) < len(LatencyBounds)+1 {
		r.Latency = append(r.Latency, make([]int64, len(LatencyBounds)+1-len(r.Latency))...)
	}
	for i, v := range o.Latency {
		if i < len(r.Latency) {
			r.Latency[i] += v
		}
	}
}

// EventIDBound is the smallest event ID made at t: IDs are "evt_" and a
// ULID whose first ten characters encode the millisecond, so a time range
// becomes an ID range served by the primary key.
func EventIDBound(t time.Time) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	ms := uint64(t.UnixMilli())
	b := make([]byte, 26)
	for i := 9; i >= 0; i-- {
		b[i] = alphabet[ms&31]
		ms >>= 5
	}
	for i := 10; i < 26; i++ {
		b[i] = '0'
	}
	return "evt_" + string(b)
}
