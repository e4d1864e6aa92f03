package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// The console's reads and its sessions (QueueStats is in sla.go, with the
// other queue-age statements). The rollups stay in each driver: the rollup
// minute is an integer there and a timestamptz in PostgreSQL,
// which folds under a row lock so that instances take turns.

// EventSearch implements store.ConsoleStore. A state without a flow, or a
// flow without a state, is read one (state, flow) range of
// events_state_flow at a time and merged (EventParts), unless an ID or a
// record key narrows the search to its own index.
func (q Queries) EventSearch(ctx context.Context, p *store.EventSearchParams) ([]*store.EventSummary, error) {
	var f filter
	if p.ID != "" {
		f.add("id = ?", p.ID)
	}
	if p.RecordKey != "" {
		// The repeated condition lets SQLite (and a PostgreSQL generic
		// plan) use the partial index events_record_key (WHERE
		// record_key != ''): with a bound parameter the planner cannot
		// prove the key is non-empty by itself.
		f.add("record_key = ? AND record_key != ''", p.RecordKey)
	}
	if p.Missing != "" {
		b, _ := json.Marshal(p.Missing)
		f.add(`missing LIKE ? ESCAPE '\'`, "%"+likeEscape(string(b))+"%")
	}
	if !p.From.IsZero() {
		f.add("id >= ?", store.EventIDBound(p.From))
	}
	if !p.To.IsZero() {
		f.add("id < ?", store.EventIDBound(p.To))
	}
	order := "DESC"
	if p.Oldest {
		order = "ASC"
	}
	if p.After != "" {
		if p.Oldest {
			f.add("id > ?", p.After)
		} else {
			f.add("id < ?", p.After)
		}
	}
	var parts []EventPart
	if p.ID == "" && p.RecordKey == "" && (p.State == "") != (p.Flow == "") {
		var states, flows []string
		if p.State != "" {
			states = []string{string(p.State)}
		} else {
			flows = []string{p.Flow}
		}
		var err error
		if parts, err = q.EventParts(ctx, states, flows); err != nil {
			return nil, fmt.Errorf("event search: %w", err)
		}
	} else {
		if p.State != "" {
			f.add("state = ?", p.State)
		}
		if p.Flow != "" {
			f.add("flow = ?", p.Flow)
		}
		parts = []EventPart{{}}
	}
	var pages [][]*store.EventSummary
	for _, part := range parts {
		pf := f
		pf.conds, pf.args = slices.Clone(f.conds), slices.Clone(f.args)
		if part.State != "" {
			pf.add("state = ?", part.State)
			pf.add("flow = ?", part.Flow)
		}
		query := `SELECT id, source, flow, record_key, state, COALESCE(missing, ''), received_at, updated_at FROM events` + pf.where() +
			` ORDER BY id ` + order + ` LIMIT ?`
		out, err := list(ctx, q, func(r Row) (*store.EventSummary, error) {
			var e store.EventSummary
			var missing string
			if err := r.Scan(&e.ID, &e.Source, &e.Flow, &e.RecordKey, &e.State, &missing,
				q.db.ScanTime(&e.ReceivedAt), q.db.ScanTime(&e.UpdatedAt)); err != nil {
				return nil, err
			}
			if missing != "" {
				_ = json.Unmarshal([]byte(missing), &e.Missing)
			}
			return &e, nil
		}, query, append(pf.args, p.PageLimit())...)
		if err != nil {
			return nil, fmt.Errorf("event search: %w", err)
		}
		pages = append(pages, out)
	}
	if len(pages) == 1 {
		return pages[0], nil
	}
	return MergeByID(pages, func(e *store.EventSummary) string { return e.ID }, !p.Oldest, p.PageLimit()), nil
}

// likeEscape escapes LIKE's wildcards (and its escape character, \).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// EventCountInStates implements store.ConsoleStore: one count per state,
// each a range of the events_state_flow index, read without rows.
func (q Queries) EventCountInStates(ctx context.Context, states []store.EventState) (map[store.EventState]int64, error) {
	out := map[store.EventState]int64{}
	for _, st := range states {
		var n int64
		if err := q.row(ctx, `SELECT count(*) FROM events WHERE state = ?`, st).Scan(&n); err != nil {
			return nil, fmt.Errorf("event count: %w", err)
		}
		out[st] = n
	}
	return out, nil
}

// ConsoleSessionInsert implements store.ConsoleStore.
func (q Queries) ConsoleSessionInsert(ctx context.Context, s *store.ConsoleSession) error {
	_, err := q.exec(ctx, `INSERT INTO console_sessions (id_hash, actor, role, created_at, seen_at) VALUES (?, ?, ?, ?, ?)`,
		s.IDHash, s.Actor, s.Role, q.db.Time(s.CreatedAt), q.db.Time(s.SeenAt))
	if err != nil {
		return fmt.Errorf("console session insert: %w", err)
	}
	return nil
}

// ConsoleSessionGet implements store.ConsoleStore.
func (q Queries) ConsoleSessionGet(ctx context.Context, idHash string) (*store.ConsoleSession, error) {
	s := store.ConsoleSession{IDHash: idHash}
	err := q.row(ctx, `SELECT actor, role, created_at, seen_at FROM console_sessions WHERE id_hash = ?`, idHash).
		Scan(&s.Actor, &s.Role, q.db.ScanTime(&s.CreatedAt), q.db.ScanTime(&s.SeenAt))
	if err != nil {
		return nil, fmt.Errorf("console session: %w", err)
	}
	return &s, nil
}

// ConsoleSessionTouch implements store.ConsoleStore; it never moves
// seen_at backwards.
func (q Queries) ConsoleSessionTouch(ctx context.Context, idHash string, seen time.Time) error {
	if _, err := q.exec(ctx, `UPDATE console_sessions SET seen_at = ? WHERE id_hash = ? AND seen_at < ?`,
		q.db.Time(seen), idHash, q.db.Time(seen)); err != nil {
		return fmt.Errorf("console session touch: %w", err)
	}
	return nil
}

// ConsoleSessionDelete implements store.ConsoleStore.
func (q Queries) ConsoleSessionDelete(ctx context.Context, idHash string) error {
	if _, err := q.exec(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("console session delete: %w", err)
	}
	return nil
}

// ConsoleSessionPurge implements store.ConsoleStore.
func (q Queries) ConsoleSessionPurge(ctx context.Context, p *store.ConsoleSessionPurgeParams) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM console_sessions WHERE seen_at < ? OR created_at < ?`, q.db.Time(p.SeenBefore), q.db.Time(p.CreatedBefore))
	if err != nil {
		return 0, fmt.Errorf("console session purge: %w", err)
	}
	return int(n), nil
}
