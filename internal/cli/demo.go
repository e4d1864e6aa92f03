package cli

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/demo"
)

func init() { extraCommands = append(extraCommands, demoCmd) }

func demoCmd(env *Env) *cobra.Command {
	var o demo.Options
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Sluice on the embedded store with a flaky sink and sample traffic, and report what happened",
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Out = env.Out
			level := slog.LevelWarn + 4 // quiet: the report is the output
			if verbose {
				level = slog.LevelInfo
			}
			o.Log = env.logger(level)
			return demo.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Once, "once", false, "exit after the report; status 0 only if every event ended where it should")
	cmd.Flags().StringVar(&o.Listen, "listen", "127.0.0.1:8080", "server address (127.0.0.1:0 picks a free port)")
	cmd.Flags().StringVar(&o.Dir, "dir", "", "directory for the demo store (default: a new temporary directory)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show server logs")
	return cmd
}
