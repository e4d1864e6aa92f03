package pipeline

import (
	"context"
	"log/slog"

	"github.com/sluicehq/sluice/internal/store"
)

// One log line per outcome that matters, written after its transaction
// commits (a unit the committer rolls back and re-runs logs once), with the
// same field names everywhere so a log query can follow one event:
// event_id, delivery_id, flow, destination. Levels say who should look:
// warn for what a person must act on (rejected, escalated, paused), info
// for what resolves itself or was asked for (held, retry scheduled,
// resumed, released), debug for the normal path (captured, delivered).

// logCapture logs the verdict on one captured trigger.
func (g *Gate) logCapture(ctx context.Context, res CaptureResult, source, flow string) {
	if res.Duplicate {
		g.log.DebugContext(ctx, "duplicate ignored", "event_id", res.EventID, "source", source, "flow", flow)
		return
	}
	switch res.State {
	case store.EventRejected:
		g.log.WarnContext(ctx, "event rejected", "event_id", res.EventID, "source", source, "flow", flow,
			"problems", problemsText(res.Problems))
	case store.EventHeld:
		g.log.InfoContext(ctx, "event held", "event_id", res.EventID, "source", source, "flow", flow,
			"missing", res.Missing)
	default:
		// Checked first: the arguments alone cost allocations on every
		// capture, and debug is off in production.
		if g.log.Enabled(ctx, slog.LevelDebug) {
			g.log.DebugContext(ctx, "event captured", "event_id", res.EventID, "source", source, "flow", flow, "state", res.State)
		}
	}
	for _, id := range res.Released {
		g.log.InfoContext(ctx, "held event released", "event_id", id, "flow", flow, "completed_by", res.EventID)
	}
}

// logDelivery logs one delivery's outcome at level.
func (g *Gate) logDelivery(ctx context.Context, level slog.Level, msg string, d *store.Delivery, attrs ...any) {
	if !g.log.Enabled(ctx, level) {
		return
	}
	base := []any{"event_id", d.EventID, "delivery_id", d.ID, "flow", g.flowOf(d), "destination", d.Destination, "route", d.Route}
	g.log.Log(ctx, level, msg, append(base, attrs...)...)
}

// flowOf names the flow a delivery belongs to, from its route and
// destination in the current plan ("" if the plan no longer has it).
func (g *Gate) flowOf(d *store.Delivery) string {
	p := g.Plan()
	if p == nil {
		return ""
	}
	for _, name := range p.FlowNames() {
		if r := p.Flow(name).Route(d.Route); r != nil && r.Destination == d.Destination {
			return name
		}
	}
	return ""
}
