package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sink is the demo's flaky receiver: it answers some requests with 429 or
// 500, some slowly, refuses records whose company is "Refuse Corp" with 422,
// and applies every other write once per Idempotency-Key, counting effects
// by record key so the report can show nothing was duplicated.
type Sink struct {
	mu       sync.Mutex
	rng      *rand.Rand
	FailRate float64 // share of requests answered 429 or 500
	SlowRate float64 // share answered after SlowFor
	SlowFor  time.Duration
	effects  map[string]int
	seen     map[string]bool
	requests int
	statuses map[int]int
}

// NewSink returns a sink with a fixed seed, so demo runs are repeatable.
func NewSink(seed uint64) *Sink {
	return &Sink{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), FailRate: 0.25, SlowRate: 0.1, SlowFor: 300 * time.Millisecond,
		effects: map[string]int{}, seen: map[string]bool{}, statuses: map[int]int{}}
}

func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var rec map[string]any
	_ = json.Unmarshal(body, &rec)
	key := fmt.Sprint(rec["email"])
	s.mu.Lock()
	s.requests++
	roll, slow := s.rng.Float64(), s.rng.Float64() < s.SlowRate
	s.mu.Unlock()
	if slow {
		time.Sleep(s.SlowFor)
	}
	status := http.StatusOK
	switch {
	case strings.EqualFold(fmt.Sprint(rec["company"]), "Refuse Corp"):
		status = http.StatusUnprocessableEntity
	case roll < s.FailRate/2:
		status = http.StatusTooManyRequests
	case roll < s.FailRate:
		status = http.StatusInternalServerError
	}
	s.mu.Lock()
	s.statuses[status]++
	if status == http.StatusOK {
		if idem := r.Header.Get("Idempotency-Key"); !s.seen[idem] {
			s.seen[idem] = true
			s.effects[r.URL.Path+" "+key]++
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(status)
		io.WriteString(w, `{"error":"rate_limited","message":"slow down"}`)
	case http.StatusInternalServerError:
		w.WriteHeader(status)
		io.WriteString(w, `{"error":"internal","message":"temporary failure"}`)
	case http.StatusUnprocessableEntity:
		w.WriteHeader(status)
		io.WriteString(w, `{"error":"validation","message":"company Refuse Corp is on the block list"}`)
	default:
		fmt.Fprintf(w, `{"id":"rec_%x"}`, hash(key))
	}
}

// Effects returns applied writes per record key.
func (s *Sink) Effects() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.effects))
	for k, v := range s.effects {
		out[k] = v
	}
	return out
}

// Statuses returns how many responses of each status the sink gave.
func (s *Sink) Statuses() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.statuses))
	for k, v := range s.statuses {
		out[k] = v
	}
	return out
}

func hash(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}
