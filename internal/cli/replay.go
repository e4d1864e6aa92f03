package cli

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/pipeline"
)

func init() { extraCommands = append(extraCommands, replayCmd) }

// replayCmd is `sluice replay normalize|deliver`: run stored events through
// the pipeline again from a stage, after a mapping or a destination was
// fixed. It is a dry run unless --apply is given.
func replayCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	var req api.ReplayRequest
	var after, before string
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
	fl.StringArrayVar(&req.Filter.States, "state", nil, "only events in this state (repeatable; default: those the stage applies to)")
	fl.StringVar(&req.Filter.Destination, "destination", "", "only events of flows routing here; deliver: only to this destination")
	fl.StringVar(&after, "received-after", "", "received at or after: RFC 3339 time, or a duration ago (24h)")
	fl.StringVar(&before, "received-before", "", "received before: RFC 3339 time, or a duration ago")
	fl.IntVar(&req.Limit, "limit", 0, fmt.Sprintf("examine at most this many events (default %d, at most %d)", pipeline.DefaultReplayLimit, pipeline.MaxReplayLimit))
	fl.StringVar(&req.After, "after", "", "continue after this event ID (printed when a replay stops at its limit)")
	fl.BoolVar(&apply, "apply", false, "do it; without this flag the command is a dry run")
	return cmd
}

func renderReplay(w io.Writer, res *pipeline.ReplayResult) {
	verb := "replayed"
	if res.DryRun {
		verb = "would be replayed"
		fmt.Fprint(w, "dry run: ")
	}
	fmt.Fprintf(w, "replay from %s: %d events examined, %d %s, %d unchanged, %d skipped\n",
		res.Stage, res.Examined, res.Replayed, verb, res.Unchanged, res.Skipped)
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
			rows = append(rows, []string{it.EventID, it.Source, it.OldState, it.NewState, it.Outcome,
				strings.Join(it.Deliveries, ", "), strings.Join(it.ChangedFields, ", "), reason})
		}
		table(w, "", rows)
	}
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
