package worker

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// valueFixtures are manager values of the kinds an answer carries: a fast proposal
// with a blob, a validated certificate of a block of transfers, a timeout certificate.
func valueFixtures(t *testing.T) (fast *protocol.BlockProposal, validated, timeout *protocol.Certificate) {
	t.Helper()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	chain := base.ChainID{1}
	o := alice.Public().Owner()
	blob := protocol.NewBlob(base.BlobData, bytes.Repeat([]byte{7}, 40<<10))
	block := protocol.ProposedBlock{ChainID: chain, Height: 3, Timestamp: 9, AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.PublishDataBlob{Hash: blob.ID().Hash})}}
	fast, err := protocol.SignProposal(alice, block, base.FastRound, []protocol.Blob{blob})
	if err != nil {
		t.Fatal(err)
	}
	validated = prototest.Certify(protocol.KindValidated, prototest.TransferBlock(chain, 3, nil, o, base.Account{Chain: base.ChainID{2}}, 300), nil, base.Round{Kind: base.RoundMultiLeader, Number: 2}, keys)
	timeout = prototest.Certify(protocol.KindTimeout, nil, &protocol.Timeout{ChainID: chain, Height: 3}, base.Round{Kind: base.RoundMultiLeader, Number: 1}, keys)
	return fast, validated, timeout
}

// TestEncodedInfoLayout: answers built from kept manager values are the infos'
// canonical encodings, byte for byte, for every combination of values and of the
// fields around them (the layout encodeInfo assumes of the protocol package), whether
// the values were just encoded or kept.
func TestEncodedInfoLayout(t *testing.T) {
	fast, validated, timeout := valueFixtures(t)
	owner := prototest.Key("bob").Public().Owner()
	balance := base.Tokens(3)
	hash := base.Hash{5}
	var pending protocol.PendingBundleBytes
	bundle := codec.Marshal(&protocol.MessageBundle{Height: 1, Timestamp: 2, CertificateHash: base.Hash{6}})
	if err := pending.Append(base.ChainID{4}, bundle); err != nil {
		t.Fatal(err)
	}
	timeoutVote, err := protocol.SignVote(prototest.Validators(1)[0], timeout.LiteValue(), timeout.Round)
	if err != nil {
		t.Fatal(err)
	}
	managers := []protocol.ManagerInfo{
		{LockingFast: fast, Proposed: fast},
		{LockingFast: fast},
		{Proposed: fast, TimeoutCert: timeout},
		{LockingValidated: validated, TimeoutCert: timeout, TimeoutVote: &timeoutVote},
		{TimeoutCert: timeout, CurrentRound: base.Round{Kind: base.RoundMultiLeader, Number: 2}, Leader: &owner},
		{},
	}
	c := newEncodedValues(1 << 20)
	for i, m := range managers {
		infos := []*protocol.ChainInfo{
			{ChainID: base.ChainID{1}, Manager: m},
			{ChainID: base.ChainID{1}, NextBlockHeight: 3, BlockHash: &hash, RequestedOwnerBalance: &balance, Manager: m,
				ReceivedLogLength: 2, RequestedReceivedLog: []protocol.ChainAndHeight{{ChainID: base.ChainID{4}, Height: 1}}},
		}
		withBytes := *infos[1]
		withBytes.SetPendingBundleBytes(pending)
		infos = append(infos, &withBytes)
		for j, info := range infos {
			for pass := range 2 {
				want := codec.Marshal(info)
				if got := c.encodeInfo(info); !bytes.Equal(got, want) {
					t.Fatalf("manager %d, info %d, pass %d: %d bytes, want the encoding's %d", i, j, pass, len(got), len(want))
				}
			}
		}
	}
	if n := c.misfits.Load(); n != 0 {
		t.Fatalf("%d answers did not fit the layout assumed", n)
	}
	if c.bytes == 0 {
		t.Fatal("no values kept: the answers above never came from kept encodings")
	}
}

// TestEncodedValuesBounded: the kept encodings are bounded by bytes whatever the chains
// asked about, one per chain, replaced when the chain's manager moves on, and released
// once the values they encode are gone.
func TestEncodedValuesBounded(t *testing.T) {
	fast, validated, _ := valueFixtures(t)
	size := len(managerValues(&protocol.ManagerInfo{LockingFast: fast, Proposed: fast}))
	c := newEncodedValues(3*size + size/2)
	for i := range 10 {
		info := &protocol.ChainInfo{ChainID: base.ChainID{byte(i)}, Manager: protocol.ManagerInfo{LockingFast: fast, Proposed: fast}}
		c.encodeInfo(info)
		if c.bytes > c.max {
			t.Fatalf("%d bytes kept over the bound of %d", c.bytes, c.max)
		}
	}
	if n := c.lru.Len(); n != 3 {
		t.Fatalf("%d entries kept, want 3", n)
	}
	// The manager of chain 9 moves on: its entry is replaced, not added to.
	c.encodeInfo(&protocol.ChainInfo{ChainID: base.ChainID{9}, Manager: protocol.ManagerInfo{LockingValidated: validated}})
	if n := len(c.byChain); n != 3 || c.lru.Len() != 3 {
		t.Fatalf("%d chains, %d entries after a chain's values changed, want 3", n, c.lru.Len())
	}
	// Values no manager holds any more are released at the next insertion.
	func() {
		gone, _, _ := valueFixtures(t)
		c.encodeInfo(&protocol.ChainInfo{ChainID: base.ChainID{20}, Manager: protocol.ManagerInfo{LockingFast: gone}})
	}()
	runtime.GC()
	c.encodeInfo(&protocol.ChainInfo{ChainID: base.ChainID{21}, Manager: protocol.ManagerInfo{Proposed: fast}})
	if _, ok := c.byChain[base.ChainID{20}]; ok {
		t.Fatal("the encoding of values collected is still kept")
	}
	runtime.KeepAlive(fast)
	runtime.KeepAlive(validated)
}
