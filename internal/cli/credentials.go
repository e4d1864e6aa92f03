package cli

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/credential"
)

func init() { extraCommands = append(extraCommands, credentialsCmd) }

// credentialsCmd is `sluice credentials`: each destination credential that
// expires (kind, expiry, last refresh, failure), never a secret.
func credentialsCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "Show destination credentials that expire: kind, expiry, last refresh, failure (never a secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			type answer struct {
				Credentials []credential.Status `json:"credentials"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/credentials", nil, nil, func(a answer) error {
				if len(a.Credentials) == 0 {
					fmt.Fprintln(env.Out, "no expiring credentials yet: destinations with a credential block appear after their first token")
					return nil
				}
				at := func(t *time.Time) string {
					if t == nil {
						return "-"
					}
					return fmtTime(*t)
				}
				rows := [][]string{{"DESTINATION", "KIND", "EXPIRES", "LAST REFRESH", "REFRESHES", "FAILURE"}}
				for _, c := range a.Credentials {
					failure := c.Failure
					if failure == "" {
						failure = "-"
					}
					rows = append(rows, []string{c.Destination, c.Kind, at(c.ExpiresAt), at(c.RefreshedAt), fmt.Sprint(c.Refreshes), failure})
				}
				table(env.Out, "", rows)
				return nil
			})
		},
	}
	addClientFlags(cmd, o, true)
	return cmd
}
