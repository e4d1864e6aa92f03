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
	cmd.AddCommand(sourcesTokenCmd(env), sourcesNoticesCmd(env))
	return cmd
}

// sourcesNoticesCmd is `sluice sources notices <source>`: the notices of
// a platform-webhook source (Notion page events, Airtable notifications)
// that wait to be fetched, with their failures; --state done shows the
// settled ones Sluice still keeps to recognise retries.
func sourcesNoticesCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	state := ""
	cmd := &cobra.Command{
		Use:   "notices <source>",
		Short: "Show the platform notices of a webhook source waiting to be fetched, and why they failed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type notice struct {
				ID          string     `json:"id"`
				Type        string     `json:"type"`
				RecordID    string     `json:"record_id"`
				State       string     `json:"state"`
				Attempts    int        `json:"attempts"`
				NextAt      time.Time  `json:"next_at"`
				LastError   string     `json:"last_error"`
				EscalatedAt *time.Time `json:"escalated_at"`
				CreatedAt   time.Time  `json:"created_at"`
			}
			type answer struct {
				Source  string   `json:"source"`
				Notices []notice `json:"notices"`
			}
			q := url.Values{}
			if state != "" {
				q.Set("state", state)
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/sources/"+url.PathEscape(args[0])+"/notices", q, nil, func(a answer) error {
				if len(a.Notices) == 0 {
					if state != "" {
						fmt.Fprintf(env.Out, "source %s has no %s notices\n", a.Source, state)
					} else {
						fmt.Fprintf(env.Out, "source %s has no notices\n", a.Source)
					}
					return nil
				}
				rows := [][]string{{"ID", "RECEIVED", "TYPE", "RECORD", "STATE", "ATTEMPTS", "NEXT", "ESCALATED", "LAST ERROR"}}
				for _, n := range a.Notices {
					esc := "-"
					if n.EscalatedAt != nil {
						esc = fmtTime(*n.EscalatedAt)
					}
					rec, next := n.RecordID, fmtTime(n.NextAt)
					if rec == "" {
						rec = "-"
					}
					if n.State != "pending" {
						next = "-"
					}
					rows = append(rows, []string{n.ID, fmtTime(n.CreatedAt), n.Type, rec, n.State, fmt.Sprint(n.Attempts), next, esc, orDash(n.LastError)})
				}
				table(env.Out, "", rows)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only notices in this state: pending or done")
	addClientFlags(cmd, o, true)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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
