package cli

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
)

func init() { extraCommands = append(extraCommands, driftCmd) }

// driftCmd is `sluice drift`: fields of a source's payloads that are new,
// gone, retyped or renamed against what the source used to send.
func driftCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "Show source-side schema drift: new, missing, retyped and renamed fields",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminCall(cmd, env, o, http.MethodGet, "/v1/drift", nil, nil, func(a api.DriftAnswer) error {
				if t, err := time.Parse(time.RFC3339, a.ComputedAt); err == nil {
					fmt.Fprintf(env.Out, "computed at %s\n", fmtTime(t))
				}
				var learning []string
				for _, b := range a.Baselines {
					if b.Learning {
						learning = append(learning, fmt.Sprintf("%s (%d of %d payloads)", b.Source, b.Learned, b.Needed))
					}
				}
				if len(learning) > 0 {
					fmt.Fprintf(env.Out, "still learning the baseline, not judged yet: %s\n", strings.Join(learning, ", "))
				}
				if len(a.Findings) == 0 {
					if len(learning) == len(a.Baselines) && len(learning) > 0 {
						fmt.Fprintln(env.Out, "no drift found yet: every source is still learning")
						return nil
					}
					fmt.Fprintln(env.Out, "no drift: payloads match what each source has been sending")
					return nil
				}
				rows := [][]string{{"SOURCE", "KIND", "FIELD", "SINCE", "DETAIL"}}
				for _, f := range a.Findings {
					rows = append(rows, []string{f.Source, f.Kind, f.Field, fmtTime(f.Since), f.Detail})
				}
				table(env.Out, "", rows)
				return nil
			})
		},
	}
	addClientFlags(cmd, o, true)
	return cmd
}
