package cli

import (
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/bench"
)

func init() { extraCommands = append(extraCommands, benchCmd) }

func benchCmd(env *Env) *cobra.Command {
	var o bench.Options
	var faults string
	var verbose, quiet bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Sluice on this machine: an in-process server on a temporary store, a local sink and a signed load",
		Long: `bench starts Sluice in this process on a temporary store (a SQLite file, or with --store a new
schema in a PostgreSQL database, dropped afterwards) with one HTTP destination pointing at a local
sink, sends signed events to it over loopback HTTP from a separate client, and prints ingest and
end-to-end throughput and acknowledgement and delivery latencies. Every acknowledged event was
committed durably first.

  sluice bench -n 20000                       closed loop, 32 senders
  sluice bench -n 20000 --rate 2000           open loop at 2,000 events/s (acknowledgement latency)
  sluice bench --drain --sink-faults 429=0.05,500=0.05
                                              backlog drained through a sink answering 5% 429, 5% 500
  sluice bench --store postgres://... --instances 2
                                              two instances on one PostgreSQL schema`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := bench.ParseFaults(faults)
			if err != nil {
				return err
			}
			o.Faults = f
			if verbose {
				o.Log = env.logger(slog.LevelInfo)
			}
			if !quiet && isTerminal(env.Err) {
				o.Progress = env.Err
			}
			if o.Instances > 1 {
				if o.Executable, err = os.Executable(); err != nil {
					return err
				}
			}
			res, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			res.Print(env.Out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&o.Events, "events", "n", 10000, "events to send")
	fl.IntVarP(&o.Concurrency, "concurrency", "c", 32, "concurrent senders (closed loop)")
	fl.Float64Var(&o.Rate, "rate", 0, "send open loop at this many events/s instead of a closed loop")
	fl.StringVar(&o.Store, "store", "", "postgres://... to measure PostgreSQL (a new schema, dropped afterwards); default a temporary SQLite file")
	fl.BoolVar(&o.Drain, "drain", false, "capture everything with the destination paused, then time the backlog draining")
	fl.IntVar(&o.DestConcurrency, "dest-concurrency", 0, "the destination's concurrency option (0: untuned, adaptive)")
	fl.StringVar(&faults, "sink-faults", "", "share of sink answers per status, e.g. 429=0.05,500=0.05 (429s say Retry-After: 1)")
	fl.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up after this long")
	fl.IntVar(&o.Instances, "instances", 1, "run this many Sluice instances on the one --store postgres:// schema (this process and the others as `sluice serve` processes), senders spread over them")
	fl.BoolVarP(&verbose, "verbose", "v", false, "show server logs")
	fl.BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	return cmd
}

// isTerminal reports whether w is a character device (a terminal), where a
// progress bar redrawn with carriage returns makes sense.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
