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
	root := rootCommand()
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return
	}
	code, err := failure(ctx, err)
	stop()
	reportError(cmd, os.Args[1:], err)
	os.Exit(code)
}

// failure returns the exit status of a command that failed with err and the error to
// report: 130 when interrupted, 2 for bad usage, else 1. ctx is the command's context,
// done once the user pressed Ctrl-C: a failure after that is the interruption, however
// the layers below worded the cancellation.
func failure(ctx context.Context, err error) (int, error) {
	var ue *usageError
	switch {
	case errors.Is(err, context.Canceled):
		return 130, err
	case ctx.Err() != nil:
		return 130, fmt.Errorf("%w: %v", context.Canceled, err)
	case errors.As(err, &ue) || isCobraUsage(err.Error()):
		return 2, err // bad usage: an unknown command or flag, a missing argument
	}
	return 1, err
}

// rootCommand builds the whole command tree.
func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "mica",
		Short:         "Mica: a microchain blockchain node, client and application platform",
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every global flag not given on the command line takes its MICA_* variable.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd) },
	}
	root.SetVersionTemplate("mica {{.Version}}\n")
	root.PersistentFlags().Bool("json", false, "print machine-readable JSON instead of text, errors as JSON on stderr ($MICA_JSON)")
	root.PersistentFlags().String("wallet", "", "wallet directory (default $MICA_WALLET or ~/.config/mica/wallet)")
	root.PersistentFlags().String("network", "", "network.json listing the validators' TLS certificates (default $MICA_NETWORK, or the one next to the wallet)")
	root.PersistentFlags().BoolP("verbose", "v", false, "log debug details to stderr, as --log-level debug ($MICA_VERBOSE)")
	addLogFlags(root)
	root.AddCommand(demoCommand(), walletCommand(), keygenCommand(), validatorCommand(), proxyCommand(), netCommand(), faucetCommand(), benchmarkCommand())
	root.AddCommand(chainCommands()...)
	root.AddCommand(appCommands()...)
	root.AddCommand(dataBlobCommands()...)
	root.AddCommand(streamCommands()...)
	root.AddCommand(projectCommand())
	addCommitteeCommands(root)
	root.AddCommand(serviceCommand(), mcpCommand())
	root.SetFlagErrorFunc(flagError)
	refuseUnknownSubcommands(root)
	explainArgErrors(root)
	addExamples(root)
	return root
}
