package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

func TestSLAListsOpenBreaches(t *testing.T) {
	t.Parallel()
	s := start(t)
	r := s.mustRun(t, 0, "sla")
	contains(t, "sla with nothing open", r.out, "no open SLA breaches")
	// Either "checked at <time> (<ago>)" or "not checked yet: ...", depending
	// on whether the watcher's first run has finished.
	contains(t, "sla says when it was computed", r.out, "checked")

	// The watcher is not what is under test here: open items straight in
	// the server's store, as it would.
	ctx := context.Background()
	drv, err := storesqlite.Open(ctx, s.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	sla := drv.Executor().(store.SLAStore)
	opened := time.Now().Add(-7 * time.Minute).UTC()
	for _, b := range []*store.SLABreach{
		{ID: "sla_1", Key: "sla:leads:delivery", Kind: "deliver_within", Subject: "leads", OpenedAt: opened,
			Details: json.RawMessage(`{"count":12000,"oldest":"2026-11-29T09:00:00Z","threshold":"5m0s"}`)},
		{ID: "sla_3", Key: "sla:sink:queue_depth", Kind: "queue_depth", Subject: "sink", OpenedAt: opened,
			Details: json.RawMessage(`{"count":10000,"count_at_least":true,"threshold":"2"}`)},
		{ID: "sla_2", Key: "destination_paused:sink", Kind: "destination_paused", Subject: "sink", OpenedAt: opened.Add(time.Minute),
			Details: json.RawMessage(`{"reason":"paused: auth error from sink: 401"}`)},
	} {
		if ok, err := sla.SLABreachOpen(ctx, b); err != nil || !ok {
			t.Fatalf("open %s: %v %v", b.Key, ok, err)
		}
	}
	if _, err := sla.SLABreachResolve(ctx, &store.SLABreachResolveParams{Key: "destination_paused:sink", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}

	r = s.mustRun(t, 0, "sla")
	contains(t, "sla", r.out, "KIND", "SUBJECT", "OPENED", "DETAILS", "deliver_within", "leads",
		"count=12000 oldest=2026-11-29 09:00:00Z (", "ago) threshold=5m0s", "count>=10000 threshold=2")
	if strings.Contains(r.out, "destination_paused") {
		t.Errorf("resolved item listed as open:\n%s", r.out)
	}
	r = s.mustRun(t, 0, "sla", "--status", "all")
	contains(t, "sla --status all", r.out, "deliver_within", "destination_paused", "reason=paused: auth error from sink: 401")

	r = s.mustRun(t, 0, "sla", "--json")
	var answer struct {
		Breaches []struct {
			Key     string          `json:"key"`
			Details json.RawMessage `json:"details"`
		} `json:"breaches"`
	}
	if err := json.Unmarshal([]byte(r.out), &answer); err != nil || len(answer.Breaches) != 2 ||
		answer.Breaches[0].Key+" "+answer.Breaches[1].Key != "sla:sink:queue_depth sla:leads:delivery" && answer.Breaches[0].Key+" "+answer.Breaches[1].Key != "sla:leads:delivery sla:sink:queue_depth" {
		t.Fatalf("sla --json: %v\n%s", err, r.out)
	}

	r = s.mustRun(t, 1, "sla", "--status", "bogus")
	contains(t, "bad status", r.err, "400", "status must be open, resolved or all")
	r = s.runEnv(t, map[string]string{"SLUICE_SERVER": s.url}, "sla")
	if r.code != 1 {
		t.Fatalf("sla without a token: exit %d", r.code)
	}
}
