package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/localnet"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/protocol"
)

type demoResult struct {
	Path         string              `json:"path"`
	Validators   int                 `json:"validators"`
	Blocks       int                 `json:"blocks"`
	LatencyP50Ms float64             `json:"latency_p50_ms"`
	LatencyP99Ms float64             `json:"latency_p99_ms"`
	Balances     []map[string]string `json:"balances_by_validator"`
}

func demoCommand() *cobra.Command {
	var (
		path       string
		validators int
		rounds     int
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a local network in one process on Pebble storage and move tokens between two chains",
		Long: `demo starts a local network of validators in this process, each with its own
Pebble store under --path, and two user chains. It transfers tokens back and forth
(each transfer is a fast-round block: one round trip to finality), receives them on the
other chain, and prints the finality latency and the balances every validator holds.
Running it again on the same --path resumes the same network and chains.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asJSON, _ := cmd.Flags().GetBool("json")
			return runDemo(cmd.Context(), path, validators, rounds, asJSON)
		},
	}
	cmd.Flags().StringVar(&path, "path", filepath.Join(os.TempDir(), "mica-demo"), "directory of the network's stores and keys")
	cmd.Flags().IntVar(&validators, "validators", 4, "number of validators")
	cmd.Flags().IntVar(&rounds, "transfers", 20, "number of transfers in each direction")
	return cmd
}

func runDemo(ctx context.Context, path string, validators, rounds int, asJSON bool) error {
	if validators < 1 || validators > 64 {
		return fmt.Errorf("--validators must be between 1 and 64, got %d", validators)
	}
	if rounds < 1 {
		return fmt.Errorf("--transfers must be at least 1, got %d", rounds)
	}
	say := func(format string, args ...any) {
		if !asJSON {
			fmt.Printf(format+"\n", args...)
		}
	}
	seed, err := localnet.LoadOrCreateSeed(path)
	if err != nil {
		return err
	}
	stored, err := localnet.LoadGenesis(path)
	if err != nil {
		return err
	}
	net, err := localnet.Start(ctx, localnet.Config{Dir: path, Validators: validators, Chains: 2, Balance: base.Tokens(1000), Keys: localnet.KeysFromSeed(seed), Genesis: stored})
	if err != nil {
		return err
	}
	defer net.Close()
	if stored == nil {
		if err := localnet.SaveGenesis(path, net.Genesis); err != nil {
			return err
		}
		say("created a network of %d validators under %s", validators, path)
	} else {
		say("resumed the network under %s", path)
	}
	ids := net.Genesis.ChainIDs()
	var ccs []*client.ChainClient
	for i := range 2 {
		c, err := net.Client(ctx)
		if err != nil {
			return err
		}
		ccs = append(ccs, c.Chain(ids[i], net.Owners[i], nil))
	}
	say("chain A %s\nchain B %s", ids[0], ids[1])
	var lat []time.Duration
	commit := func(cc *client.ChainClient, f func() (*protocol.Certificate, error)) error {
		start := time.Now()
		// What is retryable is retried, as by every command that commits blocks.
		cert, err := nodeservice.Commit(ctx, nil, cc, f, nodeservice.Retry{OnWait: func(w nodeservice.Wait) {
			fmt.Fprintf(os.Stderr, "%s...\n", w)
		}})
		if err != nil {
			return err
		}
		if cert != nil {
			lat = append(lat, time.Since(start))
		}
		return nil
	}
	amount := base.Tokens(1)
	for i := 0; i < rounds; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		for d := range 2 {
			from, to := ccs[d], ccs[1-d]
			if err := commit(from, func() (*protocol.Certificate, error) {
				return from.Transfer(ctx, base.ChainOwner, base.Account{Chain: to.ID()}, amount)
			}); err != nil {
				return fmt.Errorf("transfer: %w", err)
			}
			if err := commit(to, func() (*protocol.Certificate, error) { return to.ProcessInbox(ctx) }); err != nil {
				return fmt.Errorf("receive: %w", err)
			}
		}
		if (i+1)%5 == 0 || i+1 == rounds {
			say("  %d/%d transfer rounds done, %d blocks, last finality %v", i+1, rounds, len(lat), lat[len(lat)-1].Round(time.Microsecond))
		}
	}
	res := demoResult{Path: path, Validators: validators, Blocks: len(lat)}
	slices.Sort(lat)
	res.LatencyP50Ms = float64(lat[len(lat)/2].Microseconds()) / 1000
	res.LatencyP99Ms = float64(lat[(len(lat)*99)/100].Microseconds()) / 1000
	for _, w := range net.Workers {
		m := map[string]string{}
		for i, id := range ids {
			info, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
			if err != nil {
				return err
			}
			m[[]string{"A", "B"}[i]] = info.ChainBalance.String()
		}
		res.Balances = append(res.Balances, m)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	say("finality latency over %d blocks: p50 %.2f ms, p99 %.2f ms", res.Blocks, res.LatencyP50Ms, res.LatencyP99Ms)
	for i, b := range res.Balances {
		say("validator %d: A = %s, B = %s", i, b["A"], b["B"])
	}
	say("the network is stored under %s; run again to resume it", path)
	return nil
}
