package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/store"
)

const (
	// QueryIdentityGet is the identity lookup before every send; exported
	// so storesqlite's plan test can check it searches the primary key.
	QueryIdentityGet = `SELECT external_id FROM identities WHERE destination = ? AND record_key = ?`
	qIdentityPut     = `INSERT INTO identities (destination, record_key, external_id, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (destination, record_key) DO UPDATE SET external_id = excluded.external_id, updated_at = excluded.updated_at`
	qIdentityList = `SELECT destination, record_key, external_id, updated_at FROM identities
		WHERE destination = ? AND record_key > ? ORDER BY record_key LIMIT ?`
	qIdentityByExternalID = `SELECT record_key FROM identities WHERE destination = ? AND external_id = ? ORDER BY updated_at DESC LIMIT 1`
)

// IdentityGet implements store.Executor.
func (q Queries) IdentityGet(ctx context.Context, destination, recordKey string) (string, error) {
	var id string
	if err := q.row(ctx, QueryIdentityGet, destination, recordKey).Scan(&id); err != nil {
		return "", fmt.Errorf("identity: %w", err)
	}
	return id, nil
}

// IdentityPut implements store.Executor.
func (q Queries) IdentityPut(ctx context.Context, p *store.IdentityPutParams) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("identity put: %w", err)
	}
	if _, err := q.exec(ctx, qIdentityPut, p.Destination, p.RecordKey, p.ExternalID, q.db.Time(p.Now)); err != nil {
		return fmt.Errorf("identity put: %w", err)
	}
	return nil
}

// IdentityList implements store.Executor.
func (q Queries) IdentityList(ctx context.Context, p *store.IdentityListParams) ([]*store.Identity, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("identity list: %w", err)
	}
	out, err := list(ctx, q, func(r Row) (*store.Identity, error) {
		var i store.Identity
		if err := r.Scan(&i.Destination, &i.RecordKey, &i.ExternalID, q.db.ScanTime(&i.UpdatedAt)); err != nil {
			return nil, err
		}
		return &i, nil
	}, qIdentityList, p.Destination, p.AfterKey, store.PageLimit(p.Limit))
	if err != nil {
		return nil, fmt.Errorf("identity list: %w", err)
	}
	return out, nil
}

// IdentityGetByExternalID implements store.Executor.
func (q Queries) IdentityGetByExternalID(ctx context.Context, destination, externalID string) (string, error) {
	var key string
	err := q.row(ctx, qIdentityByExternalID, destination, externalID).Scan(&key)
	if errors.Is(err, store.ErrNotFound) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("identity by external id: %w", err)
	}
	return key, nil
}
