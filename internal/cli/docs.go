package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/connector/catalog"
)

func init() { extraCommands = append(extraCommands, docsCmd) }

// docsCmd is `sluice docs`: documentation generated from the code, so it
// cannot disagree with it.
func docsCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "Print documentation generated from the code (connector options)",
	}
	var out, readme string
	connectors := &cobra.Command{
		Use:   "connectors [--out FILE] [--readme README.md]",
		Short: "Every connector's options as Markdown tables, from the connectors' specs",
		Long: "Prints docs/connectors.md (or writes it to --out). With --readme, also rewrites the generated\n" +
			"section of that README between its markers. The committed files are checked against the\n" +
			"specs by a test, so run this after changing a connector's spec.go.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			md := catalog.Markdown()
			if out == "" {
				_, err := env.Out.Write(md)
				return err
			}
			if err := os.WriteFile(out, md, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(env.Out, "wrote %s\n", out)
			if readme != "" {
				old, err := os.ReadFile(readme)
				if err != nil {
					return err
				}
				updated, err := catalog.SpliceREADME(old)
				if err != nil {
					return err
				}
				if err := os.WriteFile(readme, updated, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(env.Out, "wrote %s\n", readme)
			}
			return nil
		},
	}
	connectors.Flags().StringVarP(&out, "out", "o", "", "write to this file instead of standard output")
	connectors.Flags().StringVar(&readme, "readme", "", "also rewrite the generated section of this README (needs --out)")
	cmd.AddCommand(connectors)
	return cmd
}
