package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/version"
)

func init() { extraCommands = append(extraCommands, versionCmd) }

func versionCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the build: version, commit, commit time, Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := version.Get()
			if asJSON {
				b, _ := json.Marshal(in)
				fmt.Fprintln(env.Out, string(b))
				return nil
			}
			fmt.Fprintln(env.Out, in.String())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
