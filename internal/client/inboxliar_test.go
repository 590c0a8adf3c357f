package client_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// inboxAttack is the set-up of the attacks on the pending bundles of bob's inbox: a
// network where alice's chain (n.chains[0], sender) and bob's (n.chains[1], of which
// victim is the chain account) hold 100 tokens each.
type inboxAttack struct {
	n      *net
	bob    *crypto.PrivateKey
	sender *client.ChainClient
	victim base.Account
}

func newInboxAttack(t *testing.T) inboxAttack {
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newNet(t, []*crypto.PrivateKey{alice, bob}, base.Tokens(100))
	return inboxAttack{n: n, bob: bob, sender: n.client().Chain(n.chains[0], alice, nil), victim: base.Account{Chain: n.chains[1]}}
}

// inboxLiar is a Byzantine validator (f = 1 of 4 may be) whose answers to the queries
// for pending bundles report lie(the real ones) instead; it counts those queries.
type inboxLiar struct {
	*deliveringNode
	lie     func(real []protocol.IncomingBundle) []protocol.IncomingBundle
	queries atomic.Int64
}

func (l *inboxLiar) HandleChainInfoQuery(ctx context.Context, q *protocol.ChainInfoQuery) (*protocol.ChainInfo, error) {
	info, err := l.deliveringNode.HandleChainInfoQuery(ctx, q)
	if err != nil || !q.RequestPendingBundles {
		return info, err
	}
	l.queries.Add(1)
	out := *info
	out.RequestedPendingBundles = l.lie(info.RequestedPendingBundles)
	return &out, nil
}

// credit is the message of a tracked credit of amount to the chain account.
func credit(amount base.Amount) []protocol.PostedMessage {
	return []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Target: base.ChainOwner, Amount: amount}}}}
}

// neverSent returns a bundle nobody sent: a credit of amount at height i, dated 1, from
// a chain that does not exist (named by domain and i).
func neverSent(domain string, i int, amount base.Amount) protocol.IncomingBundle {
	origin := base.ChainID(crypto.HashBytes(domain, []byte{byte(i), byte(i >> 8)}))
	return protocol.IncomingBundle{Origin: origin, Bundle: protocol.MessageBundle{
		Height: base.BlockHeight(i), Timestamp: 1, CertificateHash: crypto.HashBytes("never sent", origin[:]), Messages: credit(amount),
	}}
}
