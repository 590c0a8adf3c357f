package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/bench"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/wallet"
)

// benchWalletDir is the benchmark wallet's directory inside the user's wallet: a wallet
// of its own (same network) holding the benchmark chains and their keys.
const benchWalletDir = "benchmark"

// benchReport is the output of `mica benchmark`: what the run measured, and where the
// funds went.
type benchReport struct {
	*bench.Result
	Funding benchFunding `json:"funding"`
}

// benchFunding says which chain lent the funds and whether they came back.
type benchFunding struct {
	// Chain is the funding chain (--from, else the wallet's default chain).
	Chain string `json:"chain"`
	// BalanceBefore and BalanceAfter are the funding chain's balance before the
	// benchmark chains were funded and after their funds came back.
	BalanceBefore base.Amount `json:"balance_before"`
	BalanceAfter  base.Amount `json:"balance_after"`
	// Lent is what the funding chain sent to the benchmark chains for this run;
	// Returned is what they sent back (more than Lent if an interrupted earlier run
	// had left funds on them).
	Lent     base.Amount `json:"lent"`
	Returned base.Amount `json:"returned"`
	// Remaining is what the benchmark chains still hold (returned by the next run).
	Remaining base.Amount `json:"remaining"`
	// Wallet is the benchmark wallet holding the benchmark chains' keys.
	Wallet       string `json:"benchmark_wallet"`
	ChainsOpened int    `json:"chains_opened"`
	ChainsReused int    `json:"chains_reused"`
}

// benchOptions are the flags of `mica benchmark`.
type benchOptions struct {
	chains, perBlock       int
	rate                   float64
	duration, killAfter    time.Duration
	from, fund, cpuprofile string
	memprofile             string
	scenario, examples     string
	metrics                []string
	kill                   string
}

func benchmarkCommand() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "benchmark",
		Short: "Load a running network: chains transfer to each other (or run applications) in a loop; prints operations/s, finality p50/p99, CPU per block and the errors met",
		Long: `benchmark runs --chains benchmark chains that commit blocks of
--transactions-per-block operations as fast as they can for --duration. Finality
latency is measured per block from building it to holding its confirmed certificate.
Errors are counted by kind, with the first example of each.

--rate R offers a fixed load instead: R operations per second over all chains,
scheduled open-loop. With C chains and K operations per block, chain c's k-th block
is due (k·C + c)·K/R seconds into the run (the chains evenly staggered); a chain has
one block in flight at most, so it starts a block at its due time or, if its
previous block is still running, when that one ends, and falls behind when the
network cannot keep up. Finality is then also timed from the due time (the headline
finality stays the service time, from building the block), and the result says how
many blocks started late and how far behind schedule the run ended (schedule in
the JSON). Rate 0, the default, is the closed loop; R must give every chain at least
one block within --duration. In a closed loop of C chains finality is about
C / throughput whatever the network's speed; a rate below saturation measures it.

--scenario says what the blocks hold:
  transfers    1-atto transfers to the next chain of a ring
  cross-chain  the same ring, but a transfer counts once the receiver has committed
               the block receiving it: finality runs from building the sending block
               to the receiver's confirmed certificate
  counter      increments of the counter application (examples/counter), each chain
               on its own state
  fungible     1-token transfers of the fungible application (examples/fungible) to
               the next chain's owner
  mix          operations cycling through the three kinds above
The applications are built (mica project build, from --examples), published and
created once, from the funding chain, and reused by later runs (recorded in
WALLET/benchmark/apps.json); the funding chain, which holds the token's supply,
grants each benchmark chain tokens for the run.

CPU per block: the benchmark's own CPU time (getrusage) and each validator's
process_cpu_seconds_total read from its metrics endpoint before and after the load
(--metrics, default the endpoints that ` + "`mica net up`" + ` recorded in network.json next
to the wallet), divided by the committed blocks.

--kill-validator NAME kills that validator of the local network (kill -9, its pid
from network.json) --kill-after into the run and reports the figures before and
after apart (phases): finality with all validators up against one down.

The benchmark chains are funded from --from (default: the wallet's default chain), so
any wallet with a funded chain works, for instance one obtained from a faucet. Their
keys are kept in the benchmark wallet WALLET/benchmark (a wallet of its own, for the
same network), saved before each chain is opened, and later runs reuse them. At the
end every benchmark chain sends its whole balance back to the funding chain, which
receives it: with zero fees its balance ends where it started. Ctrl-C ends the run
early and still returns the funds; if a run is killed, the next one returns them.

Progress goes to stderr once a second; stdout has only the result (--json: only the
JSON document).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.chains < 1 || o.perBlock < 1 || o.duration <= 0 {
				return errors.New("--chains, --transactions-per-block and --duration must be positive")
			}
			if err := bench.CheckRate(o.rate, o.chains, o.perBlock, o.duration); err != nil {
				return fmt.Errorf("--rate: %w", err)
			}
			withTimerSlack(cmd)
			sc, err := bench.ParseScenario(o.scenario)
			if err != nil {
				return fmt.Errorf("--scenario: %w", err)
			}
			perChain, err := base.ParseAmount(o.fund)
			if err != nil {
				return fmt.Errorf("--fund: %w", err)
			}
			if perChain.Compare(base.AmountFromAttos(uint64(o.perBlock))) < 0 {
				return fmt.Errorf("--fund %s is less than one block's transfers (%d attos)", perChain, o.perBlock)
			}
			metrics, err := benchMetrics(cmd, o.metrics)
			if err != nil {
				return err
			}
			withBenchRuntime(cmd)
			var events []bench.Event
			if o.kill != "" {
				if events, err = killEvent(cmd, o); err != nil {
					return err
				}
			}
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			r := &benchRun{s: s, cmd: cmd, stderr: cmd.ErrOrStderr(), perChain: perChain}
			if err := r.setUp(cmd.Context(), o.from, o.chains, sc, o.examples); err != nil {
				return errors.Join(err, r.close())
			}
			cfg := bench.Config{Chains: r.ccs, Scenario: sc, OpsPerBlock: o.perBlock, CounterApp: r.counter, FungibleApp: r.fungible, Duration: o.duration, Rate: o.rate, Now: time.Now, Events: events}
			if o.kill != "" {
				cfg.FirstPhase = "all validators up"
			}
			res, runErr := r.run(cmd.Context(), cfg, metrics, o.cpuprofile, o.memprofile)
			// Return the funds even if the run was interrupted (Ctrl-C), within a bound.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 2*time.Minute)
			defer cancel()
			retErr := r.returnFunds(rctx)
			if err := errors.Join(runErr, retErr, r.close()); err != nil {
				return err
			}
			rep := &benchReport{Result: res, Funding: r.funding}
			return out(cmd, rep, func(o io.Writer) { printBenchReport(o, rep) })
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.chains, "chains", 4, "number of chains committing blocks in parallel")
	f.IntVar(&o.perBlock, "transactions-per-block", 1, "operations in each block (transfers, increments or token transfers)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run")
	f.Float64Var(&o.rate, "rate", 0, "offered load in operations per second over all chains, scheduled open-loop (see above); 0: each chain commits its next block as soon as the last one is final")
	f.StringVar(&o.scenario, "scenario", string(bench.Transfers), "what the blocks hold: transfers, cross-chain, counter, fungible or mix (see above)")
	f.StringVar(&o.examples, "examples", "examples", "directory holding the counter/ and fungible/ example applications, built and published once by the scenarios that need them")
	f.StringSliceVar(&o.metrics, "metrics", nil, "validators' metrics endpoints (comma-separated http://HOST:PORT) whose process CPU time is sampled; default: those in network.json next to the wallet; none: do not sample")
	f.StringVar(&o.kill, "kill-validator", "", "kill -9 this validator of the local network (a name in network.json, e.g. validator-3) --kill-after into the run, and report both phases")
	f.DurationVar(&o.killAfter, "kill-after", 0, "when --kill-validator strikes (default: half of --duration)")
	chainFlag(cmd, &o.from, "chain of the wallet that funds the benchmark chains (default: the wallet's default chain)", "from")
	f.StringVar(&o.fund, "fund", "0.001", "tokens lent to each benchmark chain for the run (returned at the end)")
	f.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the benchmark client during the load to this file (go tool pprof)")
	f.StringVar(&o.memprofile, "memprofile", "", "write a profile of the benchmark client's allocations (since it started: set-up and load) to this file at the end of the load (go tool pprof -sample_index=alloc_objects)")
	return cmd
}

// killEvent is the --kill-validator event: it finds the validator's process now, so
// that a wrong name fails before any chain is funded.
func killEvent(cmd *cobra.Command, o benchOptions) ([]bench.Event, error) {
	pid, err := benchValidatorPID(cmd, o.kill)
	if err != nil {
		return nil, fmt.Errorf("--kill-validator: %w", err)
	}
	at := o.killAfter
	if at <= 0 {
		at = o.duration / 2
	}
	if at >= o.duration {
		return nil, fmt.Errorf("--kill-after %v is not within --duration %v", at, o.duration)
	}
	return []bench.Event{{At: at, Name: o.kill + " killed", Do: func() error { return killProcess(pid) }}}, nil
}

// benchNoun names what a scenario counts, and " received" when a transfer counts once
// received (cross-chain).
func benchNoun(sc bench.Scenario) (what, received string) {
	switch sc {
	case bench.Transfers:
		return "transfers", ""
	case bench.CrossChain:
		return "transfers", " received"
	}
	return "operations", ""
}

func printBenchReport(o io.Writer, rep *benchReport) {
	res, f := rep.Result, rep.Funding
	what, received := benchNoun(res.Scenario)
	fmt.Fprintf(o, "%s: %d chains, %d per block, %.1f s: %d blocks, %d %s%s, %.0f %s/s, finality p50 %.2f ms, p99 %.2f ms, %d errors\n",
		res.Scenario, res.Chains, res.TxPerBlock, res.DurationSeconds, res.Blocks, res.Transactions, what, received, res.TxPerSecond, what, res.LatencyP50Ms, res.LatencyP99Ms, res.Errors)
	if s := res.Schedule; s != nil {
		late := 0.0
		if res.Blocks > 0 {
			late = 100 * float64(s.LateBlocks) / float64(res.Blocks)
		}
		fmt.Fprintf(o, "  offered %.0f %s/s: finality from the due time p50 %.2f ms, p99 %.2f ms (above: from building the block); %d of %d blocks started late (%.0f %%); %d of %d due not committed, %.0f ms behind schedule at the end\n",
			s.OfferedTxPerSecond, what, s.FromDueP50Ms, s.FromDueP99Ms, s.LateBlocks, res.Blocks, late, s.NotCommitted, s.BlocksDue, s.BehindMs)
	}
	if rc := res.Receipts; rc != nil && res.Scenario != bench.CrossChain {
		fmt.Fprintf(o, "  received by the next chain's block: %d, p50 %.2f ms, p99 %.2f ms after building the sending block\n", rc.Count, rc.P50Ms, rc.P99Ms)
	}
	if res.Scenario == bench.Mix {
		fmt.Fprintf(o, "  operations: %d transfers, %d counter increments, %d token transfers\n", res.OperationsByKind["transfer"], res.OperationsByKind["counter"], res.OperationsByKind["fungible"])
	}
	if res.SlowRoundBlocks > 0 {
		fmt.Fprintf(o, "  %d blocks confirmed after the fast round\n", res.SlowRoundBlocks)
	}
	if c := res.CPU; c != nil && res.Blocks == 0 {
		fmt.Fprintf(o, "CPU: client %.2f s, validators %.2f s, and no block committed\n", c.ClientSeconds, c.ValidatorsSeconds)
	} else if c != nil && len(c.Validators) == 0 {
		fmt.Fprintf(o, "CPU per block: client %.2f ms (validators not sampled: give their metrics endpoints with --metrics)\n", c.ClientMsPerBlock)
	} else if c != nil {
		fmt.Fprintf(o, "CPU per block: client %.2f ms, validators %.2f ms (%d of %d measured), total %.2f ms\n",
			c.ClientMsPerBlock, c.ValidatorsMsPerBlock, c.ValidatorsMeasured, len(c.Validators), c.TotalMsPerBlock)
		for _, v := range c.Validators {
			if v.Error != "" {
				fmt.Fprintf(o, "  %s: not measured: %s\n", v.Metrics, v.Error)
			}
		}
	}
	for _, p := range res.Phases {
		fmt.Fprintf(o, "  %-20s %5.1f–%.1f s: %d blocks, %.0f %s/s, finality p50 %.2f ms, p99 %.2f ms, %d errors\n",
			p.Name, p.StartSeconds, p.StartSeconds+p.Seconds, p.Blocks, p.TxPerSecond, what, p.LatencyP50Ms, p.LatencyP99Ms, p.Errors)
	}
	for _, k := range res.ErrorKinds {
		fmt.Fprintf(o, "  %6d × %s\n           first: %s\n", k.Count, k.Kind, k.Example)
	}
	fmt.Fprintf(o, "funds: lent %s from %s, returned %s; its balance %s before, %s after", f.Lent, f.Chain, f.Returned, f.BalanceBefore, f.BalanceAfter)
	if !f.Remaining.IsZero() {
		fmt.Fprintf(o, "; %s still on the benchmark chains (the next run returns it)", f.Remaining)
	}
	fmt.Fprintf(o, "\nbenchmark chains: %d opened, %d reused; keys in %s\n", f.ChainsOpened, f.ChainsReused, f.Wallet)
}

// benchRun is one `mica benchmark`: the user's session, the benchmark wallet, the
// funding chain and the benchmark chains.
type benchRun struct {
	s        *session
	bs       *session // the benchmark wallet, sharing s's client
	cmd      *cobra.Command
	stderr   io.Writer
	perChain base.Amount
	fc       *client.ChainClient
	ccs      []*client.ChainClient
	funding  benchFunding
	// returnable is what the benchmark chains held once funded, before the run: what
	// must come back.
	returnable base.Amount
	// counter and fungible are the scenario's applications (prepareApps).
	counter, fungible base.ApplicationID
}

func (r *benchRun) close() error {
	if r.bs == nil {
		return nil
	}
	err := r.bs.w.Save()
	return errors.Join(err, r.bs.w.Close())
}

// balance syncs a chain and returns its chain balance.
func (r *benchRun) balance(ctx context.Context, id base.ChainID) (base.Amount, error) {
	if _, err := r.s.c.SyncChain(ctx, id); err != nil {
		return base.Amount{}, fmt.Errorf("sync chain %s: %w", id.Short(), err)
	}
	return r.s.c.LocalBalance(ctx, base.Account{Chain: id})
}

// pushLocal gives every validator the certificates of a chain that the local node has
// and the validator lacks. A block whose certificate formed but whose broadcast was cut
// short (a killed or interrupted run) leaves the chain ahead in the local node only;
// until the validators have that block, they report its inbox at another height and
// the client sees nothing to receive, so the funds it holds could not come back.
func (r *benchRun) pushLocal(ctx context.Context, id base.ChainID) error {
	tip, err := r.s.c.LocalTip(ctx, id)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range r.s.nodes {
		info, err := n.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
		if err != nil || info.NextBlockHeight >= tip.NextHeight {
			continue // an unreachable validator is the client's usual business
		}
		certs, err := r.s.c.Local().Certificates(ctx, id, info.NextBlockHeight, tip.NextHeight)
		if err != nil {
			return err
		}
		for _, c := range certs {
			if _, err := n.HandleCertificate(ctx, c); err != nil {
				errs = append(errs, fmt.Errorf("give block %d of chain %s to a validator: %w", c.Height(), id.Short(), err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// openBenchWallet opens the benchmark wallet, creating it for the user's network.
func openBenchWallet(w *wallet.Wallet) (*wallet.Wallet, error) {
	dir := filepath.Join(w.Dir(), benchWalletDir)
	bw, err := wallet.Open(dir)
	if errors.Is(err, wallet.ErrNoWallet) {
		return wallet.Create(dir, w.Genesis())
	}
	if err != nil {
		return nil, fmt.Errorf("benchmark wallet: %w", err)
	}
	if bw.Genesis().Hash() != w.Genesis().Hash() {
		return nil, errors.Join(fmt.Errorf("the benchmark wallet %s belongs to another network; remove it (after returning its funds)", dir), bw.Close())
	}
	return bw, nil
}

// setUp picks the funding chain, reuses or opens the benchmark chains, funds each to
// perChain and prepares the scenario's applications.
func (r *benchRun) setUp(ctx context.Context, from string, n int, sc bench.Scenario, examples string) error {
	s := r.s
	var args []string
	if from != "" {
		args = []string{from}
	}
	funder, err := s.chainArg(args, 0)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	if r.fc, err = s.chainClient(funder); err != nil {
		return fmt.Errorf("funding chain: %w", err)
	}
	bw, err := openBenchWallet(s.w)
	if err != nil {
		return err
	}
	r.bs = &session{w: bw, c: s.c}
	r.funding = benchFunding{Chain: funder.String(), Wallet: bw.Dir()}
	if r.funding.BalanceBefore, err = r.balance(ctx, funder); err != nil {
		return fmt.Errorf("funding chain: %w", err)
	}

	// Reuse the benchmark chains the wallet has keys for; top each up to perChain.
	var ids []base.ChainID
	var topUp []base.Amount
	need := base.ZeroAmount
	for _, ch := range bw.Chains() {
		if len(ids) == n {
			break
		}
		if ch.Owner == nil {
			continue
		}
		bal, err := r.balance(ctx, ch.ID)
		if err == nil {
			err = r.pushLocal(ctx, ch.ID)
		}
		if err != nil {
			fmt.Fprintf(r.stderr, "benchmark chain %s is not usable, skipped: %v\n", ch.ID.Short(), err)
			continue
		}
		ids = append(ids, ch.ID)
		t := r.perChain.SaturatingSub(bal)
		topUp = append(topUp, t)
		if need, err = need.Add(t); err != nil {
			return err
		}
	}
	r.funding.ChainsReused = len(ids)
	r.funding.ChainsOpened = n - len(ids)
	newFunds, err := r.perChain.MulUint64(uint64(n - len(ids)))
	if err != nil {
		return err
	}
	if need, err = need.Add(newFunds); err != nil {
		return err
	}
	if r.funding.BalanceBefore.Compare(need) < 0 {
		return fmt.Errorf("the funding chain %s holds %s; the benchmark needs %s (lower --fund or --chains, or fund it)", funder.Short(), r.funding.BalanceBefore, need)
	}
	r.funding.Lent = need

	for i, id := range ids {
		if topUp[i].IsZero() {
			continue
		}
		if _, err := s.commit(ctx, r.fc, func() (*protocol.Certificate, error) {
			return r.fc.Transfer(ctx, base.ChainOwner, base.Account{Chain: id}, topUp[i])
		}); err != nil {
			return fmt.Errorf("fund benchmark chain %s: %w", id.Short(), err)
		}
	}
	if r.funding.ChainsOpened > 0 {
		fmt.Fprintf(r.stderr, "opening %d benchmark chains (keys in %s)...\n", r.funding.ChainsOpened, bw.Dir())
	}
	for len(ids) < n {
		// The key is on disk before the chain holding funds exists.
		k, err := bw.GenerateKey(crypto.Ed25519)
		if err != nil {
			return err
		}
		var id base.ChainID
		owner := k.Public().Owner()
		if _, err := s.commit(ctx, r.fc, func() (*protocol.Certificate, error) {
			var cert *protocol.Certificate
			var err error
			id, cert, err = r.fc.OpenChain(ctx, protocol.SingleSuperOwner(owner), r.perChain)
			return cert, err
		}); err != nil {
			return fmt.Errorf("open benchmark chain: %w", err)
		}
		if err := bw.AddChain(id, &owner); err != nil {
			return err
		}
		if err := bw.Save(); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		cc, err := r.bs.chainClient(id)
		if err != nil {
			return err
		}
		r.ccs = append(r.ccs, cc)
	}
	if err := r.prepareApps(ctx, sc, examples); err != nil {
		return err
	}
	// Receive the top-ups (and the scenario's tokens), so that every chain starts with
	// perChain.
	if err := r.eachChain(ctx, r.ccs, func(cc *client.ChainClient) error {
		_, err := r.bs.commit(ctx, cc, func() (*protocol.Certificate, error) { return cc.ProcessInbox(ctx) })
		return err
	}); err != nil {
		return fmt.Errorf("benchmark chain inbox: %w", err)
	}
	if err := r.warmUp(ctx, sc); err != nil {
		return err
	}
	for _, cc := range r.ccs {
		bal, err := r.s.c.LocalBalance(ctx, base.Account{Chain: cc.ID()})
		if err != nil {
			return err
		}
		if r.returnable, err = r.returnable.Add(bal); err != nil {
			return err
		}
	}
	return nil
}

// eachChain runs f on every chain in parallel and joins the errors.
func (r *benchRun) eachChain(ctx context.Context, ccs []*client.ChainClient, f func(*client.ChainClient) error) error {
	errs := make([]error, len(ccs))
	var wg sync.WaitGroup
	for i, cc := range ccs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(cc); err != nil {
				errs[i] = fmt.Errorf("chain %s: %w", cc.ID().Short(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// run drives the load, with the progress line on stderr, the CPU and allocation
// profiles if asked and the CPU time of the client and of the validators at metrics.
func (r *benchRun) run(ctx context.Context, cfg bench.Config, metrics []string, cpuprofile, memprofile string) (*bench.Result, error) {
	if memprofile != "" {
		stop, err := startAllocProfile(memprofile)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintf(r.stderr, "mica: %v\n", err)
			}
		}()
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, errors.Join(fmt.Errorf("--cpuprofile: %w", err), f.Close())
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				fmt.Fprintf(r.stderr, "mica: --cpuprofile: %v\n", err)
			}
		}()
	}
	tty := isTerminal(r.stderr)
	what, received := benchNoun(cfg.Scenario)
	cfg.Progress = func(p bench.Progress) {
		line := fmt.Sprintf("%5.0fs  %d blocks  %d %s%s  %.0f %s/s  %d errors",
			p.Elapsed.Seconds(), p.Blocks, p.Transfers, what, received, p.TransfersPerSecond(), what, p.Errors)
		if cfg.Rate > 0 {
			line += fmt.Sprintf("  offered %.0f/s, %.0f ms behind", cfg.Rate, float64(p.Behind.Microseconds())/1000)
		}
		if tty {
			fmt.Fprintf(r.stderr, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(r.stderr, line)
		}
	}
	hc := &http.Client{}
	sctx := context.WithoutCancel(ctx) // sampled after Ctrl-C too
	before := bench.SampleCPU(sctx, hc, metrics)
	store, _ := r.s.db.(*pebblekv.Store)
	storeBefore := storeStats(store)
	res, err := bench.Run(ctx, cfg)
	if tty {
		fmt.Fprintln(r.stderr)
	}
	if err == nil {
		res.CPU = bench.CPUBetween(before, bench.SampleCPU(sctx, hc, metrics), res.Blocks)
		res.ClientStore = storeWork(storeBefore, storeStats(store), res.Blocks)
	}
	return res, err
}

// storeStats reads a store's counters (nil if there is no Pebble store or it failed).
func storeStats(s *pebblekv.Store) *pebblekv.Stats {
	if s == nil {
		return nil
	}
	st, err := s.Stats()
	if err != nil {
		return nil
	}
	return &st
}

// storeWork is what the store did between two samples, per block (nil without both).
func storeWork(before, after *pebblekv.Stats, blocks int) *bench.StoreWork {
	if before == nil || after == nil || blocks <= 0 {
		return nil
	}
	per := func(a, b uint64) float64 { return float64(b-a) / 1e3 / float64(blocks) }
	return &bench.StoreWork{
		Flushes:                  after.Flushes - before.Flushes,
		FlushedKBPerBlock:        per(before.FlushedBytes, after.FlushedBytes),
		Compactions:              after.Compactions - before.Compactions,
		CompactedKBPerBlock:      per(before.CompactedBytes, after.CompactedBytes),
		CompactionDebtMB:         float64(after.CompactionDebt) / 1e6,
		L0Files:                  after.L0Files,
		ReadAmp:                  after.ReadAmp,
		Tables:                   after.Tables,
		BlobFiles:                after.BlobFiles,
		BlockCacheMissesPerBlock: float64(after.BlockCacheMisses-before.BlockCacheMisses) / float64(blocks),
	}
}

// startAllocProfile returns a function that writes the process's allocations so far
// (the heap profile: alloc_objects and alloc_space, sampled by the runtime) to path,
// which it creates now so that a bad path fails before the load.
func startAllocProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--memprofile: %w", err)
	}
	return func() error {
		runtime.GC() // the profile holds the allocations up to the last collection
		err := pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		return nil
	}, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// maxIdlePasses is how many passes in a row (250 ms apart) may return nothing before
// returnFunds gives up waiting for transfers still in flight between the chains.
const maxIdlePasses = 20

// returnFunds sends every benchmark chain's balance back to the funding chain, until
// what the chains held before the run has come back (transfers between them may still
// be in flight when the load stops) or nothing moves any more, then has the funding
// chain receive it.
func (r *benchRun) returnFunds(ctx context.Context) error {
	if r.fc == nil || len(r.ccs) == 0 {
		return nil
	}
	fmt.Fprintf(r.stderr, "returning the funds to %s...\n", r.fc.ID().Short())
	to := base.Account{Chain: r.fc.ID()}
	var mu sync.Mutex
	returned := base.ZeroAmount
	idle := 0
	var lastErr error
	for returned.Compare(r.returnable) < 0 && idle < maxIdlePasses && ctx.Err() == nil {
		moved := false
		err := r.eachChain(ctx, r.ccs, func(cc *client.ChainClient) error {
			if err := r.pushLocal(ctx, cc.ID()); err != nil {
				return err
			}
			if _, err := r.bs.commit(ctx, cc, func() (*protocol.Certificate, error) { return cc.ProcessInbox(ctx) }); err != nil {
				return err
			}
			bal, err := r.s.c.LocalBalance(ctx, base.Account{Chain: cc.ID()})
			if err != nil || bal.IsZero() {
				return err
			}
			if _, err := r.bs.commit(ctx, cc, func() (*protocol.Certificate, error) {
				return cc.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.Transfer{Owner: base.ChainOwner, Recipient: to, Amount: bal})}, nil)
			}); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			moved = true
			returned, err = returned.Add(bal)
			return err
		})
		if err != nil {
			fmt.Fprintf(r.stderr, "returning funds: %v\n", err)
			lastErr = err
		}
		if moved {
			idle = 0
		} else {
			idle++
			time.Sleep(250 * time.Millisecond)
		}
	}
	r.funding.Returned = returned
	r.funding.Remaining = r.returnable.SaturatingSub(returned)

	// The funding chain receives the returns (delivered asynchronously).
	target, err := r.funding.BalanceBefore.Sub(r.funding.Lent)
	if err != nil {
		return err
	}
	if target, err = target.Add(returned); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := r.s.commit(ctx, r.fc, func() (*protocol.Certificate, error) { return r.fc.ProcessInbox(ctx) }); err != nil {
			return fmt.Errorf("receive the returned funds on %s: %w", r.fc.ID().Short(), err)
		}
		bal, err := r.s.c.LocalBalance(ctx, to)
		if err != nil {
			return err
		}
		r.funding.BalanceAfter = bal
		if bal.Compare(target) >= 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil && !r.funding.Remaining.IsZero() {
		return fmt.Errorf("return funds (%s remain on the benchmark chains; the next run returns them): %w", r.funding.Remaining, lastErr)
	}
	return nil
}
