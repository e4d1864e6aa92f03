package cli

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/control"
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
			type answer struct {
				Findings []control.DriftFinding `json:"findings"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/drift", nil, nil, func(a answer) error {
				if len(a.Findings) == 0 {
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
