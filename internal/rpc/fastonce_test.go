package rpc

import (
	"bytes"
	"context"
	"errors"
	"runtime/debug"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// refusingNode is a validator's connection whose proposals never arrive.
type refusingNode struct{ *Node }

func (refusingNode) HandleBlockProposal(context.Context, *protocol.BlockProposal) (*protocol.ChainInfo, error) {
	return nil, errors.New("test: proposal dropped")
}

// newTestNetWithPolicy is newTestNet (one worker a validator) with the committee's
// resource policy replaced by policy.
func newTestNetWithPolicy(tb testing.TB, owners []*crypto.PrivateKey, policy protocol.ResourcePolicy) *testNet {
	tb.Helper()
	keys := prototest.Validators(4)
	c, err := protocol.NewCommittee(prototest.Committee(keys).Validators, policy)
	if err != nil {
		tb.Fatal(err)
	}
	return newTestNetOf(tb, keys, c, owners, 1, largeCallTimeout)
}

// largeCallTimeout bounds each call of the tests that move blocks of tens of MiB, at the
// connection and in the client: a 32 MiB chain-info answer under the race detector on a
// loaded machine has taken longer than 20 s, and none of these tests is about a call
// timing out (a validator left out refuses at once).
const largeCallTimeout = 5 * time.Minute

// TestAttackLargeFastProposalRecovery: a fast proposal of a little over 32 MiB (a data blob)
// reaches two of four validators over gRPC, then its owner's wallet loses it. The
// validators that voted must still answer the owner's chain-info query with manager
// values (the fast proposal is both their fast lock and their latest proposal, and the
// answer carries it once: twice it exceeded the transport's 64 MiB), and a second
// device must find the proposal there, finish it (ADR 0002) and then commit its own
// block. Before the fix, the two validators' answers failed, no quorum answered, and
// the chain was stuck for its owner.
func TestAttackLargeFastProposalRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("moves a 32 MiB proposal to four validators")
	}
	// The largest blob a node takes (a module's bytecode may be that large): the
	// proposal is a little over 32 MiB, twice it a little over the transport's limit.
	const blobSize = 32 << 20
	policy := protocol.NoFeesPolicy()
	policy.MaxBlobSize = blobSize
	policy.MaxBlockSize = blobSize + 1<<20
	// Four validators and two clients in one process each keep the blob a few times:
	// collect garbage sooner than at twice the live heap.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(768 << 20))
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newTestNetWithPolicy(t, []*crypto.PrivateKey{alice, bob}, policy)
	id := n.chains[0]

	// The first device reaches validators 0 and 1 only: no quorum, the proposal stays
	// pending (two fast votes).
	content := bytes.Repeat([]byte("fastonce"), blobSize/8)
	// Generous: under -race on a loaded machine the whole test has taken over a
	// minute, and the deadline bounds the reads at the end as well.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, _, err := largeClient(n, 2).Chain(id, alice, nil).PublishDataBlob(ctx, content); err == nil {
		t.Fatal("the blob was published with two validators of four")
	}
	for i := range 2 {
		info, err := n.info(i, &protocol.ChainInfoQuery{ChainID: id, RequestManagerValues: true})
		if err != nil {
			t.Fatalf("validator %d: chain-info query with manager values: %v", i, err)
		}
		m := &info.Manager
		if m.LockingFast == nil || m.Proposed != m.LockingFast {
			t.Fatalf("validator %d: want the fast proposal as lock and proposal, decoded once (lock %v, proposed %v)", i, m.LockingFast != nil, m.Proposed != nil)
		}
		if len(m.LockingFast.Blobs) != 1 || len(m.LockingFast.Blobs[0].Content) != blobSize {
			t.Fatalf("validator %d: the fast proposal does not carry the %d-byte blob", i, blobSize)
		}
	}

	// A second device with the same key and no pending proposal.
	second := largeClient(n, len(n.vals)).Chain(id, alice, nil)
	if _, err := second.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(5)); err != nil {
		t.Fatalf("second device cannot transfer: %v", err)
	}
	want := client.DataBlobID(content)
	// The transfer returned once a quorum held it: the last validator may still be
	// executing the two blocks.
	n.waitHeight(id, 2, all(len(n.vals)))
	for i := range n.vals {
		info, err := n.info(i, &protocol.ChainInfoQuery{ChainID: id})
		if err != nil || info.NextBlockHeight != 2 {
			t.Fatalf("validator %d: chain at height %v (%v), want 2 (the recovered blob block, then the transfer)", i, info, err)
		}
		b, err := n.vals[i].node.ReadBlob(ctx, want)
		if err != nil || !bytes.Equal(b.Content, content) {
			t.Fatalf("validator %d: the recovered block's blob is not published (%v)", i, err)
		}
	}
}

// largeClient returns a chain client over gRPC whose proposals reach the first reached
// validators only, with a request timeout for 32 MiB proposals and answers on a loaded
// machine.
func largeClient(n *testNet, reached int) *client.Client {
	local := worker.New(worker.Config{Storage: newStore(n.tb, n.genesis), Clock: sysClock{}})
	var vals []client.Validator
	for i, v := range n.vals {
		var node client.ValidatorNode = v.node
		if i >= reached {
			node = refusingNode{v.node}
		}
		vals = append(vals, client.Validator{PublicKey: v.key.Public(), Node: node})
	}
	return client.New(client.Config{Local: local, Committee: n.committee, Validators: vals, Clock: sysClock{}, RequestTimeout: largeCallTimeout})
}
