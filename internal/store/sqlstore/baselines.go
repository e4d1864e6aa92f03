package sqlstore

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

// SourceBaselineGet implements store.BaselineStore.
func (q Queries) SourceBaselineGet(ctx context.Context, source string) (*store.SourceBaseline, error) {
	b := &store.SourceBaseline{Source: source}
	var shape string
	err := q.row(ctx, `SELECT learned, shape, updated_at FROM source_baselines WHERE source = ?`, source).
		Scan(&b.Learned, &shape, q.db.ScanTime(&b.UpdatedAt))
	if err != nil {
		return nil, fmt.Errorf("source baseline get: %w", err)
	}
	b.Shape = []byte(shape)
	return b, nil
}

// SourceBaselinePut implements store.BaselineStore: a baseline learned
// from fewer payloads never replaces a fuller one.
func (q Queries) SourceBaselinePut(ctx context.Context, b *store.SourceBaseline) error {
	_, err := q.exec(ctx, `INSERT INTO source_baselines (source, learned, shape, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET learned = excluded.learned, shape = excluded.shape, updated_at = excluded.updated_at
		WHERE excluded.learned >= source_baselines.learned`, b.Source, b.Learned, string(b.Shape), q.db.Time(b.UpdatedAt))
	if err != nil {
		return fmt.Errorf("source baseline put: %w", err)
	}
	return nil
}

// SyncBaselineGet implements store.Executor.
func (q Queries) SyncBaselineGet(ctx context.Context, destination, recordKey string) (*store.SyncBaseline, error) {
	b := store.SyncBaseline{Destination: destination, RecordKey: recordKey}
	var fields []byte
	err := q.row(ctx, `SELECT external_id, fields, synced_at FROM sync_baselines WHERE destination = ? AND record_key = ?`,
		destination, recordKey).Scan(&b.ExternalID, &fields, q.db.ScanTime(&b.SyncedAt))
	if err != nil {
		return nil, fmt.Errorf("sync baseline get: %w", err)
	}
	b.Fields = fields
	return &b, nil
}

// SyncBaselinePut implements store.Executor.
func (q Queries) SyncBaselinePut(ctx context.Context, b *store.SyncBaseline) error {
	_, err := q.exec(ctx, `INSERT INTO sync_baselines (destination, record_key, external_id, fields, synced_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (destination, record_key) DO UPDATE SET external_id = excluded.external_id, fields = excluded.fields, synced_at = excluded.synced_at`,
		b.Destination, b.RecordKey, b.ExternalID, string(b.Fields), q.db.Time(b.SyncedAt))
	if err != nil {
		return fmt.Errorf("sync baseline put: %w", err)
	}
	return nil
}

// HookTokenAdd implements store.Executor; the same token again is a no-op.
func (q Queries) HookTokenAdd(ctx context.Context, t *store.HookToken) error {
	_, err := q.exec(ctx, `INSERT INTO hook_tokens (source, token, platform, received_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (source, token) DO NOTHING`, t.Source, t.Token, t.Platform, q.db.Time(t.ReceivedAt))
	if err != nil {
		return fmt.Errorf("hook token add: %w", err)
	}
	return nil
}

// HookTokenList implements store.Executor.
func (q Queries) HookTokenList(ctx context.Context, source string) ([]store.HookToken, error) {
	out, err := list(ctx, q, func(r Row) (store.HookToken, error) {
		var t store.HookToken
		err := r.Scan(&t.Source, &t.Token, &t.Platform, q.db.ScanTime(&t.ReceivedAt))
		return t, err
	}, `SELECT source, token, platform, received_at FROM hook_tokens WHERE source = ? ORDER BY received_at DESC, token`, source)
	if err != nil {
		return nil, fmt.Errorf("hook token list: %w", err)
	}
	return out, nil
}
