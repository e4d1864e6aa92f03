package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
)

func checkCmd(env *Env) *cobra.Command {
	var path string
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
				return &ExitError{Code: 1}
			}
			for _, w := range c.Warnings() {
				fmt.Fprintln(env.Err, "WARNING "+w.Error())
			}
			fmt.Fprintf(env.Out, "%s: ok (%d sources, %d flows, %d destinations)\n", path, len(c.Sources), len(c.Flows), len(c.Destinations))
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "sluice.yaml", "config file")
	return cmd
}
