package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

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
			load := func() (*config.Config, error) {
				c, err := config.Load(path)
				if err == nil && listen != "" {
					c.Listen = listen
				}
				return c, err
			}
			c, err := load()
			if err != nil {
				return err
			}
			level := slog.LevelInfo
			if debug && env.logLevel == "" {
				env.logLevel = "debug"
			}
			log := env.logger(level)
			for _, w := range c.Warnings() {
				log.Warn("config weakens a guarantee", "path", w.Path, "warning", w.Message)
			}
			defer server.TuneGC()()
			srv, err := server.New(cmd.Context(), c, log)
			if err != nil {
				return err
			}
			defer srv.Close()
			srv.Load = load
			stopHUP := reloadOnHUP(cmd.Context(), srv, log)
			defer stopHUP()
			ln, err := net.Listen("tcp", c.Listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			kind, _ := c.StoreKind()
			v := version.Get()
			log.Info("sluice serving", "addr", ln.Addr().String(), "store", kind, "version", v.Version, "revision", v.Revision, "go", v.Go)
			scheme := "http"
			if c.TLS != nil {
				scheme = "https"
			}
			fmt.Fprintf(env.Out, "listening on %s://%s\n", scheme, ln.Addr())
			if c.AdminListen != "" {
				fmt.Fprintf(env.Out, "admin API and metrics on %s://%s\n", scheme, c.AdminListen)
			}
			err = srv.Run(cmd.Context(), ln)
			fmt.Fprintln(env.Out, srv.ShutdownReport())
			return err
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "sluice.yaml", "config file")
	cmd.Flags().StringVar(&listen, "listen", "", "override the listen address")
	cmd.Flags().BoolVar(&debug, "debug", false, "debug logging (the same as --log-level debug)")
	return cmd
}

// reloadOnHUP reloads the config file on every SIGHUP, the Unix convention
// for daemons. The outcome goes to the log: the new version and what
// changed, or exactly why the file was refused (field paths), in which
// case the old config keeps serving.
func reloadOnHUP(ctx context.Context, srv *server.Server, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-hup:
				if !ok {
					return
				}
				// Success is logged by the server ("config reloaded").
				if _, err := srv.Reload(ctx, server.ReloadOptions{Actor: "signal:SIGHUP"}); err != nil {
					log.Error("config reload refused", "err", err)
				}
			}
		}
	}()
	return func() { signal.Stop(hup); close(hup); <-done }
}
