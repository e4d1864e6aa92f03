package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
)

func init() { extraCommands = append(extraCommands, escalationsCmd) }

// escalationsCmd is `sluice escalations`: deliveries and holds that need a
// person, and the three ways to settle them.
func escalationsCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "escalations",
		Short: "List and settle escalations: retry, resolve or discard",
	}
	addClientFlags(cmd, o, true)

	var status, kind, destination, group, source string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List escalations, newest first, with their destination and failure group",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			for k, v := range map[string]string{"status": status, "kind": kind, "destination": destination, "group": group, "source": source} {
				if v != "" {
					q.Set(k, v)
				}
			}
			type answer struct {
				Escalations []api.EscalationJSON `json:"escalations"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/escalations", q, nil, func(a answer) error {
				if len(a.Escalations) == 0 {
					fmt.Fprintln(env.Out, "no escalations")
					return nil
				}
				renderEscalationTable(env.Out, "", a.Escalations)
				return nil
			})
		},
	}
	list.Flags().StringVar(&status, "status", "", "only this status: open, resolved, discarded")
	list.Flags().StringVar(&kind, "kind", "", "only this kind (permanent_error, drift_error, retries_exhausted, hold_expired, ...)")
	list.Flags().StringVar(&destination, "destination", "", "only escalated deliveries to this destination")
	list.Flags().StringVar(&group, "group", "", "only this failure group (see 'escalations groups')")
	list.Flags().StringVar(&source, "source", "", "only events from this source")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many (1-1000)")

	var groupStatus, groupDest string
	groups := &cobra.Command{
		Use:   "groups",
		Short: "Identical failures grouped: same destination, kind, platform status and code",
		Long: `Escalations that failed the same way (same destination, kind, platform HTTP
status and platform error code) form one group, largest first, with a
count, when the first opened and the last changed, the error, and sample
escalations. Act on a whole group with:

  sluice escalations bulk retry|rerender|resolve|discard --group ID [--apply]`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if groupStatus != "" {
				q.Set("status", groupStatus)
			}
			if groupDest != "" {
				q.Set("destination", groupDest)
			}
			type answer struct {
				Groups []api.GroupJSON `json:"groups"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/escalation-groups", q, nil, func(a answer) error {
				if len(a.Groups) == 0 {
					fmt.Fprintln(env.Out, "no failure groups")
					return nil
				}
				rows := [][]string{{"GROUP", "COUNT", "FIRST SEEN", "LAST SEEN", "SAMPLES", "ERROR"}}
				for _, g := range a.Groups {
					var samples []string
					for _, s := range g.Samples {
						samples = append(samples, s.EscalationID)
					}
					rows = append(rows, []string{g.ID, strconv.Itoa(g.Count), fmtTime(g.FirstSeen), fmtTime(g.LastSeen), strings.Join(samples, " "), g.Error})
				}
				table(env.Out, "", rows)
				return nil
			})
		},
	}
	groups.Flags().StringVar(&groupStatus, "status", "", "escalations of this status (default open)")
	groups.Flags().StringVar(&groupDest, "destination", "", "only groups of this destination")

	rerender := &cobra.Command{
		Use:   "rerender ID",
		Short: "Render the escalated delivery again with the current config and retry it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return escalationAction(cmd, env, o, http.MethodPost, args[0], "/rerender", nil)
		},
	}

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one escalation in full",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return escalationAction(cmd, env, o, http.MethodGet, args[0], "", nil)
		},
	}
	retry := &cobra.Command{
		Use:   "retry ID",
		Short: "Send the escalated delivery again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return escalationAction(cmd, env, o, http.MethodPost, args[0], "/retry", nil)
		},
	}
	var note string
	resolve := &cobra.Command{
		Use:   "resolve ID --note N",
		Short: "Mark an escalation settled by hand, saying how",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return escalationAction(cmd, env, o, http.MethodPost, args[0], "/resolve", map[string]string{"note": note})
		},
	}
	resolve.Flags().StringVar(&note, "note", "", "how it was settled (written to the audit log; required)")
	_ = resolve.MarkFlagRequired("note")
	var reason string
	discard := &cobra.Command{
		Use:   "discard ID --reason R",
		Short: "Give up on an escalation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return escalationAction(cmd, env, o, http.MethodPost, args[0], "/discard", map[string]string{"reason": reason})
		},
	}
	discard.Flags().StringVar(&reason, "reason", "", "why (written to the audit log; required)")
	_ = discard.MarkFlagRequired("reason")

	cmd.AddCommand(list, groups, show, retry, rerender, resolve, discard)
	cmd.AddCommand(ticketCommands(env, o)...) // tickets.go: assign, ack, note, patch-retry, bulk
	return cmd
}

func escalationAction(cmd *cobra.Command, env *Env, o *clientOpts, method, id, verb string, body any) error {
	type answer struct {
		Escalation api.EscalationJSON `json:"escalation"`
	}
	path := "/v1/escalations/" + url.PathEscape(id) + verb
	return adminCall(cmd, env, o, method, path, nil, body, func(a answer) error {
		if verb == "/retry" || verb == "/rerender" {
			// The answer is the escalation the retry closed; a new one
			// opens if the delivery fails again.
			fmt.Fprintf(env.Out, "retry requested; watch with: sluice events show %s\n", a.Escalation.EventID)
		}
		renderEscalation(env.Out, &a.Escalation)
		return nil
	})
}

func renderEscalationTable(w io.Writer, indent string, escs []api.EscalationJSON) {
	rows := [][]string{{"ID", "EVENT", "DESTINATION", "KIND", "STATUS", "GROUP", "CREATED", "LAST ERROR"}}
	for _, e := range escs {
		rows = append(rows, []string{e.ID, e.EventID, e.Destination, e.Kind, e.Status, e.Group, fmtTime(e.CreatedAt), e.LastError})
	}
	table(w, indent, rows)
}

func renderEscalation(w io.Writer, e *api.EscalationJSON) {
	rows := [][]string{
		{"Escalation:", e.ID},
		{"Status:", e.Status},
		{"Kind:", e.Kind},
		{"Event:", e.EventID},
		{"Delivery:", e.DeliveryID},
		{"Destination:", e.Destination},
		{"Group:", e.Group},
		{"Reason:", e.Reason},
		{"Last status:", itoaOrDash(e.LastStatus)},
		{"Last error:", e.LastError},
		{"Created:", fmtTime(e.CreatedAt)},
		{"Updated:", fmtTime(e.UpdatedAt)},
	}
	if e.Actor != "" || e.Note != "" {
		rows = append(rows, []string{"Settled by:", e.Actor}, []string{"Note:", e.Note})
	}
	table(w, "", rows)
	if len(e.Payload) > 0 {
		fmt.Fprintln(w, "Payload:")
		for _, l := range prettyLines(e.Payload) {
			fmt.Fprintln(w, "  "+l)
		}
	}
}
