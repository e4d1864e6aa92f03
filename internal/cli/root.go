// Package cli is the `sluice` command line: one file per command. Commands
// write to an injected Out so tests can read what a person would see.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Env is what commands need from the process: output streams, environment
// lookup and a logger.
type Env struct {
	Out    io.Writer
	Err    io.Writer
	Getenv func(string) string

	// logFormat and logLevel are the global --log-format and --log-level
	// flags (log.go); empty means the command's default.
	logFormat string
	logLevel  string
}

// DefaultEnv is the real process environment.
func DefaultEnv() *Env {
	return &Env{Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv}
}

// ExitError carries a process exit code without printing more.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Root builds the command tree.
func Root(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: a validation-gated integration layer",
		Long:          "Sluice captures records from webhooks, normalizes and validates them, holds incomplete ones,\nand delivers them to platforms under their limits, with retries, escalations and an audit trail.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addLogFlags(root, env) // log.go
	root.SetOut(env.Out)
	root.SetErr(env.Err)
	root.AddCommand(serveCmd(env), checkCmd(env))
	for _, add := range extraCommands {
		root.AddCommand(add(env))
	}
	return root
}

// extraCommands lets each command file register itself.
var extraCommands []func(*Env) *cobra.Command

// Main runs the CLI and returns the process exit code.
func Main(ctx context.Context, env *Env, args []string) int {
	root := Root(env)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		if ee, ok := err.(*ExitError); ok {
			return ee.Code
		}
		fmt.Fprintln(env.Err, "error:", err)
		return 1
	}
	return 0
}
