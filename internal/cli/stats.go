package cli

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, statsCmd) }

// statsCmd is `sluice stats`: how much work sits in each state, the first
// look when something seems stuck.
func statsCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count events and deliveries by state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			type answer struct {
				Events     map[string]int64 `json:"events"`
				Deliveries map[string]int64 `json:"deliveries"`
				Store      string           `json:"store"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/stats", nil, nil, func(a answer) error {
				for _, part := range []struct {
					title  string
					counts map[string]int64
				}{{"Events", a.Events}, {"Deliveries", a.Deliveries}} {
					var total int64
					rows := [][]string{}
					for _, s := range sortedStates(part.counts) {
						rows = append(rows, []string{s, fmt.Sprint(part.counts[s])})
						total += part.counts[s]
					}
					fmt.Fprintf(env.Out, "%s: %d\n", part.title, total)
					table(env.Out, "  ", rows)
				}
				if a.Store != "" {
					fmt.Fprintf(env.Out, "Store: %s\n", a.Store)
				}
				return nil
			})
		},
	}
	addClientFlags(cmd, o, true)
	return cmd
}
