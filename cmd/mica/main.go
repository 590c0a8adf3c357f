// Command mica is Mica's one binary. Flag parsing and wiring only: the work is done by
// the internal packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "mica",
		Short:         "Mica: a microchain blockchain node, client and application platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().Bool("json", false, "print machine-readable JSON instead of text")
	root.PersistentFlags().String("wallet", "", "wallet directory (default $MICA_WALLET or ~/.config/mica/wallet)")
	root.PersistentFlags().String("network", "", "network.json listing the validators' TLS certificates (default $MICA_NETWORK, or the one next to the wallet)")
	root.PersistentFlags().BoolP("verbose", "v", false, "log debug details to stderr")
	root.AddCommand(demoCommand(), walletCommand(), keygenCommand(), validatorCommand(), proxyCommand(), netCommand(), faucetCommand(), benchmarkCommand())
	root.AddCommand(chainCommands()...)
	root.AddCommand(appCommands()...)
	root.AddCommand(projectCommand())
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "mica: interrupted")
			os.Exit(130)
		}
		fmt.Fprintf(os.Stderr, "mica: %v\n", err)
		os.Exit(1)
	}
}
