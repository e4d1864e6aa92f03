package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"
)

// session is what the server keeps for a signed-in person: who and in
// which role, never the token they signed in with. The browser holds only
// a random identifier; the map is keyed by its SHA-256 so a memory dump
// does not hand out live cookies either.
type session struct {
	Actor   string // the token's name, written to the audit log as "console:<name>"
	Role    string // "admin" or "viewer"
	Created time.Time
	Seen    time.Time
}

// sessions is an in-memory session table with idle and absolute expiry.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	now  func() time.Time
	idle time.Duration
	max  time.Duration
}

func newSessions(now func() time.Time, idle, max time.Duration) *sessions {
	return &sessions{byID: map[string]*session{}, now: now, idle: idle, max: max}
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// create opens a session and returns the identifier for the cookie.
func (s *sessions) create(actor, role string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[hashID(id)] = &session{Actor: actor, Role: role, Created: now, Seen: now}
	// Drop expired sessions so the table does not grow without bound.
	for k, v := range s.byID {
		if s.expired(v, now) {
			delete(s.byID, k)
		}
	}
	return id, nil
}

func (s *sessions) expired(v *session, now time.Time) bool {
	return now.Sub(v.Seen) > s.idle || now.Sub(v.Created) > s.max
}

// get returns the live session for id and marks it used, or nil.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hashID(id)
	v := s.byID[k]
	if v == nil {
		return nil
	}
	if s.expired(v, now) {
		delete(s.byID, k)
		return nil
	}
	v.Seen = now
	cp := *v
	return &cp
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	delete(s.byID, hashID(id))
	s.mu.Unlock()
}
