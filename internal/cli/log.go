package cli

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// addLogFlags adds --log-format and --log-level to every command and
// refuses values it does not know before the command runs.
func addLogFlags(root *cobra.Command, env *Env) {
	root.PersistentFlags().StringVar(&env.logFormat, "log-format", "", "log line format: text (default) or json (one JSON object per line)")
	root.PersistentFlags().StringVar(&env.logLevel, "log-level", "", "least severe level logged: debug, info, warn or error (default: info for serve, quieter for demo)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		switch env.logFormat {
		case "", "text", "json":
		default:
			return fmt.Errorf("--log-format: %q is not text or json", env.logFormat)
		}
		if env.logLevel != "" {
			if _, err := parseLevel(env.logLevel); err != nil {
				return err
			}
		}
		return nil
	}
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("--log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// logger builds the process logger on the error stream: the --log-level
// flag wins over the command's default level (def), and --log-format json
// writes one JSON object per line for log shippers.
func (e *Env) logger(def slog.Level) *slog.Logger {
	level := def
	if e.logLevel != "" {
		if l, err := parseLevel(e.logLevel); err == nil {
			level = l
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if e.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.Err, opts))
	}
	return slog.New(slog.NewTextHandler(e.Err, opts))
}
