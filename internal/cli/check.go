package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
)

func checkCmd(env *Env) *cobra.Command {
	var path string
	var connect bool
	var connectTimeout time.Duration
	sh := &shadowOpts{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate a config file: structure, references, schemas, mappings, connectors",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := config.Load(path)
			if err == nil {
				err = server.Check(c)
			}
			if err != nil {
				var es config.Errors
				if errors.As(err, &es) {
					for _, e := range es {
						fmt.Fprintln(env.Err, e.Error())
					}
				} else {
					fmt.Fprintln(env.Err, err)
				}
				if sh.against > 0 {
					return &ExitError{Code: 2} // the candidate is unusable: not a diff
				}
				return &ExitError{Code: 1}
			}
			for _, w := range c.Warnings() {
				fmt.Fprintln(env.Err, "WARNING "+w.Error())
			}
			fmt.Fprintf(env.Out, "%s: ok (%d sources, %d flows, %d destinations)\n", path, len(c.Sources), len(c.Flows), len(c.Destinations))
			if connect {
				if err := runConnect(cmd, env, c, connectTimeout); err != nil {
					return err
				}
			}
			if sh.against > 0 || cmd.Flags().Changed("against") {
				return runShadow(cmd, env, c, sh) // shadow.go
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "sluice.yaml", "config file")
	cmd.Flags().BoolVar(&connect, "connect", false, "also try every destination's credentials and schema (reads only; exit code 1 if any fails)")
	cmd.Flags().DurationVar(&connectTimeout, "connect-timeout", 15*time.Second, "how long --connect waits for each destination")
	addShadowFlags(cmd, sh)
	return cmd
}

// runConnect is `sluice check --connect`: the lifecycle's connect step for
// every destination, one line each, exit code 1 when any fails.
func runConnect(cmd *cobra.Command, env *Env, c *config.Config, timeout time.Duration) error {
	rs := server.Connect(cmd.Context(), c, timeout)
	for _, r := range rs {
		switch r.Status {
		case "ok":
			fmt.Fprintf(env.Out, "destinations.%s (%s): ok: %s\n", r.Destination, r.Type, r.Checked)
		case "skipped":
			fmt.Fprintf(env.Out, "destinations.%s (%s): skipped: %s\n", r.Destination, r.Type, r.Message)
		default:
			fmt.Fprintf(env.Out, "destinations.%s (%s): FAILED: %s\n", r.Destination, r.Type, r.Message)
		}
	}
	if server.Failed(rs) {
		return &ExitError{Code: 1}
	}
	return nil
}
