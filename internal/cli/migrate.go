package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/store"
)

func init() { extraCommands = append(extraCommands, migrateCmd) }

// migrateCmd is `sluice migrate`: apply the store's pending migrations and
// report the schema version, as a deploy step before new instances start
// (they would apply them too, one at a time, but a failed migration is
// better seen here than as instances that do not start).
func migrateCmd(env *Env) *cobra.Command {
	var path, dsn string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending store migrations and print the schema version",
		Long: "Opens the store named by the config (or --store), which applies every pending migration\n" +
			"(under a lock, so instances starting at the same time are safe), and prints the version.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := &config.Config{Store: dsn}
			if dsn == "" {
				var err error
				if c, err = config.Load(path); err != nil {
					return err
				}
			}
			kind, _ := c.StoreKind()
			drv, err := server.OpenStore(cmd.Context(), c)
			if err != nil {
				return fmt.Errorf("migrate %s store: %w", kind, err)
			}
			defer drv.Close()
			v, ok := drv.(store.Versioned)
			if !ok {
				return errors.New("this store does not report its schema version")
			}
			version, applied, err := v.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Out, "%s store migrated: schema version %s (%d migrations applied)\n", drv.Name(), version, applied)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "sluice.yaml", "config file (its store setting is used)")
	cmd.Flags().StringVar(&dsn, "store", "", "store to migrate instead of the config's: a SQLite path or a postgres:// URL")
	return cmd
}
