package storepg

import (
	"context"

	"github.com/sluicehq/sluice/internal/store"
)

var _ store.Instances = (*Driver)(nil)

// InstanceBeat implements store.Instances. Times are the database's.
func (d *Driver) InstanceBeat(ctx context.Context, p *store.InstanceBeatParams) (int, error) {
	if _, err := d.pool.Exec(ctx, `INSERT INTO instances (id, info, started_at, last_seen) VALUES ($1, $2, now(), now())
		ON CONFLICT (id) DO UPDATE SET last_seen = now(), info = EXCLUDED.info`, p.ID, p.Info); err != nil {
		return 0, fail("instance beat", err)
	}
	if p.Forget > 0 {
		if _, err := d.pool.Exec(ctx, `DELETE FROM instances WHERE last_seen < now() - make_interval(secs => $1)`, p.Forget.Seconds()); err != nil {
			return 0, fail("instance beat: forget", err)
		}
	}
	var n int
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM instances WHERE last_seen > now() - make_interval(secs => $1) OR id = $2`,
		p.TTL.Seconds(), p.ID).Scan(&n); err != nil {
		return 0, fail("instance beat: count", err)
	}
	return n, nil
}

// InstanceLeave implements store.Instances.
func (d *Driver) InstanceLeave(ctx context.Context, id string) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM instances WHERE id = $1`, id); err != nil {
		return fail("instance leave", err)
	}
	return nil
}
