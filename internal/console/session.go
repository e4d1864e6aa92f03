package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// sessionStore is where sessions live: the store (both drivers), so a
// session survives a restart and works on every instance behind a load
// balancer. store.ConsoleStore implements it.
type sessionStore interface {
	ConsoleSessionInsert(ctx context.Context, s *store.ConsoleSession) error
	ConsoleSessionGet(ctx context.Context, idHash string) (*store.ConsoleSession, error)
	ConsoleSessionTouch(ctx context.Context, idHash string, seen time.Time) error
	ConsoleSessionDelete(ctx context.Context, idHash string) error
	ConsoleSessionPurge(ctx context.Context, p *store.ConsoleSessionPurgeParams) (int, error)
}

// touchEvery is how stale a session's last-seen time may get before a
// request writes it again: pages are read far more often than the idle
// limit needs to be exact, and a write per page view would put the
// console on the store's write path. Idle expiry is late by at most this.
const touchEvery = time.Minute

// sessions is the session table with idle and absolute expiry. The browser
// holds only a random 256-bit identifier; the store keeps its SHA-256, so
// neither a database dump nor a backup hands out live cookies, and never
// the token the person signed in with.
type sessions struct {
	st   sessionStore
	now  func() time.Time
	idle time.Duration
	max  time.Duration
}

func newSessions(st sessionStore, now func() time.Time, idle, max time.Duration) *sessions {
	return &sessions{st: st, now: now, idle: idle, max: max}
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// create opens a session and returns the identifier for the cookie.
func (s *sessions) create(ctx context.Context, actor, role string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	// Drop expired sessions so the table does not grow without bound.
	if _, err := s.st.ConsoleSessionPurge(ctx, &store.ConsoleSessionPurgeParams{SeenBefore: now.Add(-s.idle), CreatedBefore: now.Add(-s.max)}); err != nil {
		return "", fmt.Errorf("purge expired sessions: %w", err)
	}
	if err := s.st.ConsoleSessionInsert(ctx, &store.ConsoleSession{IDHash: hashID(id), Actor: actor, Role: role, CreatedAt: now, SeenAt: now}); err != nil {
		return "", err
	}
	return id, nil
}

func (s *sessions) expired(v *store.ConsoleSession, now time.Time) bool {
	return now.Sub(v.SeenAt) > s.idle || now.Sub(v.CreatedAt) > s.max
}

// get returns the live session for id and marks it used; nil (and no
// error) when there is none or it expired.
func (s *sessions) get(ctx context.Context, id string) (*store.ConsoleSession, error) {
	if id == "" {
		return nil, nil
	}
	now := s.now()
	k := hashID(id)
	v, err := s.st.ConsoleSessionGet(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.expired(v, now) {
		return nil, s.st.ConsoleSessionDelete(ctx, k)
	}
	if now.Sub(v.SeenAt) >= touchEvery {
		if err := s.st.ConsoleSessionTouch(ctx, k, now); err != nil {
			return nil, err
		}
		v.SeenAt = now
	}
	return v, nil
}

func (s *sessions) end(ctx context.Context, id string) error {
	return s.st.ConsoleSessionDelete(ctx, hashID(id))
}
