package bench

import (
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// block returns a confirmed certificate of chain at height receiving one bundle per
// entry of from (sending chain and height), confirmed in round.
func block(chain base.ChainID, height base.BlockHeight, round base.Round, from ...sentKey) *protocol.Certificate {
	p := protocol.ProposedBlock{ChainID: chain, Height: height}
	for _, k := range from {
		p.Transactions = append(p.Transactions, protocol.ReceiveTx(protocol.IncomingBundle{Origin: k.chain, Bundle: protocol.MessageBundle{Height: k.height}}))
	}
	return &protocol.Certificate{Kind: protocol.KindConfirmed, Block: protocol.NewBlock(p, protocol.BlockExecutionOutcome{}), Round: round}
}

// TestStatsReceipts: a receipt is timed from building the sending block to the
// receiver's confirmation whichever of the two confirmations is recorded first;
// bundles from chains outside the benchmark, or sent before the run, are not counted;
// a sending block is forgotten once all its bundles arrived; phases split the figures.
func TestStatsReceipts(t *testing.T) {
	a, b, outsider := base.ChainID{1}, base.ChainID{2}, base.ChainID{3}
	members := chainSet{a: true, b: true}
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	st := newStats(0, "first", true)

	// a's block 5 (built at 0, confirmed at 10) sends 2 transfers to b; b's block 7
	// receives both at 30: two receipts of 30 ms.
	st.ok(a, block(a, 5, base.FastRound), ms(0), ms(10), []string{kindTransfer, kindTransfer}, 2, members)
	st.ok(b, block(b, 7, base.FastRound, sentKey{a, 5}, sentKey{a, 5}), ms(12), ms(30), []string{kindTransfer}, 1, members)
	if len(st.sent) != 1 { // b's block 7 still waits for its receiver
		t.Fatalf("%d sending blocks remembered, want 1 (b's)", len(st.sent))
	}
	// The receiver's confirmation is recorded before the sender's: a's block 6
	// (confirmed at 50) receives b's block 7 (built at 12) before b's goroutine
	// records block 7.
	st2 := newStats(0, "first", true)
	st2.ok(a, block(a, 6, base.FastRound, sentKey{b, 7}), ms(40), ms(50), []string{kindTransfer}, 1, members)
	st2.ok(b, block(b, 7, base.FastRound), ms(12), ms(45), []string{kindTransfer}, 1, members)
	if r := st2.result(2, 1, time.Second).Receipts; r == nil || r.Count != 1 || r.P50Ms != 38 {
		t.Fatalf("receipt recorded before its sender: %+v, want 1 of 38 ms", r)
	}
	if len(st2.sent) != 1 { // a's block 6 waits for b
		t.Fatalf("%d sending blocks remembered after the join, want 1", len(st2.sent))
	}

	// A bundle from a chain outside the benchmark, and one from a block of an earlier
	// run (never recorded as sent), are not receipts; a block after the fast round is
	// counted.
	st.newPhase("second", 500*time.Millisecond)
	st.ok(a, block(a, 6, base.Round{Kind: base.RoundMultiLeader}, sentKey{outsider, 1}, sentKey{b, 1}, sentKey{b, 7}), ms(600), ms(640), []string{kindCounter}, 0, members)
	res := st.result(2, 2, time.Second)
	if res.Transactions != 3 || res.Receipts.Count != 3 || res.Blocks != 3 || res.SlowRoundBlocks != 1 {
		t.Fatalf("result %+v receipts %+v", res, res.Receipts)
	}
	// Cross-chain headline: the receipts (30, 30, 640-12=628 ms).
	if res.LatencyP50Ms != 30 || res.LatencyP99Ms != 628 {
		t.Errorf("finality p50 %v p99 %v, want 30 and 628", res.LatencyP50Ms, res.LatencyP99Ms)
	}
	if res.OperationsByKind[kindTransfer] != 3 || res.OperationsByKind[kindCounter] != 1 {
		t.Errorf("operations %v", res.OperationsByKind)
	}
	if len(res.Phases) != 2 || res.Phases[0].Transactions != 2 || res.Phases[1].Transactions != 1 || res.Phases[1].StartSeconds != 0.5 || res.Phases[1].Seconds != 0.5 {
		t.Errorf("phases %+v", res.Phases)
	}
	// The receipt of b's block 7 settled it; the unmatched bundle of b's block 1 is
	// kept (its sender never shows up), the outsider's is ignored.
	if _, ok := st.sent[sentKey{b, 7}]; ok {
		t.Error("a fully received sending block is still remembered")
	}
	if _, ok := st.sent[sentKey{outsider, 1}]; ok {
		t.Error("a bundle from outside the benchmark was recorded")
	}
}
