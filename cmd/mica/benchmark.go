package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

type benchResult struct {
	Chains          int     `json:"chains"`
	TxPerBlock      int     `json:"transactions_per_block"`
	DurationSeconds float64 `json:"duration_seconds"`
	Blocks          int     `json:"blocks"`
	Transactions    int     `json:"transactions"`
	TxPerSecond     float64 `json:"transactions_per_second"`
	LatencyP50Ms    float64 `json:"finality_p50_ms"`
	LatencyP99Ms    float64 `json:"finality_p99_ms"`
	Errors          int     `json:"errors"`
}

func benchmarkCommand() *cobra.Command {
	var chains, perBlock int
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "benchmark",
		Short: "Load a running network: chains transfer to each other in a loop; prints transactions/s and finality p50/p99",
		Long: `benchmark opens --chains new chains funded from the wallet's default chain (their
keys are not kept), then each chain commits blocks of --transactions-per-block transfers
to the next chain as fast as it can for --duration. Finality latency is measured per
block from building it to holding its confirmed certificate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if chains < 1 || perBlock < 1 || duration <= 0 {
				return errors.New("--chains, --transactions-per-block and --duration must be positive")
			}
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			funder, err := s.chainArg(nil, 0)
			if err != nil {
				return err
			}
			fc, err := s.chainClient(funder)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "opening %d chains...\n", chains)
			var ccs []*client.ChainClient
			for i := 0; i < chains; i++ {
				k, err := crypto.GenerateKey(crypto.Ed25519, rand.Reader)
				if err != nil {
					return err
				}
				var id base.ChainID
				if _, err := s.commit(ctx, fc, func() (*protocol.Certificate, error) {
					var cert *protocol.Certificate
					var err error
					id, cert, err = fc.OpenChain(ctx, protocol.SingleSuperOwner(k.Public().Owner()), base.Tokens(uint64(perBlock)*1000))
					return cert, err
				}); err != nil {
					return fmt.Errorf("open benchmark chain: %w", err)
				}
				ccs = append(ccs, s.c.Chain(id, k, nil))
			}
			res, err := runBenchmark(ctx, cmd.ErrOrStderr(), ccs, perBlock, duration)
			if err != nil {
				return err
			}
			return out(cmd, res, func(o io.Writer) {
				fmt.Fprintf(o, "%d chains, %d transfers per block, %.1f s: %d blocks, %d transfers, %.0f transfers/s, finality p50 %.2f ms, p99 %.2f ms, %d errors\n",
					res.Chains, res.TxPerBlock, res.DurationSeconds, res.Blocks, res.Transactions, res.TxPerSecond, res.LatencyP50Ms, res.LatencyP99Ms, res.Errors)
			})
		},
	}
	cmd.Flags().IntVar(&chains, "chains", 4, "number of chains transferring in parallel")
	cmd.Flags().IntVar(&perBlock, "transactions-per-block", 1, "transfers in each block")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long to run")
	return cmd
}

func runBenchmark(ctx context.Context, progress io.Writer, ccs []*client.ChainClient, perBlock int, duration time.Duration) (*benchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var txs, errs atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for i, cc := range ccs {
		to := base.Account{Chain: ccs[(i+1)%len(ccs)].ID()}
		ops := make([]protocol.Operation, perBlock)
		for j := range ops {
			ops[j] = protocol.SystemOp(&protocol.Transfer{Owner: base.ChainOwner, Recipient: to, Amount: base.AmountFromAttos(1)})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t := time.Now()
				_, err := cc.ExecuteOperations(ctx, ops, nil)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				txs.Add(int64(perBlock))
			}
		}()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-tick.C:
			el := time.Since(start).Seconds()
			fmt.Fprintf(progress, "  %.0fs: %d transfers, %.0f/s, %d errors\n", el, txs.Load(), float64(txs.Load())/el, errs.Load())
			continue
		case <-done:
		}
		break
	}
	el := time.Since(start)
	res := &benchResult{Chains: len(ccs), TxPerBlock: perBlock, DurationSeconds: el.Seconds(), Blocks: len(lat), Transactions: int(txs.Load()), Errors: int(errs.Load())}
	res.TxPerSecond = float64(res.Transactions) / el.Seconds()
	if len(lat) > 0 {
		slices.Sort(lat)
		res.LatencyP50Ms = float64(lat[len(lat)/2].Microseconds()) / 1000
		res.LatencyP99Ms = float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()) / 1000
	}
	return res, nil
}
