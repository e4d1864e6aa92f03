package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/id"
)

func init() { extraCommands = append(extraCommands, eventsCmd) }

// eventsCmd is `sluice events`: find an event, see everything that happened
// to it, take it out of the pipeline.
func eventsCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List, inspect and discard captured events",
	}
	addClientFlags(cmd, o, true)

	var lf listFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return listEvents(cmd, env, o, "/v1/events", &lf)
		},
	}
	lf.register(list, true)

	var raw bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one event: record, problems, deliveries, escalations and audit timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showEvent(cmd, env, o, "/v1/events/"+url.PathEscape(args[0]), raw)
		},
	}
	show.Flags().BoolVar(&raw, "raw", false, "also print the body as it was received")

	var reason string
	discard := &cobra.Command{
		Use:   "discard ID --reason R",
		Short: "Take an event out of the pipeline for good; its unconfirmed deliveries are cancelled",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return discardEvent(cmd, env, o, "/v1/events/"+url.PathEscape(args[0])+"/discard", reason)
		},
	}
	discard.Flags().StringVar(&reason, "reason", "", "why (written to the audit log; required)")
	_ = discard.MarkFlagRequired("reason")

	var setJSON string
	var unset []string
	resubmit := &cobra.Command{
		Use:   "resubmit ID field=value ... [--unset F] [--set-json '{...}']",
		Short: "Edit a rejected record and run it through validation and routing again",
		Long: `Edit the record of a rejected event (values as in 'holds patch') and
resubmit it: it is validated and routed by the config in force, as if its
sender had sent it corrected, and becomes held, in delivery or delivered. A
record that is still invalid is refused with the reasons and nothing
changes. The raw body stays as received; the audit log records who edited
which fields ("resubmitted").`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fields := map[string]any{}
			if setJSON != "" || len(args) > 1 || len(unset) == 0 {
				var err error
				if fields, err = patchFields(setJSON, args[1:]); err != nil {
					return err
				}
			}
			for _, name := range unset {
				if strings.TrimSpace(name) == "" {
					return fmt.Errorf("--unset: empty field name")
				}
				fields[name] = nil
			}
			type answer struct {
				Event api.EventJSON `json:"event"`
			}
			path := "/v1/events/" + url.PathEscape(args[0]) + "/resubmit"
			return adminCall(cmd, env, o, http.MethodPost, path, nil, map[string]any{"fields": fields}, func(a answer) error {
				fmt.Fprintf(env.Out, "resubmitted %s: now %s (edited %s)\n", a.Event.ID, a.Event.State, strings.Join(sortedKeys(fields), ", "))
				if m := decodeList(a.Event.Missing); len(m) > 0 && a.Event.State == "held" {
					fmt.Fprintf(env.Out, "missing: %s\n", strings.Join(m, ", "))
				}
				return nil
			})
		},
	}
	resubmit.Flags().StringVar(&setJSON, "set-json", "", "fields as one JSON object")
	resubmit.Flags().StringArrayVar(&unset, "unset", nil, "remove this field from the record (repeatable)")
	cmd.AddCommand(list, show, discard, resubmit)
	return cmd
}

// listFlags filter and page an event list.
type listFlags struct {
	state, source, before string
	limit                 int
}

func (f *listFlags) register(cmd *cobra.Command, withState bool) {
	if withState {
		cmd.Flags().StringVar(&f.state, "state", "", "only this state: rejected, held, delivering, delivered, escalated, discarded")
	}
	cmd.Flags().StringVar(&f.source, "source", "", "only events from this source")
	cmd.Flags().IntVar(&f.limit, "limit", 50, "at most this many (1-1000)")
	cmd.Flags().StringVar(&f.before, "before", "", "only events older than this event ID (next page)")
}

// check refuses flag values the server would silently ignore or match
// nothing with.
func (f *listFlags) check() error {
	if f.before != "" && !id.Valid("evt", f.before) {
		return fmt.Errorf("--before: %q is not an event ID (evt_ and 26 characters, as printed by the previous page)", f.before)
	}
	if f.limit < 1 || f.limit > 1000 {
		return fmt.Errorf("--limit: %d is not from 1 to 1000", f.limit)
	}
	return nil
}

func (f *listFlags) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"state": f.state, "source": f.source, "before": f.before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", strconv.Itoa(f.limit))
	return q
}

func listEvents(cmd *cobra.Command, env *Env, o *clientOpts, path string, f *listFlags) error {
	type answer struct {
		Events []api.EventJSON `json:"events"`
	}
	if err := f.check(); err != nil {
		return err
	}
	return adminCall(cmd, env, o, http.MethodGet, path, f.query(), nil, func(a answer) error {
		if len(a.Events) == 0 {
			fmt.Fprintln(env.Out, "no events")
			return nil
		}
		rows := [][]string{{"ID", "STATE", "SOURCE", "FLOW", "RECORD KEY", "RECEIVED", "MISSING"}}
		for _, e := range a.Events {
			rows = append(rows, []string{e.ID, string(e.State), e.Source, e.Flow, e.RecordKey, fmtTime(e.ReceivedAt), strings.Join(decodeList(e.Missing), ", ")})
		}
		table(env.Out, "", rows)
		if len(a.Events) == f.limit {
			fmt.Fprintf(env.Out, "(more may follow: --before %s)\n", a.Events[len(a.Events)-1].ID)
		}
		return nil
	})
}

func showEvent(cmd *cobra.Command, env *Env, o *clientOpts, path string, raw bool) error {
	return adminCall(cmd, env, o, http.MethodGet, path, nil, nil, func(d api.EventDetail) error {
		renderEventDetail(env.Out, &d, raw)
		return nil
	})
}

// renderEventDetail prints what an operator needs to decide about one
// event, in the order they ask: what is it, what is wrong with it, where
// did it go, what is open, what happened when.
func renderEventDetail(w io.Writer, d *api.EventDetail, raw bool) {
	renderEventHeader(w, &d.Event)

	if len(d.Event.Record) > 0 && string(d.Event.Record) != "null" {
		fmt.Fprintln(w, "\nRecord")
		fmt.Fprintln(w, indentJSON(d.Event.Record, "  "))
	}
	if probs, ok := decodeProblems(d.Event.Errors); !ok {
		fmt.Fprintln(w, "\nErrors")
		fmt.Fprintln(w, indentJSON(d.Event.Errors, "  "))
	} else if len(probs) > 0 {
		fmt.Fprintln(w, "\nErrors")
		for _, p := range probs {
			fmt.Fprintf(w, "  %s: %s\n", p.Field, p.Message)
		}
	}
	if raw && d.Event.Raw != "" {
		fmt.Fprintln(w, "\nReceived body")
		fmt.Fprintln(w, indentJSON(json.RawMessage(d.Event.Raw), "  "))
	}

	fmt.Fprintln(w, "\nDeliveries")
	if len(d.Deliveries) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		rows := [][]string{{"ROUTE", "DESTINATION", "STATE", "ATTEMPTS", "NEXT", "EXTERNAL ID", "LAST STATUS", "LAST ERROR"}}
		for _, x := range d.Deliveries {
			state := x.State
			if x.Ambiguous {
				state += " (ambiguous)"
			}
			next := "-"
			if x.State == "pending" || x.State == "waiting" {
				// next_at of a finished delivery is stale, not a plan.
				next = fmtTime(x.NextAt)
			}
			rows = append(rows, []string{x.Route, x.Destination, string(state), strconv.Itoa(x.Attempts), next, x.ExternalID, itoaOrDash(x.LastStatus), x.LastError})
		}
		table(w, "  ", rows)
	}

	if len(d.Escalations) > 0 {
		fmt.Fprintln(w, "\nEscalations")
		renderEscalationTable(w, "  ", d.Escalations)
	}

	fmt.Fprintln(w, "\nTimeline")
	if len(d.Timeline) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	rows := [][]string{{"TIME", "ACTOR", "ACTION", "ROUTE", "OUTCOME", "STATUS", "MESSAGE"}}
	for _, a := range d.Timeline {
		route := a.Route
		if a.Attempt > 0 {
			route += fmt.Sprintf(" #%d", a.Attempt)
		}
		rows = append(rows, []string{fmtTime(a.At), a.Actor, a.Action, route, a.Outcome, itoaOrDash(a.Status), a.Message})
	}
	table(w, "  ", rows)
}

func renderEventHeader(w io.Writer, e *api.EventJSON) {
	rows := [][]string{
		{"Event", e.ID},
		{"State", string(e.State)},
		{"Source", e.Source + " (flow " + e.Flow + ")"},
		{"Record key", e.RecordKey},
		{"Received", fmtTime(e.ReceivedAt)},
		{"Updated", fmtTime(e.UpdatedAt)},
	}
	if e.ConfigVersion != "" {
		rows = append(rows, []string{"Config", e.ConfigVersion})
	}
	if !e.HoldUntil.IsZero() {
		rows = append(rows, []string{"Hold until", fmtTime(e.HoldUntil)})
	}
	if m := decodeList(e.Missing); len(m) > 0 {
		rows = append(rows, []string{"Missing", strings.Join(m, ", ")})
	}
	for i := range rows {
		rows[i][0] += ":"
	}
	table(w, "", rows)
}

// decodeProblems reads an event's errors column. ok is false when it is not
// the [{field, message}] shape, so the caller shows it verbatim instead of
// hiding it.
func decodeProblems(raw json.RawMessage) (probs []FieldError, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	if err := json.Unmarshal(raw, &probs); err != nil {
		return nil, false
	}
	return probs, true
}

func discardEvent(cmd *cobra.Command, env *Env, o *clientOpts, path, reason string) error {
	type answer struct {
		Event api.EventJSON `json:"event"`
	}
	return adminCall(cmd, env, o, http.MethodPost, path, nil, map[string]string{"reason": reason}, func(a answer) error {
		fmt.Fprintf(env.Out, "event %s is %s\n", a.Event.ID, a.Event.State)
		return nil
	})
}
