package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/api"
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

	cmd.AddCommand(list, show, patch, release, discard)
	return cmd
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
