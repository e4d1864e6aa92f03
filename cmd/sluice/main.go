// Command sluice is the Sluice integration layer. It only wires: the work
// is in internal/.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicehq/sluice/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.DefaultEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}
