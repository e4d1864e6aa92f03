package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/sim"
	"github.com/sluicehq/sluice/internal/simrun"
)

func init() { extraCommands = append(extraCommands, simCmd) }

// simCmd is `sluice sim`: the platform simulators, standalone, so a user can
// point a flow at them and try a config before going live.
func simCmd(env *Env) *cobra.Command {
	var faults string
	var unlimited, printConfig bool
	var seed uint64
	addrs := map[string]string{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the HubSpot, Airtable, Notion, Slack and Google Sheets simulators",
		Long: `Runs local simulators of the five platforms, each on its own port, with the platforms' real
paths, shapes, auth checks, batch and rate limits. Each has /_sim/faults (GET, PUT) to inject
failures, /_sim/records, /_sim/stats and /_sim/reset. --print-config also prints a destinations
block for a Sluice config that points at them, and keeps serving (the block is only useful while
the simulators run; use --addr to keep the same ports across runs). Ctrl-C stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var f sim.Faults
			if faults != "" {
				dec := json.NewDecoder(strings.NewReader(faults))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&f); err != nil {
					return fmt.Errorf("--faults: %w", err)
				}
				if err := f.Validate(); err != nil {
					return fmt.Errorf("--faults: %w", err)
				}
			}
			set, err := simrun.Start(simrun.Options{Seed: seed, Faults: f, Unlimited: unlimited, Addrs: addrs})
			if err != nil {
				return err
			}
			defer set.Close()
			for _, p := range simrun.Platforms {
				fmt.Fprintf(env.Out, "%-9s %s\n", p, set.URL[p])
			}
			fmt.Fprintf(env.Out, "tokens: hubspot %s, airtable %s, notion %s, slack %s, sheets %s\n",
				simrun.HubSpotToken, simrun.AirtableToken, simrun.NotionToken, simrun.SlackToken, simrun.SheetsToken)
			if printConfig {
				fmt.Fprintln(env.Out, "\n# destinations for your config:")
				fmt.Fprint(env.Out, set.DestinationsYAML(unlimited, 8))
			}
			fmt.Fprintln(env.Out, "Press Ctrl-C to stop.")
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&faults, "faults", "", `faults for every simulator as JSON, e.g. '{"errors":{"500":0.05},"timeout_after_write":0.02}'`)
	cmd.Flags().BoolVar(&unlimited, "unlimited", false, "lift the platforms' rate limits")
	cmd.Flags().BoolVar(&printConfig, "print-config", false, "also print a destinations block pointing at the simulators (keeps serving)")
	cmd.Flags().Uint64Var(&seed, "seed", 0, "seed for repeatable faults (0: random)")
	cmd.Flags().StringToStringVar(&addrs, "addr", nil, "fixed listen address per platform, e.g. --addr hubspot=127.0.0.1:9001")
	return cmd
}
