package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// StaleError is returned when an edit was prepared against a version of an
// item that someone else has changed since.
type StaleError struct {
	What    string
	Current time.Time
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%s was changed by someone else at %s; reload it and apply your change again", e.What, e.Current.UTC().Format(time.RFC3339))
}

// DestinationSetPaused pauses or resumes a destination by a person's
// decision, audited with the actor and reason. Paused destinations keep
// their deliveries waiting; nothing is lost.
func (g *Gate) DestinationSetPaused(ctx context.Context, name string, paused bool, reason, actor string) (*store.DestinationState, error) {
	if g.Plan != nil && g.Plan.Config != nil {
		if _, ok := g.Plan.Config.Destinations[name]; !ok {
			return nil, fmt.Errorf("destination %q: %w", name, store.ErrNotFound)
		}
	}
	if strings.TrimSpace(reason) == "" {
		reason = map[bool]string{true: "paused by operator", false: "resumed by operator"}[paused]
	}
	if actor == "" {
		return nil, errors.New("an actor is required")
	}
	now := g.Now()
	st := &store.DestinationState{Name: name, Paused: paused, Reason: g.Clean(reason), UpdatedAt: now}
	err := g.Committer.Do(ctx, func(ctx context.Context, tx store.ExecutorTx) error {
		if err := tx.DestinationStatePut(ctx, st); err != nil {
			return err
		}
		action := map[bool]string{true: "destination_paused", false: "destination_resumed"}[paused]
		return g.audit(ctx, tx, &store.AuditEntry{At: now, Actor: actor, Action: action, Outcome: "ok", Message: name + ": " + st.Reason})
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
