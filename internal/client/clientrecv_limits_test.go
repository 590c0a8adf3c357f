package client_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// limitLog records the receive limits the client's chain-info queries and blob reads
// carried, and the calls whose limit was not the one expected.
type limitLog struct {
	mu        sync.Mutex
	queries   map[string]int // calls by kind ("query", "pending", "manager", "blob")
	unlimited []string       // calls without the expected limit
}

func (l *limitLog) check(kind string, got, want int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries[kind]++
	if want >= transportLimit {
		want = 0 // the transport's own
	}
	if got != want {
		l.unlimited = append(l.unlimited, fmt.Sprintf("%s with limit %d, want %d", kind, got, want))
	}
}

// limitNode is a validator that checks each chain-info query and blob read carries the
// receive limit client.ChainInfoAnswerLimit (client.BlobAnswerLimit) gives it under
// committee, and fails a call whose honest answer is over its limit, as the transport
// does.
type limitNode struct {
	*deliveringNode
	committee *protocol.Committee
	log       *limitLog
}

func queryKind(q *protocol.ChainInfoQuery) string {
	switch {
	case q.RequestManagerValues:
		return "manager"
	case q.RequestPendingBundles:
		return "pending"
	}
	return "query"
}

func (n *limitNode) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	limit := client.ReceiveLimit(ctx)
	n.log.check(queryKind(q), limit, client.ChainInfoAnswerLimit(n.committee, q))
	info, err := n.deliveringNode.HandleChainInfoQuery(ctx, q)
	if err == nil && limit > 0 && len(codec.Marshal(info)) > limit {
		return nil, fmt.Errorf("received message larger than max (%d vs. %d)", len(codec.Marshal(info)), limit)
	}
	return info, err
}

func (n *limitNode) ReadBlob(ctx context.Context, id base.BlobID) (protocol.Blob, error) {
	n.log.check("blob", client.ReceiveLimit(ctx), client.BlobAnswerLimit(n.committee))
	return n.deliveringNode.ReadBlob(ctx, id)
}

// TestChainInfoQueriesCarryReceiveLimits: every chain-info query the client makes (its
// syncs, its queries of pending bundles, the block's state query, the updates of
// validators behind) and every blob it reads carries the largest answer an honest
// validator sends for it as its receive limit (none where that is the transport's), and
// the honest answers fit.
func TestChainInfoQueriesCarryReceiveLimits(t *testing.T) {
	ctx := context.Background()
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	log := &limitLog{queries: map[string]int{}}
	for i, v := range n.validators {
		n.validators[i].Node = &limitNode{deliveringNode: v.Node.(*deliveringNode), committee: n.committee, log: log}
	}
	a := n.client().Chain(n.chains[0], alice, nil)
	if _, err := a.Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1)); err != nil {
		t.Fatal(err)
	}
	c := n.client()
	if bs, err := c.PendingBundles(ctx, n.chains[1]); err != nil || len(bs) != 1 {
		t.Fatalf("pending bundles: %d (%v), want 1", len(bs), err)
	}
	if cert, err := c.Chain(n.chains[1], bob, nil).ProcessInbox(ctx); err != nil || cert == nil {
		t.Fatalf("process inbox: %v", err)
	}
	child, _, err := n.client().Chain(n.chains[0], alice, nil).OpenChain(ctx, protocol.SingleSuperOwner(alice.Public().Owner()), base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	// A fresh client syncs a chain it has no description of: it reads it as a blob.
	if next, err := n.client().SyncChain(ctx, child); err != nil || next != 0 {
		t.Fatalf("sync: %d (%v), want 0", next, err)
	}
	for _, kind := range []string{"query", "pending", "manager", "blob"} {
		if log.queries[kind] == 0 {
			t.Errorf("no %s query made", kind)
		}
	}
	t.Logf("calls checked: %v", log.queries)
	for _, u := range log.unlimited {
		t.Error(u)
	}
}

// TestChainInfoAnswerLimitCoversHonestAnswers: answers built at the bounds an honest
// validator keeps to (an ownership of a block's size, 10,000 pending bundles of 16 MiB
// in all, 1,000 entries of the received log) fit the receive limit of their query, and
// no limit is set without a committee.
func TestChainInfoAnswerLimitCoversHonestAnswers(t *testing.T) {
	p := protocol.NoFeesPolicy()
	p.MaxBlockSize, p.MaxBlockOutcomeBytes = 1<<20, 1<<20
	committee, err := protocol.NewCommittee(prototest.Committee(prototest.Validators(4)).Validators, p)
	if err != nil {
		t.Fatal(err)
	}
	id := prototest.Genesis(committee, []*crypto.PrivateKey{prototest.Key("alice")}, base.Tokens(1)).ChainIDs()[0]
	info := &protocol.ChainInfo{ChainID: id, RequestedReceivedLog: make([]protocol.ChainAndHeight, 1000)}
	owners := make([]protocol.OwnerWeight, p.MaxBlockSize/41) // an owner and weight: 41 bytes
	for i := range owners {
		var h base.Hash
		h[0], h[1], h[2], h[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		owners[i] = protocol.OwnerWeight{Owner: base.Address32Owner(h), Weight: 1}
	}
	info.Manager.Ownership.Owners = owners
	q := &protocol.ChainInfoQuery{ChainID: id}
	const envelope = 16 // the answer's protobuf framing
	if n, limit := len(codec.Marshal(info))+envelope, client.ChainInfoAnswerLimit(committee, q); n > limit {
		t.Fatalf("an answer of %d bytes over the limit %d", n, limit)
	}
	const bundles = protocol.MaxListedPendingBundles
	each := (16 << 20) / bundles
	for i := range bundles {
		b := protocol.IncomingBundle{Origin: id, Bundle: protocol.MessageBundle{Height: base.BlockHeight(i), Messages: []protocol.PostedMessage{{Message: protocol.Message{Bytes: make([]byte, each-64)}}}}}
		info.RequestedPendingBundles = append(info.RequestedPendingBundles, b)
	}
	q.RequestPendingBundles = true
	n, limit := len(codec.Marshal(info))+envelope, client.ChainInfoAnswerLimit(committee, q)
	t.Logf("pending answer of %d bytes, limit %d", n, limit)
	if n > limit {
		t.Fatalf("an answer with pending bundles of %d bytes over the limit %d", n, limit)
	}
	if got := client.ChainInfoAnswerLimit(nil, q); got != 0 {
		t.Fatalf("limit without a committee: %d, want 0 (the transport's)", got)
	}
}
