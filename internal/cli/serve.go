package cli

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/version"
)

func serveCmd(env *Env) *cobra.Command {
	var path, listen string
	var debug bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: webhook intake, delivery engine, admin API",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := config.Load(path)
			if err != nil {
				return err
			}
			if listen != "" {
				c.Listen = listen
			}
			level := slog.LevelInfo
			if debug && env.logLevel == "" {
				env.logLevel = "debug"
			}
			log := env.logger(level)
			srv, err := server.New(cmd.Context(), c, log)
			if err != nil {
				return err
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", c.Listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			kind, _ := c.StoreKind()
			v := version.Get()
			log.Info("sluice serving", "addr", ln.Addr().String(), "store", kind, "version", v.Version, "revision", v.Revision, "go", v.Go)
			fmt.Fprintf(env.Out, "listening on http://%s\n", ln.Addr())
			return srv.Run(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "sluice.yaml", "config file")
	cmd.Flags().StringVar(&listen, "listen", "", "override the listen address")
	cmd.Flags().BoolVar(&debug, "debug", false, "debug logging (the same as --log-level debug)")
	return cmd
}
