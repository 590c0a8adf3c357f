package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/wallet"
)

func serviceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Serve the wallet's chains and applications over GraphQL (and GraphiQL) on a local port",
		Long: `Run the node service: the client keeps every chain of the wallet synced (validator
notifications plus a catch-up every 5 s) and serves
  /                                        the system GraphQL schema: wallet, chains, blocks,
                                           blobs; mutations (transfer, openChain, ...) that
                                           the service signs with the wallet's keys; the
                                           notifications subscription (graphql-transport-ws,
                                           graphql-ws, SSE)
  /chains/CHAIN/applications/APP           each application's own GraphQL (a mutation's
                                           scheduled operations become a block on CHAIN)
and GraphiQL to browsers on each of them.

While it runs, the service owns the wallet: other mica commands on the same wallet
refuse at once, naming the service and its URL (use its GraphQL endpoint, or stop it
with Ctrl-C first). Commands that hold the wallet only for a moment are waited for.

Security: it listens on 127.0.0.1 by default. Anyone who can reach the port can read the
wallet's chains and, without --token-file, spend from them. A non-loopback --listen
requires --token-file: then every request needs "Authorization: Bearer TOKEN" (websocket
clients may send it in connection_init as {"Authorization": "Bearer TOKEN"}). On loopback
with --token-file, queries stay open and mutations, subscriptions and /mcp need the token.
Browsers of other origins are refused unless --allow-origin names them.`,
		Example: "  mica service\n  mica service --port 8080 --process-inbox\n  mica service --listen 0.0.0.0 --token-file token.txt --allow-origin https://app.example",
		Args:    cobra.NoArgs,
		RunE:    runService,
	}
	cmd.Flags().Int("port", 8080, "TCP port to listen on (0: any free port)")
	cmd.Flags().String("listen", "127.0.0.1", "address to listen on; anything but loopback requires --token-file")
	cmd.Flags().Bool("process-inbox", false, "receive incoming transfers and messages on every owned chain automatically")
	cmd.Flags().String("token-file", "", "file holding the bearer token that mutations, subscriptions and /mcp require (all requests when not on loopback)")
	cmd.Flags().StringSlice("allow-origin", nil, "browser origins allowed by CORS (e.g. http://localhost:3000; * for any); default none")
	return cmd
}

// isLoopback reports whether a listen address is a loopback one.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readToken reads a bearer token file (surrounding whitespace ignored).
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("--token-file %s: the token must have at least 16 characters", path)
	}
	return tok, nil
}

// newNodeService connects to the network with the wallet and builds the node service
// from the command's flags (those it lacks take their defaults: --process-inbox,
// --token-file, --allow-origin, --listen). The returned function releases everything
// (wallet lock, store, connections); call it after the service stops. The service
// holds the wallet until then, recorded as a long-running holder (so that other
// commands refuse at once instead of waiting for it); w is the wallet, for a more
// precise record. `mica mcp` shares it.
func newNodeService(cmd *cobra.Command) (svc *nodeservice.Service, w *wallet.Wallet, release func(), err error) {
	processInbox, _ := cmd.Flags().GetBool("process-inbox")
	tokenFile, _ := cmd.Flags().GetString("token-file")
	origins, _ := cmd.Flags().GetStringSlice("allow-origin")
	listen, _ := cmd.Flags().GetString("listen")
	if listen == "" {
		listen = "127.0.0.1"
	}
	var token string
	if tokenFile != "" {
		var err error
		if token, err = readToken(tokenFile); err != nil {
			return nil, nil, nil, err
		}
	}
	if !isLoopback(listen) && token == "" {
		return nil, nil, nil, fmt.Errorf("--listen %s is not a loopback address: give --token-file so that only holders of the token can use the wallet", listen)
	}
	hub := nodeservice.NewHub()
	s, err := connectWith(cmd, hub.Publish)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.w.SetHolder(wallet.Holder{Command: cmd.CommandPath(), LongRunning: true}); err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	svc, err = nodeservice.New(nodeservice.Config{
		Wallet:          s.w,
		Client:          s.c,
		Logger:          logger(cmd),
		Hub:             hub,
		ProcessInbox:    processInbox,
		Token:           token,
		TokenForQueries: !isLoopback(listen),
		AllowOrigins:    origins,
		LoopbackHosts:   isLoopback(listen),
		RequestChain: func(ctx context.Context, url string, owner base.Owner) (base.ChainID, error) {
			fc := faucetClient(url)
			g, err := fc.Genesis(ctx)
			if err != nil {
				return base.ChainID{}, err
			}
			if g.Hash() != s.w.Genesis().Hash() {
				return base.ChainID{}, fmt.Errorf("the faucet at %s serves network %q, not this wallet's %q", url, g.NetworkName, s.w.Genesis().NetworkName)
			}
			opened, err := fc.Claim(ctx, owner)
			return opened.ChainID, err
		},
	})
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	var closed atomic.Bool
	return svc, s.w, func() {
		if closed.CompareAndSwap(false, true) {
			_ = svc.Close()
			s.Close()
		}
	}, nil
}

func runService(cmd *cobra.Command, _ []string) error {
	port, _ := cmd.Flags().GetInt("port")
	listen, _ := cmd.Flags().GetString("listen")
	if port < 0 || port > 65535 {
		return fmt.Errorf("--port %d: want 0..65535", port)
	}
	withTimerSlack(cmd)
	svc, w, release, err := newNodeService(cmd)
	if err != nil {
		return err
	}
	defer release()
	if err := mountMCP(cmd, svc); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(listen, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen: %w", explainPortTaken(err, "--port"))
	}
	if err := w.SetHolder(wallet.Holder{Command: cmd.CommandPath(), LongRunning: true, Detail: "serving http://" + ln.Addr().String() + "/"}); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(cmd.OutOrStdout(), "mica service: GraphQL (and GraphiQL) at %s/\n", url)
	fmt.Fprintf(cmd.OutOrStdout(), "mica service: applications at %s/chains/CHAIN/applications/APP; subscriptions at ws://%s/\n", url, ln.Addr())
	fmt.Fprintf(cmd.OutOrStdout(), "mica service: MCP for AI agents (streamable HTTP) at %s/mcp\n", url)
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(ctx) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		stop()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if rerr := <-runErr; rerr != nil && err == nil {
		err = rerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "mica service: stopped")
	return err
}
