//go:build unix

package worker_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv/pebblekv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// BenchmarkValidatorBlock measures one validator's share of a block, as `mica
// benchmark` makes it do: 16 chains in a ring, each block receives what the previous
// chain sent and makes K transfers to the next chain. Per block the validator answers
// the client's chain-info query (with the inbox), votes on the fast proposal, executes
// and stores the confirmed certificate and delivers the bundles, on a Pebble store with
// synced writes in a temporary directory. cpu-µs/block is the process's CPU time
// (user+system, every thread, Pebble's included) spent in those calls; the client's
// work (staging, signing, certifying) is left out.
func BenchmarkValidatorBlock(b *testing.B) {
	for _, k := range []int{1, 100} {
		b.Run(fmt.Sprintf("transfers=%d", k), func(b *testing.B) { benchValidatorBlock(b, k) })
	}
}

func benchValidatorBlock(b *testing.B, transfers int) {
	const chains = 16
	ctx := context.Background()
	keys := prototest.Validators(4)
	var owners []*crypto.PrivateKey
	for i := range chains {
		owners = append(owners, prototest.Key(fmt.Sprintf("owner-%d", i)))
	}
	g := prototest.Genesis(prototest.Committee(keys), owners, base.Tokens(1_000_000))
	ids := g.ChainIDs()
	db, err := pebblekv.Open(b.TempDir(), pebblekv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	w := worker.New(worker.Config{Storage: genesisStore(b, db, g), Signer: keys[0], Clock: fixedClock{10_000_000}})
	tips := make([]*base.Hash, chains)
	heights := make([]base.BlockHeight, chains)

	var cpu time.Duration
	measure := func(f func() error) {
		c0 := processCPU()
		err := f()
		cpu += processCPU() - c0
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for n := range b.N {
		i := n % chains
		var info *protocol.ChainInfo
		measure(func() (err error) {
			info, err = w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: ids[i], RequestPendingBundles: true})
			return err
		})
		o := owners[i].Public().Owner()
		p := protocol.ProposedBlock{ChainID: ids[i], Height: heights[i], Timestamp: 5_000_000, PreviousBlockHash: tips[i], AuthenticatedOwner: &o}
		for j := range info.RequestedPendingBundles {
			p.Transactions = append(p.Transactions, protocol.Transaction{Bundle: &info.RequestedPendingBundles[j]})
		}
		for range transfers {
			p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
				Recipient: base.Account{Chain: ids[(i+1)%chains]}, Amount: base.AmountFromAttos(1)}))
		}
		prop, err := protocol.SignProposal(owners[i], p, base.FastRound, nil)
		if err != nil {
			b.Fatal(err)
		}
		measure(func() error { _, err := w.HandleBlockProposal(ctx, prop); return err })
		exec, err := w.StageBlock(ctx, &p, nil)
		if err != nil {
			b.Fatal(err)
		}
		cert := prototest.Certify(protocol.KindConfirmed, exec, nil, base.FastRound, keys)
		measure(func() error { _, err := w.HandleCertificate(ctx, cert); return err })
		measure(func() error { return w.DeliverPending(ctx) })
		h := exec.Hash()
		tips[i] = &h
		heights[i]++
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/block")
}

// processCPU is the process's user plus system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
