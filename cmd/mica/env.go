package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/execution/wasm"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/localnet"
	"github.com/micachain/mica/internal/netup"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/wallet"
	"github.com/micachain/mica/internal/worker"
)

// out prints a result as JSON (--json) or as text lines.
func out(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(cmd.OutOrStdout())
	return nil
}

func walletDir(cmd *cobra.Command) (string, error) {
	if d, _ := cmd.Flags().GetString("wallet"); d != "" {
		return d, nil
	}
	return wallet.DefaultDir(os.Getenv)
}

// walletWait bounds how long a command waits for a wallet that another mica command has
// open for a moment (a transfer, or a watch syncing its chain). A holder that keeps the
// wallet until it is stopped (mica service) is not waited for.
const walletWait = 30 * time.Second

// walletPoll is how often a waiting command tries the wallet's lock again.
const walletPoll = 50 * time.Millisecond

// openWallet opens the wallet, waiting up to walletWait while another command has it
// open, and records this command as its holder.
func openWallet(cmd *cobra.Command) (*wallet.Wallet, error) {
	return openWalletWaiting(cmd, walletWait)
}

// openWalletWaiting is openWallet waiting up to wait (< 0: until the command is
// interrupted). It says once on stderr whom it waits for (not under --json).
func openWalletWaiting(cmd *cobra.Command, wait time.Duration) (*wallet.Wallet, error) {
	dir, err := walletDir(cmd)
	if err != nil {
		return nil, err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	deadline := time.Now().Add(wait)
	noted := false
	for {
		w, err := wallet.Open(dir)
		switch {
		case errors.Is(err, wallet.ErrNoWallet):
			return nil, fmt.Errorf("no wallet at %s: run `mica wallet init --faucet URL` (or set --wallet / MICA_WALLET)", dir)
		case err == nil:
			if herr := w.SetHolder(wallet.Holder{Command: cmd.CommandPath()}); herr != nil {
				return nil, errors.Join(herr, w.Close())
			}
			return w, nil
		case !errors.Is(err, wallet.ErrInUse):
			return nil, err
		}
		h, known := wallet.ReadHolder(dir)
		who := "another mica process"
		if known {
			who = h.String()
		}
		if h.LongRunning {
			return nil, fmt.Errorf("%w; while it runs, use its GraphQL endpoint instead of commands on this wallet", err)
		}
		if wait >= 0 && !time.Now().Before(deadline) {
			return nil, fmt.Errorf("%w (waited %v)", err, wait)
		}
		if !noted && !jsonRequested(cmd, nil) {
			fmt.Fprintf(cmd.ErrOrStderr(), "mica: waiting for the wallet: %s has it open\n", who)
			noted = true
		}
		t := time.NewTimer(walletPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// networkFilePath is the network description the CLI reads: --network, else
// $MICA_NETWORK, else the network.json next to the wallet directory (the layout of
// `mica net up`) if there is one; "" if none.
func networkFilePath(cmd *cobra.Command) string {
	path, _ := cmd.Flags().GetString("network")
	if path == "" {
		path = os.Getenv("MICA_NETWORK")
	}
	if path != "" {
		return path
	}
	dir, err := walletDir(cmd)
	if err != nil {
		return ""
	}
	path = filepath.Join(filepath.Dir(filepath.Clean(dir)), "network.json")
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}

// validatorDialOptions returns how to dial each validator that a network description
// (networkFilePath) lists (address → options): over TLS pinned to the certificate it
// records, or plaintext. Validators it does not list are dialed in plaintext.
func validatorDialOptions(cmd *cobra.Command, base rpc.DialOptions) (map[string]rpc.DialOptions, error) {
	path := networkFilePath(cmd)
	if path == "" {
		return nil, nil
	}
	nf, err := netup.ReadNetworkFile(path)
	if err != nil {
		return nil, fmt.Errorf("network description: %w", err)
	}
	return nf.DialOptionsByAddress(base)
}

// session is an open wallet with a client connected to the network's validators.
type session struct {
	w      *wallet.Wallet
	c      *client.Client
	db     kv.Store
	nodes  []*rpc.Node
	engine *wasm.Engine
	// answers counts the chain-info queries a validator answered, so that a command
	// can tell a synced answer from one of the local replica alone.
	answers atomic.Int64
	// unreachable is the first error of a validator that could not be reached.
	unreachable atomic.Pointer[error]
	// claims are the heights validators reported (chainClaims).
	claims chainClaims
}

// sessionKey holds the command's session in its context, for reportError.
type sessionKey struct{}

// unreachableError returns why the validators could not be reached when none of them
// answered anything, or nil.
func unreachableError(cmd *cobra.Command) error {
	if cmd == nil || cmd.Context() == nil {
		return nil
	}
	s, ok := cmd.Context().Value(sessionKey{}).(*session)
	if !ok {
		return nil
	}
	return s.unreachableErr()
}

// unreachableErr returns why the validators could not be reached when none of them
// answered anything in this session, or nil.
func (s *session) unreachableErr() error {
	if s.answers.Load() > 0 {
		return nil
	}
	if e := s.unreachable.Load(); e != nil {
		return *e
	}
	return nil
}

// countingNode is a validator node that counts the calls a validator answered (with a
// result or a refusal) and remembers an unreachable validator. It embeds *rpc.Node so that optional interfaces
// (notification streams) stay visible.
type countingNode struct {
	*rpc.Node
	s *session
	// addr is the validator's network address.
	addr string
}

func (n countingNode) note(err error) {
	if errors.Is(err, rpc.ErrUnreachable) {
		n.s.unreachable.CompareAndSwap(nil, &err)
		return
	}
	n.s.answers.Add(1)
}

func (n countingNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := n.Node.HandleChainInfoQuery(ctx, q)
	n.note(err)
	if err == nil && info != nil {
		n.s.claims.note(q.ChainID, n.addr, n, info.NextBlockHeight)
	}
	return info, err
}

func (n countingNode) HandleCertificate(ctx context.Context, c *protocol.Certificate) (*protocol.ChainInfo, error) {
	info, err := n.Node.HandleCertificate(ctx, c)
	n.note(err)
	return info, err
}

// HandleCertificateQuery implements client.CertificateQuerier (the embedded node's
// would skip the counting).
func (n countingNode) HandleCertificateQuery(ctx context.Context, c *protocol.Certificate, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := n.Node.HandleCertificateQuery(ctx, c, q)
	n.note(err)
	return info, err
}

func (n countingNode) HandleBlob(ctx context.Context, b protocol.Blob) error {
	err := n.Node.HandleBlob(ctx, b)
	n.note(err)
	return err
}

func (n countingNode) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	b, err := n.Node.ReadBlob(ctx, id)
	n.note(err)
	return b, err
}

func (n countingNode) Certificates(ctx context.Context, chain base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error) {
	cs, err := n.Node.Certificates(ctx, chain, from, to)
	n.note(err)
	return cs, err
}

func (n countingNode) HandleBlockProposal(ctx context.Context, p *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	info, err := n.Node.HandleBlockProposal(ctx, p)
	n.note(err)
	return info, err
}

// syncedOrNote syncs a chain (syncChain); when no validator answered, it says on stderr
// that what follows comes from the local replica only, and reports false.
func (s *session) syncedOrNote(cmd *cobra.Command, id base.ChainID) (base.BlockHeight, bool, error) {
	r, err := s.syncChain(cmd, id)
	return r.next, r.synced, err
}

func (s *session) Close() {
	if s.c != nil {
		// Let certificates still on their way to slow or lagging validators arrive
		// (bounded: a validator that does not answer is not waited for long).
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = s.c.WaitBackground(ctx)
		cancel()
	}
	if err := s.w.Save(); err != nil {
		fmt.Fprintf(os.Stderr, "mica: saving the wallet: %v\n", err)
	}
	for _, n := range s.nodes {
		_ = n.Close()
	}
	if s.db != nil {
		_ = s.db.Close()
	}
	if s.engine != nil {
		_ = s.engine.Close(context.Background())
	}
	_ = s.w.Close()
}

// connect opens the wallet, its local store (a Pebble database in the wallet
// directory) and connections to every validator of the genesis committee.
func connect(cmd *cobra.Command) (*session, error) { return connectWith(cmd, nil) }

// connectWith is connect with a hook receiving the local replica's notifications (may
// be nil): `mica service` publishes them to its subscribers.
func connectWith(cmd *cobra.Command, notify func(protocol.Notification)) (*session, error) {
	return connectWaiting(cmd, notify, walletWait)
}

// connectWaiting is connectWith waiting up to wait for the wallet (openWalletWaiting).
func connectWaiting(cmd *cobra.Command, notify func(protocol.Notification), wait time.Duration) (*session, error) {
	ctx := cmd.Context()
	w, err := openWalletWaiting(cmd, wait)
	if err != nil {
		return nil, err
	}
	s := &session{w: w}
	g := w.Genesis()
	// The local store is a replica of verified chains, re-downloaded if a machine crash
	// loses its last writes (the wallet file holds what must survive, such as a pending
	// fast proposal): it does not wait for the disk on every block.
	db, err := pebblekv.Open(filepath.Join(w.Dir(), "client-db"), pebblekv.Options{NoSync: true})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open the wallet's local store: %w", err)
	}
	s.db = db
	st := storage.New(db)
	switch stored, err := st.Genesis(ctx); {
	case err == nil:
		if stored.Hash() != g.Hash() {
			s.Close()
			return nil, fmt.Errorf("the wallet's local store belongs to another network; remove %s", filepath.Join(w.Dir(), "client-db"))
		}
	case base.IsNotFound(err):
		var b kv.Batch
		storage.PutGenesis(&b, g)
		if err := st.Write(ctx, &b); err != nil {
			s.Close()
			return nil, err
		}
	default:
		s.Close()
		return nil, err
	}
	engine, err := wasm.NewEngine(ctx, wasm.EngineConfig{CacheDir: wasmCacheDir(w.Dir())})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.engine = engine
	local := worker.New(worker.Config{Storage: st, Clock: localnet.WallClock{}, Loader: wasm.NewLoader(engine, 0), Notify: notify})
	dial, err := validatorDialOptions(cmd, rpc.DialOptions{GenesisHash: g.Hash(), CallTimeout: 5 * time.Second})
	if err != nil {
		s.Close()
		return nil, err
	}
	var vals []client.Validator
	for _, v := range g.Committee.Validators {
		opts, ok := dial[v.NetworkAddress]
		if !ok {
			opts = rpc.DialOptions{GenesisHash: g.Hash(), CallTimeout: 5 * time.Second}
		}
		n, err := rpc.Dial(ctx, v.NetworkAddress, opts)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("validator %s: %w", v.NetworkAddress, err)
		}
		s.nodes = append(s.nodes, n)
		vals = append(vals, client.Validator{PublicKey: v.PublicKey, Node: countingNode{Node: n, s: s, addr: v.NetworkAddress}})
	}
	cmd.SetContext(context.WithValue(cmd.Context(), sessionKey{}, s))
	s.c = client.New(client.Config{Local: local, Committee: &g.Committee, Validators: vals, Clock: localnet.WallClock{}, Dial: s.dialMember(dial, g.Hash())})
	// Validators that joined after genesis (committees the admin chain created) are
	// reached at the addresses of the verified committees (committeecmds.go).
	if err := s.c.LearnValidators(ctx, g.ChainIDs()[0]); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// connectOn connects (connect) and resolves the chain a command names (name, or the
// wallet's default chain when name is ""). The caller closes the session.
func connectOn(cmd *cobra.Command, name string) (*session, base.ChainID, error) {
	s, err := connect(cmd)
	if err != nil {
		return nil, base.ChainID{}, err
	}
	id, err := s.chainArg(nonEmpty(name), 0)
	if err != nil {
		s.Close()
		return nil, base.ChainID{}, err
	}
	return s, id, nil
}

// chainArg returns the chain named by args[i], or the wallet's default chain.
func (s *session) chainArg(args []string, i int) (base.ChainID, error) {
	if len(args) > i {
		return base.ParseChainID(args[i])
	}
	id, ok := s.w.Default()
	if !ok {
		return base.ChainID{}, errors.New("no chain given and the wallet has no default chain: run `mica wallet request-chain` or `mica wallet set-default`")
	}
	return id, nil
}

// chainClient returns a client for a chain the wallet owns.
func (s *session) chainClient(id base.ChainID) (*client.ChainClient, error) {
	return nodeservice.ChainClient(s.w, s.c, id)
}

// commit runs a chain operation, clearing the persisted fast proposal once committed
// (nodeservice.Commit). It retries what is retryable — validators that answer late or
// restart, rounds to wait out — for up to nodeservice.DefaultRetryTime, saying so on
// stderr (stdout stays the command's result, under --json too). When no validator
// answered anything, the network is down (or the addresses wrong): the command fails
// at once, saying which validator it cannot reach (describeError).
func (s *session) commit(ctx context.Context, cc *client.ChainClient, f func() (*protocol.Certificate, error)) (*protocol.Certificate, error) {
	return nodeservice.Commit(ctx, s.w, cc, f, nodeservice.Retry{
		Retryable: func(error) bool { return s.unreachableErr() == nil },
		OnWait:    func(w nodeservice.Wait) { fmt.Fprintf(os.Stderr, "%s...\n", w) },
	})
}

// wasmCacheDir is the directory of the compiled Wasm modules of a wallet's local node:
// userWasmCacheDir, or wasm-cache in the wallet if the user has no cache directory.
func wasmCacheDir(wallet string) string {
	if d := userWasmCacheDir(); d != "" {
		return d
	}
	return filepath.Join(wallet, "wasm-cache")
}

// userWasmCacheDir is the user's cache of compiled Wasm modules: $MICA_WASM_CACHE if
// set, else mica/wasm in the user's cache directory (os.UserCacheDir: $XDG_CACHE_HOME,
// else ~/.cache, on Linux), or "" if the user has none. Every wallet, service and `net
// up` network of the user shares it, so that an application's module is compiled once
// per user and machine instead of once per wallet and once more per network (a Go
// guest takes seconds; a new wallet following a chain that uses it loads it from the
// cache instead). Concurrent processes share it safely: each module is compiled under
// its own lock file (wasm.EngineConfig.CacheDir), and wazero keys its files by the
// module's bytes, its own version and the CPU's features.
func userWasmCacheDir() string {
	if d := os.Getenv("MICA_WASM_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mica", "wasm")
	}
	return ""
}
