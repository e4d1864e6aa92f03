package storepg

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

func (x *executor) HookTokenAdd(ctx context.Context, t *store.HookToken) error {
	_, err := x.q.Exec(ctx, `INSERT INTO hook_tokens (source, token, platform, received_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (source, token) DO NOTHING`, t.Source, t.Token, t.Platform, ts(t.ReceivedAt))
	if err != nil {
		return fail("hook token add", err)
	}
	return nil
}

func (x *executor) HookTokenList(ctx context.Context, source string) ([]store.HookToken, error) {
	rows, err := x.q.Query(ctx, `SELECT source, token, platform, received_at FROM hook_tokens WHERE source = $1
		ORDER BY received_at DESC, token`, source)
	if err != nil {
		return nil, fail("hook token list", err)
	}
	defer rows.Close()
	var out []store.HookToken
	for rows.Next() {
		var t store.HookToken
		var at time.Time
		if err := rows.Scan(&t.Source, &t.Token, &t.Platform, &at); err != nil {
			return nil, fail("hook token list", err)
		}
		t.ReceivedAt = at.UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("hook token list", err)
	}
	return out, nil
}
