package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/ticket"
)

// ticketCommands are the ticket verbs of `sluice escalations`: an
// escalation is worked as a ticket (owner, acknowledgement, due time,
// notes), fixed and retried, or settled in bulk. They live under
// `escalations` rather than a `tickets` command of their own because a
// ticket is an escalation (same ID, same inbox): one noun keeps list, show,
// retry, resolve and discard next to assign, ack and note, and the
// subcommands share the group's --server/--token flags.
func ticketCommands(env *Env, o *clientOpts) []*cobra.Command {
	var tf ticketListFlags
	tickets := &cobra.Command{
		Use:   "tickets",
		Short: "List escalations as tickets: owner, acknowledgement, due time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := tf.query()
			if err != nil {
				return err
			}
			type answer struct {
				Tickets []api.TicketJSON `json:"tickets"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/tickets", q, nil, func(a answer) error {
				if len(a.Tickets) == 0 {
					fmt.Fprintln(env.Out, "no tickets")
					return nil
				}
				renderTicketTable(env.Out, a.Tickets)
				return nil
			})
		},
	}
	tf.register(tickets)

	show := &cobra.Command{
		Use:   "ticket ID",
		Short: "Show an escalation as a ticket, with its notes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ticketAction(cmd, env, o, http.MethodGet, args[0], "", nil, "")
		},
	}

	var clear bool
	assign := &cobra.Command{
		Use:   "assign ID OWNER | --clear",
		Short: "Give an open escalation to someone (or to nobody with --clear)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			owner := ""
			switch {
			case clear && len(args) == 1:
			case !clear && len(args) == 2:
				owner = args[1]
			default:
				return fmt.Errorf("give an OWNER or --clear, not both or neither")
			}
			return ticketAction(cmd, env, o, http.MethodPost, args[0], "/assign", map[string]string{"owner": owner}, "assigned")
		},
	}
	assign.Flags().BoolVar(&clear, "clear", false, "un-assign")

	ack := &cobra.Command{
		Use:   "ack ID",
		Short: "Acknowledge an escalation: you are on it (and own it if nobody did)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ticketAction(cmd, env, o, http.MethodPost, args[0], "/ack", nil, "acknowledged")
		},
	}

	note := &cobra.Command{
		Use:   "note ID TEXT...",
		Short: "Add a note to an escalation's ticket (notes are never edited)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			text := strings.Join(args[1:], " ")
			return ticketAction(cmd, env, o, http.MethodPost, args[0], "/notes", map[string]string{"text": text}, "noted")
		},
	}

	var setJSON string
	var unset []string
	patch := &cobra.Command{
		Use:   "patch-retry ID field=value ... [--set-json '{...}'] [--unset field]",
		Short: "Fix fields of the refused payload and send it again",
		Long: `Change fields of the escalated delivery's payload (the record as mapped
to the destination's format) and retry it. Values are parsed as JSON when
they parse (42, true, {"a":1}) and taken as strings otherwise; dotted names
reach into nested objects; --unset removes a field. Only the field names are
written to the audit log and the ticket's notes.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fields := map[string]any{}
			if setJSON != "" || len(args) > 1 {
				f, err := patchFields(setJSON, args[1:])
				if err != nil {
					return err
				}
				fields = f
			}
			for _, k := range unset {
				fields[k] = nil
			}
			if len(fields) == 0 {
				return fmt.Errorf("nothing to patch: give field=value arguments, --set-json or --unset")
			}
			return ticketAction(cmd, env, o, http.MethodPost, args[0], "/patch-retry", map[string]any{"fields": fields}, "patched and retried")
		},
	}
	patch.Flags().StringVar(&setJSON, "set-json", "", "fields as one JSON object")
	patch.Flags().StringArrayVar(&unset, "unset", nil, "remove this field (repeatable)")

	return []*cobra.Command{tickets, show, assign, ack, note, patch, bulkCmd(env, o)}
}

// ticketListFlags are the filters of `escalations tickets`.
type ticketListFlags struct {
	status, kind, destination, source, owner, createdAfter, createdBefore string
	overdue                                                               bool
	limit                                                                 int
}

func (f *ticketListFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.status, "status", "", "only this status: open, resolved, discarded")
	fl.StringVar(&f.kind, "kind", "", "only this kind (permanent_error, retries_exhausted, hold_expired, ...)")
	fl.StringVar(&f.destination, "destination", "", "only escalated deliveries to this destination")
	fl.StringVar(&f.source, "source", "", "only events from this source")
	fl.StringVar(&f.owner, "owner", "", "only tickets this person owns")
	fl.StringVar(&f.createdAfter, "created-after", "", "opened at or after: RFC 3339 time, or a duration ago (24h)")
	fl.StringVar(&f.createdBefore, "created-before", "", "opened before: RFC 3339 time, or a duration ago")
	fl.BoolVar(&f.overdue, "overdue", false, "only open tickets past their due time")
	fl.IntVar(&f.limit, "limit", 50, "at most this many (1-1000)")
}

func (f *ticketListFlags) query() (url.Values, error) {
	q := url.Values{"limit": {strconv.Itoa(f.limit)}}
	for k, v := range map[string]string{"status": f.status, "kind": f.kind, "destination": f.destination, "source": f.source, "owner": f.owner} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for name, v := range map[string]string{"created_after": f.createdAfter, "created_before": f.createdBefore} {
		t, err := parseWhen(v, time.Now())
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", strings.ReplaceAll(name, "_", "-"), err)
		}
		if !t.IsZero() {
			q.Set(name, t.Format(time.RFC3339))
		}
	}
	if f.overdue {
		q.Set("overdue", "true")
	}
	return q, nil
}

// parseWhen reads an RFC 3339 time or a duration before now ("24h", "90m");
// empty is the zero time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC().Truncate(time.Second), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration ago (24h)", s)
}

func ticketAction(cmd *cobra.Command, env *Env, o *clientOpts, method, id, verb string, body any, done string) error {
	type answer struct {
		Ticket api.TicketJSON `json:"ticket"`
	}
	path := "/v1/tickets/" + url.PathEscape(id) + verb
	return adminCall(cmd, env, o, method, path, nil, body, func(a answer) error {
		if done != "" {
			fmt.Fprintf(env.Out, "%s %s\n", done, a.Ticket.ID)
		}
		renderTicket(env.Out, &a.Ticket)
		return nil
	})
}

func dueText(t *api.TicketJSON) string {
	s := fmtTime(t.DueAt)
	if t.Overdue {
		s += " (overdue)"
	}
	return s
}

func renderTicketTable(w io.Writer, ts []api.TicketJSON) {
	rows := [][]string{{"ID", "EVENT", "KIND", "DESTINATION", "STATUS", "OWNER", "ACK", "DUE", "REASON"}}
	for i := range ts {
		t := &ts[i]
		ack := ""
		if !t.AcknowledgedAt.IsZero() {
			ack = "yes"
		}
		rows = append(rows, []string{t.ID, t.EventID, t.Kind, t.Destination, t.Status, t.Owner, ack, dueText(t), truncate(t.Reason, 60)})
	}
	table(w, "", rows)
}

func renderTicket(w io.Writer, t *api.TicketJSON) {
	renderEscalation(w, &t.EscalationJSON)
	acked := "-"
	if !t.AcknowledgedAt.IsZero() {
		acked = fmtTime(t.AcknowledgedAt) + " by " + t.AcknowledgedBy
	}
	table(w, "", [][]string{
		{"Source:", t.Source},
		{"Destination:", t.Destination},
		{"Owner:", t.Owner},
		{"Acknowledged:", acked},
		{"Due:", dueText(t)},
	})
	if len(t.Notes) == 0 {
		return
	}
	fmt.Fprintln(w, "\nNotes")
	rows := [][]string{{"TIME", "ACTOR", "TEXT"}}
	for _, n := range t.Notes {
		rows = append(rows, []string{fmtTime(n.At), n.Actor, n.Text})
	}
	table(w, "  ", rows)
}

// bulkCmd is `sluice escalations bulk ACTION`: one action over every
// escalation a filter selects. It is a dry run unless --apply is given, so
// the first run always shows what would happen.
func bulkCmd(env *Env, o *clientOpts) *cobra.Command {
	var filter ticket.Filter
	var after, before, note, reason string
	var apply bool
	cmd := &cobra.Command{
		Use:   "bulk retry|rerender|resolve|discard [filters] [--apply]",
		Short: "Retry, re-render, resolve or discard every escalation a filter selects (dry run unless --apply)",
		Long: `Select escalations by status (default open), kind, destination, failure
group (--group, from "sluice escalations groups"), event source and creation
time, and retry, rerender (render again with the current config, then
retry), resolve (--note) or discard (--reason) all of them. Without --apply nothing changes: the answer says how many and
which escalations would be affected and which would be skipped, and why.
Each escalation is audited as if done one by one, plus one summary entry.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{ticket.BulkRetry, ticket.BulkRerender, ticket.BulkResolve, ticket.BulkDiscard},
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			var err error
			if filter.CreatedAfter, err = parseWhen(after, now); err != nil {
				return fmt.Errorf("--created-after: %w", err)
			}
			if filter.CreatedBefore, err = parseWhen(before, now); err != nil {
				return fmt.Errorf("--created-before: %w", err)
			}
			action := args[0]
			switch action {
			case ticket.BulkResolve:
				if strings.TrimSpace(note) == "" {
					return fmt.Errorf("bulk resolve needs --note: how they were settled")
				}
			case ticket.BulkDiscard:
				if strings.TrimSpace(reason) == "" {
					return fmt.Errorf("bulk discard needs --reason")
				}
			}
			body := api.BulkRequest{Action: action, Filter: filter, Note: note, Reason: reason, DryRun: !apply}
			return adminCall(cmd, env, o, http.MethodPost, "/v1/tickets/bulk", nil, body, func(res ticket.BulkResult) error {
				renderBulk(env.Out, &res)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&filter.Status, "status", "", "only this status (default open)")
	fl.StringVar(&filter.Kind, "kind", "", "only this kind (permanent_error, retries_exhausted, hold_expired, ...)")
	fl.StringVar(&filter.Destination, "destination", "", "only escalated deliveries to this destination")
	fl.StringVar(&filter.Source, "source", "", "only events from this source")
	fl.StringVar(&filter.Group, "group", "", "only this failure group (an ID from 'sluice escalations groups')")
	fl.StringVar(&after, "created-after", "", "opened at or after: RFC 3339 time, or a duration ago (24h)")
	fl.StringVar(&before, "created-before", "", "opened before: RFC 3339 time, or a duration ago")
	fl.StringVar(&note, "note", "", "resolve: how they were settled (audited)")
	fl.StringVar(&reason, "reason", "", "discard: why (audited)")
	fl.BoolVar(&apply, "apply", false, "do it; without this flag the command is a dry run")
	return cmd
}

func renderBulk(w io.Writer, res *ticket.BulkResult) {
	filter := res.Filter
	if filter == "" {
		filter = "(none)"
	}
	if res.DryRun {
		fmt.Fprintf(w, "dry run: %s would affect %d of %d matching escalations (%d skipped); filter: %s\n",
			res.Action, res.Affected, res.Matched, res.Skipped, filter)
	} else {
		fmt.Fprintf(w, "%s: %d of %d matching escalations done, %d skipped, %d failed; filter: %s\n",
			res.Action, res.Affected, res.Matched, res.Skipped, res.Failed, filter)
	}
	if len(res.Items) > 0 {
		rows := [][]string{{"ID", "EVENT", "KIND", "DESTINATION", "OUTCOME", "REASON"}}
		for _, it := range res.Items {
			rows = append(rows, []string{it.ID, it.EventID, it.Kind, it.Destination, it.Outcome, it.Reason})
		}
		table(w, "", rows)
	}
	if res.DryRun && res.Affected > 0 {
		fmt.Fprintln(w, "nothing changed; run again with --apply to do it")
	}
}
