package storesqlite

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

func (x *executor) HookTokenAdd(ctx context.Context, t *store.HookToken) error {
	_, err := x.w.ExecContext(ctx, `INSERT INTO hook_tokens (source, token, platform, received_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (source, token) DO NOTHING`, t.Source, t.Token, t.Platform, ms(t.ReceivedAt))
	if err != nil {
		return fmt.Errorf("hook token add: %w", err)
	}
	return nil
}

func (x *executor) HookTokenList(ctx context.Context, source string) ([]store.HookToken, error) {
	rows, err := x.r.QueryContext(ctx, `SELECT source, token, platform, received_at FROM hook_tokens WHERE source = ?
		ORDER BY received_at DESC, token`, source)
	if err != nil {
		return nil, fmt.Errorf("hook token list: %w", err)
	}
	defer rows.Close()
	var out []store.HookToken
	for rows.Next() {
		var t store.HookToken
		var at int64
		if err := rows.Scan(&t.Source, &t.Token, &t.Platform, &at); err != nil {
			return nil, fmt.Errorf("hook token list: %w", err)
		}
		t.ReceivedAt = fromMS(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hook token list: %w", err)
	}
	return out, nil
}
