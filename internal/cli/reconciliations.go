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
	"github.com/sluicehq/sluice/internal/pipeline"
)

func init() { extraCommands = append(extraCommands, reconciliationsCmd) }

// reconciliationsCmd is `sluice reconciliations`: events whose record landed
// in some destinations and not in others, and the two ways to settle them.
func reconciliationsCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:     "reconciliations",
		Aliases: []string{"recon"},
		Short:   "List and settle partial successes: retry the missing destinations or resolve",
	}
	addClientFlags(cmd, o, true)

	var status string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List reconciliation tasks, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if status != "" {
				q.Set("status", status)
			}
			type answer struct {
				Reconciliations []api.ReconciliationJSON `json:"reconciliations"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/reconciliations", q, nil, func(a answer) error {
				if len(a.Reconciliations) == 0 {
					fmt.Fprintln(env.Out, "no reconciliation tasks")
					return nil
				}
				rows := [][]string{{"ID", "EVENT", "STATUS", "CREATED", "IN", "MISSING FROM"}}
				for _, r := range a.Reconciliations {
					in, missing := whereIs(r)
					rows = append(rows, []string{r.ID, r.EventID, r.Status, fmtTime(r.CreatedAt), in, missing})
				}
				table(env.Out, "", rows)
				return nil
			})
		},
	}
	list.Flags().StringVar(&status, "status", "", "only this status: open, resolved")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many (1-1000)")

	action := func(method, id, verb string, body any) func(cmd *cobra.Command) error {
		return func(cmd *cobra.Command) error {
			type answer struct {
				Reconciliation api.ReconciliationJSON `json:"reconciliation"`
			}
			path := "/v1/reconciliations/" + url.PathEscape(id) + verb
			return adminCall(cmd, env, o, method, path, nil, body, func(a answer) error {
				renderReconciliation(env.Out, &a.Reconciliation)
				return nil
			})
		}
	}
	show := &cobra.Command{
		Use: "show ID", Short: "Show what is where for one task", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return action(http.MethodGet, args[0], "", nil)(cmd) },
	}
	retry := &cobra.Command{
		Use: "retry ID", Short: "Send the record again to the destinations it is missing from", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return action(http.MethodPost, args[0], "/retry", nil)(cmd)
		},
	}
	var note string
	resolve := &cobra.Command{
		Use: "resolve ID --note N", Short: "Mark a task settled by hand, saying how", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return action(http.MethodPost, args[0], "/resolve", map[string]string{"note": note})(cmd)
		},
	}
	resolve.Flags().StringVar(&note, "note", "", "how it was settled (written to the audit log; required)")
	_ = resolve.MarkFlagRequired("note")
	cmd.AddCommand(list, show, retry, resolve)
	return cmd
}

func whereIs(r api.ReconciliationJSON) (in, missing string) {
	var s pipeline.ReconciliationSummary
	_ = json.Unmarshal(r.Summary, &s)
	var a, b []string
	for _, l := range s.Landed {
		a = append(a, l.Destination)
	}
	for _, m := range s.Missing {
		b = append(b, m.Destination)
	}
	return strings.Join(a, ","), strings.Join(b, ",")
}

func renderReconciliation(w io.Writer, r *api.ReconciliationJSON) {
	var s pipeline.ReconciliationSummary
	_ = json.Unmarshal(r.Summary, &s)
	table(w, "", [][]string{
		{"Reconciliation:", r.ID}, {"Status:", r.Status}, {"Event:", r.EventID}, {"Record key:", s.RecordKey},
		{"Created:", fmtTime(r.CreatedAt)}, {"Settled by:", r.Actor}, {"Note:", r.Note},
	})
	rows := [][]string{{"", "ROUTE", "DESTINATION", "STATE", "EXTERNAL ID", "LAST ERROR"}}
	for _, l := range s.Landed {
		rows = append(rows, []string{"in", l.Route, l.Destination, string(l.State), l.ExternalID, l.LastError})
	}
	for _, m := range s.Missing {
		rows = append(rows, []string{"missing", m.Route, m.Destination, string(m.State), m.ExternalID, m.LastError})
	}
	fmt.Fprintln(w)
	table(w, "", rows)
	if len(s.Suggested) > 0 {
		fmt.Fprintln(w, "\nSuggested:")
		for _, x := range s.Suggested {
			fmt.Fprintln(w, "  -", x)
		}
	}
}
