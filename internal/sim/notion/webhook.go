package notion

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/sim"
)

// WorkspaceID and IntegrationID are what the simulator's webhook events
// carry.
const (
	WorkspaceID   = "13950b26-c203-4f3b-b97d-93ec06319565"
	IntegrationID = "18bd872b-594c-80a5-9eb3-0037f2da2a53"
)

// emit sends one page event: page.created, page.properties_updated or
// page.deleted. s.mu must be held.
func (s *Server) emit(typ string, p *page) {
	if !s.Hooks.Subscribed() {
		return
	}
	s.events++
	id := fmt.Sprintf("%08x-5140-4000-8000-%012x", s.events, p.seq)
	at := s.Now().UTC().Format(time.RFC3339Nano)
	parent := map[string]any{"id": p.db.id, "type": "database"}
	s.Hooks.Emit(sim.Webhook{Event: typ, Body: func(_ sim.Subscription, attempt int) []byte {
		b, _ := json.Marshal(map[string]any{
			"id": id, "timestamp": at, "workspace_id": WorkspaceID, "workspace_name": "Sluice sim",
			"subscription_id": "sub-sim", "integration_id": IntegrationID, "type": typ,
			"authors":        []any{map[string]any{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}},
			"accessible_by":  []any{map[string]any{"id": IntegrationID, "type": "bot"}},
			"attempt_number": attempt, "entity": map[string]any{"id": p.id, "type": "page"},
			"data": map[string]any{"parent": parent},
		})
		return b
	}})
}
