package connector

import (
	"sync"
	"sync/atomic"
	"time"
)

// RateSharer is implemented by connectors that keep their own rate
// limiters (the rolling windows of HubSpot, Airtable, Notion, Slack and
// Sheets quotas). When n instances of Sluice write with the same
// credential, the engine calls ShareRate(n) so that each uses 1/n of every
// limit and the platform sees the whole limit at most, not n times it; n = 1
// restores the full limits. It may be called at any time, concurrently with
// deliveries. See docs/adr/0003-shared-rate-limits.md.
type RateSharer interface {
	ShareRate(n int)
}

// SlotShare is the sharing state of a rolling-window limiter that keeps its
// slots as tokens in a buffered channel (a request takes a slot, which
// comes back one interval after the answer): the connectors' limiters.
// Sharing a window of L slots per interval I between n instances keeps
// k = max(1, L/n) slots in circulation, withholding the others, and when
// L < n (one slot cannot be split) stretches the interval to I*k*n/L, so
// each instance sends at most L/n per I on average and at most k in any I.
//
// A limiter using it returns every slot through Absorb (a slot still owed
// to the other instances is kept out of circulation) and schedules slot
// returns after Every. The zero value shares nothing.
type SlotShare struct {
	mu    sync.Mutex
	held  int // slots out of circulation
	owed  int // slots to take out of circulation as they come back
	every atomic.Int64
}

// Share divides the window whose slots are slots (its capacity is the
// window's limit) and whose interval is base among n instances.
func (s *SlotShare) Share(n int, slots chan struct{}, base time.Duration) {
	limit := cap(slots)
	if limit == 0 {
		return
	}
	n = max(n, 1)
	keep := max(1, limit/n)
	want := limit - keep
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.held+s.owed < want {
		select {
		case <-slots:
			s.held++
		default:
			s.owed++ // in use now; kept when it comes back
		}
	}
	for s.held+s.owed > want {
		if s.owed > 0 {
			s.owed--
			continue
		}
		// Never blocks: the channel holds at most limit minus the slots
		// in use minus held, and held is at least one here.
		s.held--
		slots <- struct{}{}
	}
	every := base
	if keep*n > limit {
		every = time.Duration(float64(base) * float64(keep*n) / float64(limit))
	}
	s.every.Store(int64(every))
}

// Every is the interval after which a used slot comes back: base unless
// Share stretched it.
func (s *SlotShare) Every(base time.Duration) time.Duration {
	if v := s.every.Load(); v > 0 {
		return time.Duration(v)
	}
	return base
}

// Absorb is called with each slot coming back. True means the slot is
// owed to the other instances and must not be returned to the channel.
func (s *SlotShare) Absorb() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owed > 0 {
		s.owed--
		s.held++
		return true
	}
	return false
}
