package cli

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/control"
)

func init() { extraCommands = append(extraCommands, consistencyCmd) }

// consistencyCmd is `sluice consistency check`: read delivered records back
// from the destinations and compare them with what Sluice wrote.
func consistencyCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{Use: "consistency", Short: "Compare delivered records with what the destinations hold now"}
	addClientFlags(cmd, o, true)
	var dest string
	var sample int
	var dry bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Read records back and open reconciliation tasks for differences",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"destination": dest, "sample": sample, "dry_run": dry}
			type rep struct {
				control.DestinationReport
				Ratio float64 `json:"ratio"`
			}
			type answer struct {
				Destinations []rep `json:"destinations"`
			}
			return adminCall(cmd, env, o, http.MethodPost, "/v1/consistency/check", nil, body, func(a answer) error {
				rows := [][]string{{"DESTINATION", "CHECKED", "CONSISTENT", "RATIO", "LOOKUP ERRORS", "NOTE"}}
				for _, r := range a.Destinations {
					rows = append(rows, []string{r.Destination, strconv.Itoa(r.Checked), strconv.Itoa(r.Consistent),
						fmt.Sprintf("%.3f", r.Ratio), strconv.Itoa(r.Errors), r.Skipped})
				}
				table(env.Out, "", rows)
				var found [][]string
				for _, r := range a.Destinations {
					for _, f := range r.Findings {
						what := "missing"
						if !f.Missing {
							what = ""
							for _, d := range f.Differences {
								what += fmt.Sprintf("%s: wrote %v, found %v; ", d.Field, d.Wrote, d.Found)
							}
						}
						found = append(found, []string{f.Destination, f.RecordKey, f.EventID, f.Task, what})
					}
				}
				if len(found) > 0 {
					fmt.Fprintln(env.Out, "\nDifferences (see `sluice reconciliations list`):")
					table(env.Out, "", append([][]string{{"DESTINATION", "RECORD", "EVENT", "TASK", "WHAT"}}, found...))
				}
				return nil
			})
		},
	}
	check.Flags().StringVar(&dest, "destination", "", "check only this destination")
	check.Flags().IntVar(&sample, "sample", 0, "check at most this many records per destination (0: all)")
	check.Flags().BoolVar(&dry, "dry-run", false, "report differences without opening tasks")
	cmd.AddCommand(check)
	return cmd
}
