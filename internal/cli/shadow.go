package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/shadow"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storepg"
	"github.com/sluicehq/sluice/internal/store/storesqlite"
)

// shadowOpts are the flags of `sluice check --against N`.
type shadowOpts struct {
	against int
	store   string
	client  clientOpts
}

func addShadowFlags(cmd *cobra.Command, o *shadowOpts) {
	f := cmd.Flags()
	f.IntVar(&o.against, "against", 0, "shadow run: judge the last N stored events with this config and print what would change (exit 1 if anything would)")
	f.StringVar(&o.store, "store", "", "with --against: read events from this store, opened read-only (a SQLite path or postgres:// URL; default: the config's store unless --server is given)")
	f.StringVar(&o.client.server, "server", "", "with --against: read events from a running Sluice's admin API instead of a store")
	f.StringVar(&o.client.token, "token", "", "with --server: admin API token (default $SLUICE_TOKEN)")
}

// runShadow is the shadow run: it reads the last N events read-only,
// judges them with the candidate config c and prints what would change.
// Exit status: 0 nothing would change, 1 something would, 2 usage or
// store errors.
func runShadow(cmd *cobra.Command, env *Env, c *config.Config, o *shadowOpts) error {
	usage := func(format string, args ...any) error {
		fmt.Fprintf(env.Err, format+"\n", args...)
		return &ExitError{Code: 2}
	}
	if o.against < 1 {
		return usage("--against must be a positive number of events")
	}
	if o.client.server != "" && o.store != "" {
		return usage("--server and --store exclude each other: read events from one")
	}
	plan, err := pipeline.Compile(c)
	if err != nil {
		return usage("%v", err)
	}
	var events []shadow.Stored
	var from string
	if o.client.server != "" {
		o.client.timeout = defaultTimeout
		cl, err := o.client.client(env)
		if err != nil {
			return usage("%v", err)
		}
		from = cl.URL("")
		events, err = eventsFromServer(cmd.Context(), cl, o.against)
		if err != nil {
			return usage("read events from %s: %v", from, err)
		}
	} else {
		target := o.store
		if target == "" {
			target = c.Store
		}
		from = target
		events, err = eventsFromStore(cmd.Context(), target, o.against)
		if err != nil {
			return usage("read events: %v", err)
		}
	}
	fmt.Fprintf(env.Out, "shadow run over the last %d events of %s (read-only; nothing is written or sent)\n", len(events), redactURL(from))
	rep := shadow.Run(plan, events)
	rep.Write(env.Out)
	if rep.Changed() {
		return &ExitError{Code: 1}
	}
	return nil
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// eventsFromStore opens the store read-only (SQLite mode=ro, PostgreSQL
// read-only transactions) and reads the newest n events with their
// deliveries, newest first.
func eventsFromStore(ctx context.Context, target string, n int) ([]shadow.Stored, error) {
	kind, t := (&config.Config{Store: target}).StoreKind()
	var drv store.Driver
	var err error
	switch kind {
	case "sqlite":
		drv, err = storesqlite.OpenReadOnly(ctx, t)
	case "postgres":
		drv, err = storepg.OpenReadOnly(ctx, t)
	default:
		err = fmt.Errorf("store %s is not supported", kind)
	}
	if err != nil {
		return nil, err
	}
	defer drv.Close()
	ex := drv.Executor()
	var out []shadow.Stored
	before := ""
	for len(out) < n {
		evs, err := ex.EventList(ctx, &store.EventListParams{BeforeID: before, Limit: min(n-len(out), 500)})
		if err != nil {
			return nil, err
		}
		for _, sum := range evs {
			// Lists carry summaries; the body and record come with the event.
			ev, err := ex.EventGetByID(ctx, sum.ID)
			if err != nil {
				return nil, err
			}
			ds, err := ex.DeliveryListByEvent(ctx, ev.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, shadow.Stored{Event: ev, Deliveries: ds})
		}
		if len(evs) == 0 {
			break
		}
		before = evs[len(evs)-1].ID
	}
	return out, nil
}

// eventsFromServer reads the newest n events through the admin API: the
// list, then each event's detail (its body and deliveries).
func eventsFromServer(ctx context.Context, cl *Client, n int) ([]shadow.Stored, error) {
	var out []shadow.Stored
	before := ""
	for len(out) < n {
		q := url.Values{"limit": {strconv.Itoa(min(n-len(out), 1000))}}
		if before != "" {
			q.Set("before", before)
		}
		raw, err := cl.Admin(ctx, http.MethodGet, "/v1/events", q, nil)
		if err != nil {
			return nil, err
		}
		var list struct {
			Events []api.EventJSON `json:"events"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("decode event list: %w", err)
		}
		for _, e := range list.Events {
			raw, err := cl.Admin(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(e.ID), nil, nil)
			if err != nil {
				return nil, err
			}
			var d api.EventDetail
			if err := json.Unmarshal(raw, &d); err != nil {
				return nil, fmt.Errorf("decode event %s: %w", e.ID, err)
			}
			s := shadow.Stored{Event: &store.Event{ID: d.Event.ID, Source: d.Event.Source, Flow: d.Event.Flow, State: d.Event.State,
				ContentType: d.Event.ContentType, Raw: []byte(d.Event.Raw), Canonical: d.Event.Record, ConfigVersion: d.Event.ConfigVersion}}
			if s.Event.ContentType == "" {
				return nil, errors.New("the server does not send event content types; upgrade it or use --store")
			}
			for _, x := range d.Deliveries {
				s.Deliveries = append(s.Deliveries, &store.Delivery{ID: x.ID, EventID: d.Event.ID, Route: x.Route, Destination: x.Destination, State: x.State, Payload: x.Payload, FallbackFor: x.FallbackFor})
			}
			out = append(out, s)
		}
		if len(list.Events) == 0 {
			break
		}
		before = list.Events[len(list.Events)-1].ID
	}
	return out, nil
}
