package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

// TestSiblingSettleRace: two instances settle the two deliveries of the
// same events at the same moment, one delivery each. Each transaction reads
// the siblings before the other commits; unless the settle serializes on the
// event, both see the other delivery still in flight and the event stays
// delivering for good (ADR 0037). The second instance's delivery succeeds,
// or fails for good (the event then ends escalated).
func TestSiblingSettleRace(t *testing.T) {
	for _, tc := range []struct {
		driver   string
		escalate bool
		want     store.EventState
		one      bool // one instance settles both: its committer's lanes race instead
	}{
		{"sqlite", false, store.EventDelivered, false},
		{"postgres", false, store.EventDelivered, false},
		{"sqlite", true, store.EventEscalated, false},
		{"postgres", true, store.EventEscalated, false},
		{"postgres", false, store.EventDelivered, true},
	} {
		driver := tc.driver
		name := driver
		if tc.one {
			name += "-one-instance"
		}
		name += "/succeeded"
		if tc.escalate {
			name = driver + "/escalated"
		}
		t.Run(name, func(t *testing.T) {
			twoRoutes := strings.Replace(cfg, "      crm: {destination: d}\n",
				"      crm: {destination: d}\n      books: {destination: e}\n", 1)
			twoRoutes = strings.Replace(twoRoutes, "destinations:\n",
				"destinations:\n  e: {type: http, allow_private_network: true, options: {url: \"http://127.0.0.1:1/y\"}}\n", 1)
			gs, _ := twoInstancesWith(t, driver, twoRoutes)
			if tc.one {
				gs[1] = gs[0]
			}
			ctx := context.Background()
			const events = 300
			ids := make([]string, events)
			for i := range ids {
				res, err := gs[0].Capture(ctx, pipeline.CaptureInput{Source: "forms", Body: []byte(`{}`),
					Payload: map[string]any{"email": fmt.Sprintf("r%d@b.co", i), "company": "Acme"}})
				if err != nil || res.State != store.EventDelivering {
					t.Fatalf("capture %d: %+v %v", i, res, err)
				}
				ids[i] = res.EventID
			}
			// Instance 0 delivers to d, instance 1 to e.
			var claimed [2][]*store.Delivery
			for i, dest := range []string{"d", "e"} {
				for len(claimed[i]) < events {
					ds, err := gs[i].ClaimDeliveries(ctx, dest, fmt.Sprintf("w%d", i), time.Hour, 100)
					if err != nil || len(ds) == 0 {
						t.Fatalf("claim %s: %d %v", dest, len(ds), err)
					}
					claimed[i] = append(claimed[i], ds...)
				}
			}
			// Both instances settle all at once, many callers each so that
			// group commit batches them.
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, 2*events)
			for i := range claimed {
				for _, d := range claimed[i] {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						if i == 1 && tc.escalate {
							errs <- gs[i].DeliveryEscalate(ctx, d, "rejected", "400 from e", pipeline.Attempt{Status: 400})
							return
						}
						errs <- gs[i].DeliverySucceeded(ctx, d, "x-"+d.ID, pipeline.Attempt{Status: 200})
					}()
				}
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("settle: %v", err)
				}
			}
			ex := pipeline.ExecutorOf(gs[0])
			stuck := 0
			for _, id := range ids {
				ev, err := ex.EventGetByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if ev.State != tc.want {
					stuck++
				}
			}
			if stuck > 0 {
				t.Fatalf("%d of %d events not %s after both deliveries settled", stuck, events, tc.want)
			}
		})
	}
}
