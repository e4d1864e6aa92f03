package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/pipeline"
)

func init() { extraCommands = append(extraCommands, holdsCmd) }

// holdsCmd is `sluice holds`: the work queue of records held back because
// required fields are missing, and the fix-then-release loop for them.
func holdsCmd(env *Env) *cobra.Command {
	o := &clientOpts{}
	cmd := &cobra.Command{
		Use:   "holds",
		Short: "Fix and release records held for missing fields",
	}
	addClientFlags(cmd, o, true)

	var lf listFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List held events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return listEvents(cmd, env, o, "/v1/holds", &lf)
		},
	}
	lf.register(list, false)

	var raw bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a held event: record, missing fields and timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showEvent(cmd, env, o, holdPath(args[0]), raw)
		},
	}
	show.Flags().BoolVar(&raw, "raw", false, "also print the body as it was received")

	var setJSON string
	var unset []string
	patch := &cobra.Command{
		Use:   "patch ID field=value ... | --set-json '{...}'",
		Short: "Set fields of a held record (does not release it)",
		Long: `Set fields of a held record. Each value is parsed as JSON when it parses
(42, true, null, {"a":1}, "quoted") and taken as a string otherwise, so
company=Acme sets a string and amount=12 a number; write amount='"12"' for the
string. Dotted names set nested fields (address.city=Oslo). --set-json gives
all fields as one JSON object; field=value arguments override it.
The record is re-checked and what is still missing is printed; release it with
'sluice holds release ID'.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fields := map[string]any{}
			if setJSON != "" || len(args) > 1 || len(unset) == 0 {
				var err error
				if fields, err = patchFields(setJSON, args[1:]); err != nil {
					return err
				}
			}
			for _, name := range unset {
				if strings.TrimSpace(name) == "" {
					return fmt.Errorf("--unset: empty field name")
				}
				fields[name] = nil // null removes the field
			}
			type answer struct {
				Event api.EventJSON `json:"event"`
			}
			body := map[string]any{"fields": fields}
			return adminCall(cmd, env, o, http.MethodPatch, holdPath(args[0]), nil, body, func(a answer) error {
				fmt.Fprintf(env.Out, "patched %s (%s): %s\n", a.Event.ID, a.Event.State, strings.Join(sortedKeys(fields), ", "))
				if m := decodeList(a.Event.Missing); len(m) > 0 {
					fmt.Fprintf(env.Out, "still missing: %s\n", strings.Join(m, ", "))
				} else {
					fmt.Fprintf(env.Out, "complete; release with: sluice holds release %s\n", a.Event.ID)
				}
				return nil
			})
		},
	}
	patch.Flags().StringVar(&setJSON, "set-json", "", "fields as one JSON object")
	patch.Flags().StringArrayVar(&unset, "unset", nil, "remove this field from the record (repeatable)")

	release := &cobra.Command{
		Use:   "release ID",
		Short: "Re-validate a held record and route it if it is complete",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type answer struct {
				Event api.EventJSON `json:"event"`
			}
			return adminCall(cmd, env, o, http.MethodPost, holdPath(args[0])+"/release", nil, nil, func(a answer) error {
				fmt.Fprintf(env.Out, "released %s: now %s\n", a.Event.ID, a.Event.State)
				return nil
			})
		},
	}

	var reason string
	discard := &cobra.Command{
		Use:   "discard ID --reason R",
		Short: "Give up on a held record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return discardEvent(cmd, env, o, holdPath(args[0])+"/discard", reason)
		},
	}
	discard.Flags().StringVar(&reason, "reason", "", "why (written to the audit log; required)")
	_ = discard.MarkFlagRequired("reason")

	cmd.AddCommand(list, show, patch, release, discard, holdsBulkCmd(env, o))
	return cmd
}

// holdsBulkCmd is `sluice holds bulk`: set fields on, and or release,
// every held record a filter selects; a dry run unless --apply.
func holdsBulkCmd(env *Env, o *clientOpts) *cobra.Command {
	var req api.HoldsBulkRequest
	var after, before, setJSON string
	var unset []string
	var apply bool
	cmd := &cobra.Command{
		Use:   "bulk [field=value ...] [--unset F] [--release] [filters] [--apply]",
		Short: "Patch and/or release every held record a filter selects (dry run unless --apply)",
		Long: `Select held records by flow, missing field and time received, set fields
on all of them (values as in 'holds patch') and, with --release, release
those that are then complete and valid. Without --apply nothing changes: the
answer lists, per record, whether it would be patched, released, or stays
held and why. Each record is patched and released through the same checks
as one by one (audited each), plus one summary entry.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			var err error
			if req.Filter.ReceivedAfter, err = parseWhen(after, now); err != nil {
				return fmt.Errorf("--received-after: %w", err)
			}
			if req.Filter.ReceivedBefore, err = parseWhen(before, now); err != nil {
				return fmt.Errorf("--received-before: %w", err)
			}
			req.Set = nil
			if setJSON != "" || len(args) > 0 {
				if req.Set, err = patchFields(setJSON, args); err != nil {
					return err
				}
			}
			for _, name := range unset {
				if strings.TrimSpace(name) == "" {
					return fmt.Errorf("--unset: empty field name")
				}
				if req.Set == nil {
					req.Set = map[string]any{}
				}
				req.Set[name] = nil
			}
			if len(req.Set) == 0 && !req.Release {
				return fmt.Errorf("nothing to do: give field=value arguments, --unset or --release")
			}
			req.DryRun = !apply
			return adminCall(cmd, env, o, http.MethodPost, "/v1/holds/bulk", nil, req, func(res pipeline.HoldsBulkResult) error {
				renderHoldsBulk(env.Out, &res)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Filter.Flow, "flow", "", "only records of this flow")
	fl.StringVar(&req.Filter.Missing, "missing", "", "only records missing this field")
	fl.StringVar(&after, "received-after", "", "received at or after: RFC 3339 time, or a duration ago (24h)")
	fl.StringVar(&before, "received-before", "", "received before: RFC 3339 time, or a duration ago")
	fl.StringVar(&setJSON, "set-json", "", "fields as one JSON object")
	fl.StringArrayVar(&unset, "unset", nil, "remove this field from each record (repeatable)")
	fl.BoolVar(&req.Release, "release", false, "release the records that are complete and valid afterwards")
	fl.BoolVar(&apply, "apply", false, "do it; without this flag the command is a dry run")
	return cmd
}

func renderHoldsBulk(w io.Writer, res *pipeline.HoldsBulkResult) {
	filter := res.Filter
	if filter == "" {
		filter = "(none)"
	}
	if res.DryRun {
		fmt.Fprintf(w, "dry run: of %d held records, %d would be patched and %d released (%d skipped); filter: %s\n",
			res.Matched, res.Patched, res.Released, res.Skipped, filter)
	} else {
		fmt.Fprintf(w, "of %d held records: %d patched, %d released, %d skipped, %d failed; filter: %s\n",
			res.Matched, res.Patched, res.Released, res.Skipped, res.Failed, filter)
	}
	if len(res.Items) > 0 {
		rows := [][]string{{"EVENT", "FLOW", "KEY", "OUTCOME", "REASON"}}
		for _, it := range res.Items {
			rows = append(rows, []string{it.EventID, it.Flow, it.RecordKey, it.Outcome, it.Reason})
		}
		table(w, "", rows)
	}
	if res.DryRun && res.Patched+res.Released > 0 {
		fmt.Fprintln(w, "nothing changed; run again with --apply to do it")
	}
}

func holdPath(id string) string { return "/v1/holds/" + url.PathEscape(id) }

// patchFields builds the PATCH body's fields from --set-json and
// field=value arguments, the arguments winning.
func patchFields(setJSON string, args []string) (map[string]any, error) {
	fields := map[string]any{}
	if setJSON != "" {
		v, err := decodeJSON(setJSON)
		m, ok := v.(map[string]any)
		if err != nil || !ok {
			return nil, fmt.Errorf("--set-json: want a JSON object, got %q", truncate(setJSON, 60))
		}
		fields = m
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want field=value", a)
		}
		fields[k] = parseValue(v)
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("nothing to patch: give field=value arguments or --set-json")
	}
	return fields, nil
}

// parseValue is v as JSON when it is valid JSON, else v as a string.
func parseValue(v string) any {
	if out, err := decodeJSON(v); err == nil {
		return out
	}
	return v
}

// decodeJSON decodes exactly one JSON value, keeping numbers as written so
// a long ID is not rounded through float64.
func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value")
	}
	return out, nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
