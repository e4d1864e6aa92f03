package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, sourcesCmd) }

// sourcesCmd is `sluice sources`: operator views of sources.
func sourcesCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "sources", Short: "Operator views of sources"}
	cmd.AddCommand(sourcesTokenCmd(env))
	return cmd
}

// sourcesTokenCmd is `sluice sources token <source>`: the verification
// tokens a platform sent the source (Notion's handshake), newest first.
// The operator pastes the newest into the platform and into the source's
// platform.secrets. Admin only: a token is a signing key.
func sourcesTokenCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "token <source>",
		Short: "Show the verification tokens a platform sent a webhook source (Notion), to paste back into the platform",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type token struct {
				Token      string    `json:"token"`
				ReceivedAt time.Time `json:"received_at"`
			}
			type answer struct {
				Source     string  `json:"source"`
				Platform   string  `json:"platform"`
				Tokens     []token `json:"tokens"`
				Configured bool    `json:"configured"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/sources/"+url.PathEscape(args[0])+"/tokens", nil, nil, func(a answer) error {
				if len(a.Tokens) == 0 {
					fmt.Fprintf(env.Out, "source %s has received no verification token yet: create the %s webhook subscription pointing at it\n", a.Source, a.Platform)
					return nil
				}
				rows := [][]string{{"RECEIVED", "TOKEN"}}
				for _, t := range a.Tokens {
					rows = append(rows, []string{fmtTime(t.ReceivedAt), t.Token})
				}
				table(env.Out, "", rows)
				if a.Configured {
					fmt.Fprintln(env.Out, "the newest token is in platform.secrets: events are verified")
				} else {
					fmt.Fprintf(env.Out, "paste the newest token into %s to verify the subscription, and set it in sources.%s.platform.secrets\n", a.Platform, a.Source)
				}
				if len(a.Tokens) > 1 {
					fmt.Fprintln(env.Out, "more than one token arrived: the handshake is unsigned, so confirm in the platform which one it sent")
				}
				return nil
			})
		},
	}
	addClientFlags(cmd, o, true)
	return cmd
}
