package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
)

func init() { extraCommands = append(extraCommands, destinationsCmd) }

// destinationsCmd is `sluice destinations`: see which platforms are paused
// and stop or restart delivery to one, say during its maintenance window.
func destinationsCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "destinations",
		Short: "List destinations; pause and resume delivery to one",
	}
	addClientFlags(cmd, o, true)

	list := &cobra.Command{
		Use:   "list",
		Short: "List destinations and whether delivery to each is paused",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			type answer struct {
				Destinations []api.DestinationJSON `json:"destinations"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/destinations", nil, nil, func(a answer) error {
				if len(a.Destinations) == 0 {
					fmt.Fprintln(env.Out, "no destinations")
					return nil
				}
				rows := [][]string{{"NAME", "TYPE", "STATE", "SINCE", "REASON"}}
				for _, d := range a.Destinations {
					rows = append(rows, []string{d.Name, d.Type, pausedWord(d.Paused), fmtTime(d.UpdatedAt), d.Reason})
				}
				table(env.Out, "", rows)
				return nil
			})
		},
	}

	var reason string
	pause := &cobra.Command{
		Use:   "pause NAME [--reason R]",
		Short: "Stop delivering to a destination; work waits, it is not lost",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body any
			if reason != "" {
				body = map[string]string{"reason": reason}
			}
			return setDestination(cmd, env, o, args[0], "/pause", body)
		},
	}
	pause.Flags().StringVar(&reason, "reason", "", "why (written to the audit log)")
	resume := &cobra.Command{
		Use:   "resume NAME",
		Short: "Deliver to a paused destination again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setDestination(cmd, env, o, args[0], "/resume", nil)
		},
	}

	cmd.AddCommand(list, pause, resume)
	return cmd
}

func setDestination(cmd *cobra.Command, env *Env, o *clientOpts, name, verb string, body any) error {
	type answer struct {
		Destination api.DestinationJSON `json:"destination"`
	}
	return adminCall(cmd, env, o, http.MethodPost, "/v1/destinations/"+url.PathEscape(name)+verb, nil, body, func(a answer) error {
		renderDestination(env.Out, &a.Destination)
		return nil
	})
}

func renderDestination(w io.Writer, d *api.DestinationJSON) {
	fmt.Fprintf(w, "%s (%s): %s", d.Name, d.Type, pausedWord(d.Paused))
	if d.Reason != "" {
		fmt.Fprintf(w, " - %s", d.Reason)
	}
	fmt.Fprintln(w)
}

func pausedWord(paused bool) string {
	if paused {
		return "paused"
	}
	return "active"
}
