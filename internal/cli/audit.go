package cli

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, auditCmd) }

// auditCmd is `sluice audit`: checks on the hash-chained audit log.
func auditCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check the audit log",
	}
	addClientFlags(cmd, o, true)
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the whole audit chain; exit 1 if an entry was removed or altered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			raw, err := c.Admin(cmd.Context(), http.MethodGet, "/v1/audit/verify", nil, nil)
			if err != nil {
				return err
			}
			var rep auditReport
			if err := json.Unmarshal(raw, &rep); err != nil {
				return fmt.Errorf("GET /v1/audit/verify: %w", err)
			}
			if o.json {
				writeRaw(env.Out, raw)
			} else if rep.OK {
				fmt.Fprintf(env.Out, "audit log ok: %d entries checked, last seq %d; %d events, each explained by its trail\n", rep.EntriesChecked, rep.LastSeq, rep.EventsChecked)
				if rep.Guarantee != "" {
					fmt.Fprintf(env.Out, "guarantee: %s\n", rep.Guarantee)
				}
			} else if rep.Incomplete > 0 {
				fmt.Fprintf(env.Out, "audit chain intact (%d entries) but INCOMPLETE: %s\n", rep.EntriesChecked, rep.Reason)
				for _, g := range rep.Gaps {
					fmt.Fprintf(env.Out, "  %s (%s): %s\n", g.EventID, g.State, g.Reason)
				}
			} else {
				fmt.Fprintf(env.Out, "audit log BROKEN at seq %d: %s\n", rep.BrokenAt, rep.Reason)
				fmt.Fprintf(env.Out, "%d entries before it verified\n", rep.EntriesChecked)
			}
			if !rep.OK {
				// The answer is the finding, already printed; only the exit
				// code is left to say.
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.AddCommand(verify)
	return cmd
}

// auditReport is GET /v1/audit/verify's answer.
type auditReport struct {
	OK             bool   `json:"ok"`
	EntriesChecked int64  `json:"entries_checked"`
	LastSeq        int64  `json:"last_seq"`
	BrokenAt       int64  `json:"broken_at"`
	Reason         string `json:"reason"`
	EventsChecked  int    `json:"events_checked"`
	Guarantee      string `json:"guarantee"`
	Incomplete     int    `json:"incomplete_events"`
	Gaps           []struct {
		EventID string `json:"event_id"`
		State   string `json:"state"`
		Reason  string `json:"reason"`
	} `json:"gaps"`
}
