package store

import (
	"context"
	"encoding/json"
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
	// QueueStats is, per destination, how many deliveries wait and since
	// when the oldest has.
	QueueStats(ctx context.Context) ([]*QueueStat, error)
	// RollupFold folds up to limit audit entries after the rollup watermark
	// into per-minute rollups and moves the watermark, in one transaction
	// (call it on an ExecutorTx). Several instances may call it: the
	// watermark row is locked, so every entry is counted once. It returns
	// how many entries it scanned (0: caught up).
	RollupFold(ctx context.Context, limit int) (int, error)
	// RollupConsistencyAdd adds one consistency check's result to the
	// rollup of its minute.
	RollupConsistencyAdd(ctx context.Context, at time.Time, destination string, checked, inconsistent int) error
	// RollupList returns the rollups of minutes in [From, To), oldest first.
	RollupList(ctx context.Context, p *RollupListParams) ([]*Rollup, error)
}

// EventSearchParams filters EventSearch. Zero fields do not filter.
type EventSearchParams struct {
	ID        string
	State     string
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
	State      string
	Missing    []string
	ReceivedAt time.Time
	UpdatedAt  time.Time
}

// QueueStat is one destination's backlog.
type QueueStat struct {
	Destination string
	Pending     int64
	Inflight    int64
	Oldest      time.Time // creation time of the oldest unfinished delivery; zero if none
}

// RollupListParams selects rollups.
type RollupListParams struct {
	From, To    time.Time
	Flow        string // "" for all
	Destination string // "" for all
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
		r.Settled++
		if f.Complete {
			r.Complete++
		}
		if f.Attempt > 1 {
			r.Retried++
		}
		if f.Failed {
			r.Failed++
			continue
		}
		if f.Attempt > 1 {
			r.RetriedOK++
		}
		r.Latency[LatencyBucket(f.LatencyMS)]++
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

// EncodeLatency and DecodeLatency store the histogram as a JSON array.
func EncodeLatency(h []int64) string {
	if h == nil {
		h = make([]int64, len(LatencyBounds)+1)
	}
	b, _ := json.Marshal(h)
	return string(b)
}

// DecodeLatency is the inverse of EncodeLatency; bad text decodes empty.
func DecodeLatency(s string) []int64 {
	h := make([]int64, len(LatencyBounds)+1)
	var v []int64
	if json.Unmarshal([]byte(s), &v) == nil {
		copy(h, v)
	}
	return h
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
