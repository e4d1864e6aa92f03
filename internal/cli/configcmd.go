package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/server"
)

func init() { extraCommands = append(extraCommands, configCmd) }

// configCmd is `sluice config`: act on the config of a running Sluice.
func configCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Act on the config of a running Sluice (reload)",
	}
	addClientFlags(cmd, o, true)
	var force bool
	reload := &cobra.Command{
		Use:   "reload [--force]",
		Short: "Make a running Sluice read its config file again; a config that fails changes nothing",
		Long: "Asks the server to read its config file again (as SIGHUP does). The new config is checked and\n" +
			"provisioned completely before it replaces the old one; if anything fails, the old config keeps\n" +
			"serving and the answer names the fields at fault. Removing a destination that still has\n" +
			"unfinished deliveries is refused unless --force, which escalates those deliveries.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var q url.Values
			if force {
				q = url.Values{"force": {"true"}}
			}
			return adminCall(cmd, env, o, http.MethodPost, "/v1/config/reload", q, nil, func(r server.ReloadResult) error {
				if !r.Changed {
					fmt.Fprintf(env.Out, "config %s unchanged\n", r.NewVersion)
					return nil
				}
				fmt.Fprintf(env.Out, "config reloaded: %s -> %s (changed: %s)\n", r.OldVersion, r.NewVersion, strings.Join(r.Sections, ", "))
				for _, l := range []struct {
					what  string
					names []string
				}{{"destinations added", r.Added}, {"destinations changed", r.Rebuilt}, {"destinations removed", r.Removed}} {
					if len(l.names) > 0 {
						fmt.Fprintf(env.Out, "  %s: %s\n", l.what, strings.Join(l.names, ", "))
					}
				}
				names := make([]string, 0, len(r.Escalated))
				for name := range r.Escalated {
					names = append(names, name)
				}
				sort.Strings(names)
				for _, name := range names {
					fmt.Fprintf(env.Out, "  %s: %d unfinished deliveries escalated\n", name, r.Escalated[name])
				}
				return nil
			})
		},
	}
	reload.Flags().BoolVar(&force, "force", false, "remove destinations even if deliveries to them are unfinished (they are escalated)")
	cmd.AddCommand(reload)
	return cmd
}
