package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
)

func init() { extraCommands = append(extraCommands, slaCmd) }

// slaCmd is `sluice sla`: the control layer's open items (SLA breaches and
// paused destinations), as the SLA watcher of a running Sluice sees them.
func slaCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	var status string
	var limit int
	cmd := &cobra.Command{
		Use:   "sla",
		Short: "List open SLA breaches and paused destinations",
		Long: "List what the SLA watcher has open: flows delivering or holding records longer than their\n" +
			"sla.deliver_within / sla.hold_within, destinations over sla.queue_age / sla.queue_depth, and\n" +
			"paused destinations. Each fired one alert when it opened and fires one when it clears.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if status != "" {
				q.Set("status", status)
			}
			type answer struct {
				Breaches  []api.SLABreachJSON `json:"breaches"`
				CheckedAt *time.Time          `json:"checked_at"`
			}
			return adminCall(cmd, env, o, http.MethodGet, "/v1/sla", q, nil, func(a answer) error {
				if a.CheckedAt != nil {
					fmt.Fprintf(env.Out, "checked at %s\n", fmtTime(*a.CheckedAt))
				} else {
					fmt.Fprintln(env.Out, "not checked yet: the SLA watch has not finished a run on this server since it started (it runs every alerts.interval)")
				}
				if len(a.Breaches) == 0 {
					if status == "" || status == "open" {
						fmt.Fprintln(env.Out, "no open SLA breaches")
					} else {
						fmt.Fprintln(env.Out, "no SLA breaches")
					}
					return nil
				}
				rows := [][]string{{"KIND", "SUBJECT", "OPENED", "FOR", "RESOLVED", "DETAILS"}}
				for _, b := range a.Breaches {
					end := b.ResolvedAt
					if end.IsZero() {
						end = time.Now()
					}
					rows = append(rows, []string{b.Kind, b.Subject, fmtTime(b.OpenedAt), end.Sub(b.OpenedAt).Round(time.Second).String(),
						fmtTime(b.ResolvedAt), breachDetails(b.Details)})
				}
				table(env.Out, "", rows)
				return nil
			})
		},
	}
	addClientFlags(cmd, o, true)
	cmd.Flags().StringVar(&status, "status", "", "open (default), resolved or all")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many (1-1000)")
	return cmd
}

// breachDetails renders a breach's details as "count=3 oldest=... threshold=5m0s"
// ("count>=10000" when the watcher's count stopped at its limit).
func breachDetails(raw json.RawMessage) string {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber() // counts print as 12000, not 1.2e+04
	if err := dec.Decode(&m); err != nil {
		return string(raw)
	}
	var parts []string
	for _, k := range []string{"count", "oldest", "threshold", "reason", "since"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		s := fmt.Sprint(v)
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			s = fmtTime(t)
		}
		if k == "count" && m["count_at_least"] == true {
			parts = append(parts, "count>="+s) // the watcher stopped counting there
			continue
		}
		parts = append(parts, k+"="+s)
	}
	return truncate(strings.Join(parts, " "), 120)
}
