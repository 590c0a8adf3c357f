package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/mcp"
	"github.com/micachain/mica/internal/nodeservice"
)

func mcpCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve the wallet to an AI agent over MCP on stdin/stdout (for desktop agents)",
		Long: `Run the node service in this process and serve it to one AI agent over the Model Context
Protocol on stdin and stdout (newline-delimited JSON-RPC): the way desktop agents start a
local MCP server. Logs go to stderr. The agent gets tools for the wallet's chains
(balance, list_chains, get_block, transfer, open_chain, process_inbox,
list_applications), one tool per query and mutation of every application the chains use
(generated from its GraphQL schema), a raw graphql tool and chain resources.

What the agent may spend is bounded by the wallet's agent policy (see
mica wallet agent-policy --help); without one the agent is read-only.

Like mica service, it holds the wallet while it runs. mica service serves the same tools
over streamable HTTP at /mcp.

A desktop agent's configuration:
  {"mcpServers": {"mica": {"command": "mica", "args": ["mcp", "--wallet", "/path/to/wallet"]}}}`,
		Args: cobra.NoArgs,
		RunE: runMCP,
	}
	cmd.Flags().Bool("process-inbox", false, "receive incoming transfers and messages on every owned chain automatically")
	return cmd
}

// newMCPServer builds the MCP server of a node service.
func newMCPServer(cmd *cobra.Command, gql mcp.GraphQL) (*mcp.Server, error) {
	dir, err := walletDir(cmd)
	if err != nil {
		return nil, err
	}
	return mcp.New(mcp.Config{GraphQL: gql, WalletDir: dir, Logger: logger(cmd), Version: version()})
}

func runMCP(cmd *cobra.Command, _ []string) error {
	svc, _, release, err := newNodeService(cmd)
	if err != nil {
		return err
	}
	defer release()
	m, err := newMCPServer(cmd, svc)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(ctx) }()
	err = m.RunStdio(ctx)
	stop()
	if rerr := <-runErr; rerr != nil && !errors.Is(rerr, context.Canceled) && err == nil {
		err = rerr
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// mountMCP serves MCP over streamable HTTP at /mcp of a node service (behind its token
// check and limits): what mica service does.
func mountMCP(cmd *cobra.Command, svc *nodeservice.Service) error {
	m, err := newMCPServer(cmd, svc)
	if err != nil {
		return fmt.Errorf("mcp: %w", err)
	}
	svc.Mount("/mcp", m.HTTPHandler())
	return nil
}
