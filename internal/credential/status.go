package credential

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Status is what the CLI and the admin API show of a credential: never a
// secret.
type Status struct {
	Destination string     `json:"destination"`
	Kind        string     `json:"kind"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RefreshedAt *time.Time `json:"refreshed_at,omitempty"`
	Refreshes   int64      `json:"refreshes"`
	Failure     string     `json:"failure,omitempty"`
	FailedAt    *time.Time `json:"failed_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// List reports every stored credential.
func List(ctx context.Context, st store.Credentials) ([]Status, error) {
	rows, err := st.CredentialList(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(rows))
	for _, r := range rows {
		out = append(out, Status{Destination: r.Name, Kind: r.Kind, ExpiresAt: timePtr(r.ExpiresAt),
			RefreshedAt: timePtr(r.RefreshedAt), Refreshes: r.Refreshes, Failure: r.Failure, FailedAt: timePtr(r.FailedAt)})
	}
	return out, nil
}
