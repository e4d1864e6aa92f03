package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/pipeline"
	"github.com/sluicehq/sluice/internal/store"
)

func init() { extraCommands = append(extraCommands, replayCmd) }

// replayCmd is `sluice replay normalize|deliver`: run stored events through
// the pipeline again from a stage, after a mapping or a destination was
// fixed. It is a dry run unless --apply is given.
func replayCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	var req api.ReplayRequest
	var after, before string
	var states []string // --state, checked by the server
	var apply bool
	cmd := &cobra.Command{
		Use:   "replay normalize|deliver [filters] [--apply]",
		Short: "Run stored events again from normalize or deliver (dry run unless --apply)",
		Long: `Replay events already in the store, selected by source, state,
destination and time received.

  normalize  re-runs the flow's current mapping on the payload as received,
             then validation and routing: a rejected event may become valid
             and be delivered, a held one complete. Records already sent to
             destinations are re-sent when their record changed; they are
             never taken back to rejected or held.
  deliver    sends the stored record again (mapped by the routes' current
             mappings), to every route or only to --destination.
  deliver --rerender
             re-renders the deliveries still pending and the escalated ones
             with the config in force (route map now; the destination's
             current options when sent) and retries the escalated ones: the
             fix after a route map sent a field the destination refuses. The
             dry run prints each delivery's old and new payload side by side.
             Same delivery, same idempotency key: the record lands once.

A replay never creates a second event, and destinations that already hold
the record receive an update, not a duplicate (the identity map). Without
--apply nothing changes: the answer lists, per event, its state now and
after, and the deliveries it would make. Each replayed event is audited
("replayed from <stage> by <you>").`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{pipeline.StageNormalize, pipeline.StageDeliver},
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			var err error
			req.Filter.States = nil
			for _, s := range states {
				req.Filter.States = append(req.Filter.States, store.EventState(s))
			}
			if req.Filter.ReceivedAfter, err = parseWhen(after, now); err != nil {
				return fmt.Errorf("--received-after: %w", err)
			}
			if req.Filter.ReceivedBefore, err = parseWhen(before, now); err != nil {
				return fmt.Errorf("--received-before: %w", err)
			}
			req.Stage, req.DryRun = args[0], !apply
			return adminCall(cmd, env, o, http.MethodPost, "/v1/replay", nil, req, func(res pipeline.ReplayResult) error {
				renderReplay(env.Out, &res)
				return nil
			})
		},
	}
	addClientFlags(cmd, o, true)
	fl := cmd.Flags()
	fl.StringVar(&req.Filter.Source, "source", "", "only events from this source")
	fl.StringArrayVar(&states, "state", nil, "only events in this state (repeatable; default: those the stage applies to)")
	fl.StringVar(&req.Filter.Destination, "destination", "", "only events of flows routing here; deliver: only to this destination")
	fl.StringVar(&after, "received-after", "", "received at or after: RFC 3339 time, or a duration ago (24h)")
	fl.StringVar(&before, "received-before", "", "received before: RFC 3339 time, or a duration ago")
	fl.IntVar(&req.Limit, "limit", 0, fmt.Sprintf("examine at most this many events (default %d, at most %d)", pipeline.DefaultReplayLimit, pipeline.MaxReplayLimit))
	fl.StringVar(&req.After, "after", "", "continue after this event ID (printed when a replay stops at its limit)")
	fl.BoolVar(&apply, "apply", false, "do it; without this flag the command is a dry run")
	fl.BoolVar(&req.Rerender, "rerender", false, "deliver: render pending and escalated deliveries again with the current config and retry the escalated ones")
	return cmd
}

func renderReplay(w io.Writer, res *pipeline.ReplayResult) {
	verb := "replayed"
	if res.DryRun {
		verb = "would be replayed"
		fmt.Fprint(w, "dry run: ")
	}
	stage := res.Stage
	if res.Rerender {
		stage += " with re-render (config " + shortID(res.ConfigVersion, 12) + ")"
	}
	fmt.Fprintf(w, "replay from %s: %d events examined, %d %s, %d unchanged, %d skipped\n",
		stage, res.Examined, res.Replayed, verb, res.Unchanged, res.Skipped)
	for _, kv := range sortedCounts(res.Transitions) {
		fmt.Fprintf(w, "  %s: %d\n", kv.k, kv.n)
	}
	if len(res.Deliveries) > 0 {
		var parts []string
		for _, kv := range sortedCounts(res.Deliveries) {
			parts = append(parts, fmt.Sprintf("%s %d", kv.k, kv.n))
		}
		fmt.Fprintf(w, "  deliveries: %s\n", strings.Join(parts, ", "))
	}
	if len(res.Items) > 0 {
		rows := [][]string{{"EVENT", "SOURCE", "STATE", "AFTER", "OUTCOME", "DELIVERIES", "CHANGED", "REASON"}}
		for _, it := range res.Items {
			reason := it.Reason
			if len(it.Warnings) > 0 {
				reason = strings.TrimPrefix(reason+"; "+strings.Join(it.Warnings, "; "), "; ")
			}
			rows = append(rows, []string{it.EventID, it.Source, string(it.OldState), string(it.NewState), it.Outcome,
				strings.Join(it.Deliveries, ", "), strings.Join(it.ChangedFields, ", "), reason})
		}
		table(w, "", rows)
	}
	renderPayloads(w, res)
	if res.Next != "" {
		fmt.Fprintf(w, "stopped at the limit; more events may match: continue with --after %s\n", res.Next)
	}
	if res.DryRun && res.Replayed > 0 {
		fmt.Fprintln(w, "nothing changed; run again with --apply to do it")
	}
}

type count struct {
	k string
	n int
}

func sortedCounts(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for k, n := range m {
		out = append(out, count{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].k < out[j].k })
	return out
}

// renderPayloads prints each re-rendered delivery's payload as stored and
// as rendered now, side by side, one field per line.
func renderPayloads(w io.Writer, res *pipeline.ReplayResult) {
	for _, it := range res.Items {
		for _, c := range it.Payloads {
			what := "same payload, retried"
			if c.Changed {
				what = "changed: " + strings.Join(c.Fields, ", ")
			}
			fmt.Fprintf(w, "\n%s %s %s->%s (%s; %s; captured with config %s)\n", it.EventID, c.DeliveryID, c.Route, c.Destination,
				c.State, what, shortID(it.ConfigVersion, 12))
			oldLines, newLines := prettyLines(c.Old), prettyLines(c.New)
			tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
			fmt.Fprintln(tw, "  OLD\tNEW")
			for i := 0; i < max(len(oldLines), len(newLines)); i++ {
				var o, n string
				if i < len(oldLines) {
					o = oldLines[i]
				}
				if i < len(newLines) {
					n = newLines[i]
				}
				fmt.Fprintf(tw, "  %s\t%s\n", o, n)
			}
			tw.Flush()
		}
	}
}

// prettyLines indents a JSON document for a side-by-side view.
func prettyLines(doc []byte) []string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, doc, "", "  "); err != nil {
		return []string{string(doc)}
	}
	return strings.Split(buf.String(), "\n")
}

// shortID abbreviates a long identifier (a config version hash) to n
// characters; "unknown" when empty.
func shortID(s string, n int) string {
	if s == "" {
		return "unknown"
	}
	if len(s) > n {
		return s[:n]
	}
	return s
}
