package client

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

type fixedClock struct{ now *base.Timestamp }

func (c fixedClock) Now() base.Timestamp { return *c.now }

// fourMembers returns the keys of four test validators and their committee as members.
func fourMembers() ([]*crypto.PrivateKey, members) {
	keys := prototest.Validators(4)
	var vs []Validator
	for _, k := range keys {
		vs = append(vs, Validator{PublicKey: k.Public()})
	}
	return keys, members{committee: prototest.Committee(keys), validators: vs}
}

// TestKeptAnswersBounded: the answers kept for chains that never propose again are
// dropped once expired, so the client holds answers only for the chains whose blocks
// were broadcast recently (or at most sweepKept).
func TestKeptAnswersBounded(t *testing.T) {
	now := base.Timestamp(1_000_000)
	c := New(Config{Clock: fixedClock{&now}})
	keys, m := fourMembers()
	vs := m.validators
	owner := prototest.Key("alice").Public().Owner()
	for i := range 10 * sweepKept {
		var id base.ChainID
		id[0], id[1] = byte(i), byte(i>>8)
		block := prototest.TransferBlock(id, 0, nil, owner, base.Account{Chain: id}, 1)
		cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, keys)
		hash := block.Hash()
		var replies []answer[certReply]
		for _, v := range vs {
			replies = append(replies, answer[certReply]{v: v, val: certReply{info: &protocol.ChainInfo{ChainID: id, NextBlockHeight: 1, BlockHash: &hash}, answered: true}})
		}
		c.keepNext(m, cert, &protocol.ChainInfoQuery{ChainID: id}, replies)
		now = now.Add(base.DeltaFromDuration(c.cfg.StateReuse) / 4)
	}
	if n := len(c.next); n > sweepKept {
		t.Fatalf("%d chains' answers kept, want at most %d", n, sweepKept)
	}
}

// pendingFixture returns four members, a chain, an owner and the bundles a transfer
// block of another chain sent to it (honest pending bundles).
func pendingFixture(t *testing.T) (members, base.ChainID, base.Owner, []protocol.IncomingBundle) {
	t.Helper()
	_, m := fourMembers()
	id := base.ChainID{7}
	owner := prototest.Key("alice").Public().Owner()
	sender := prototest.TransferBlock(base.ChainID{8}, 0, nil, owner, base.Account{Chain: id}, 3)
	var honest []protocol.IncomingBundle
	for _, b := range sender.OutgoingBundlesTo(id) {
		honest = append(honest, protocol.IncomingBundle{Origin: sender.ChainID(), Bundle: b})
	}
	if len(honest) == 0 {
		t.Fatal("fixture has no bundles")
	}
	return m, id, owner, honest
}

// TestPendingBundlesFromSharedAnswers: answers decoded with one memo share their
// bundles' slice (protocol.DecodeMemo); pendingBundlesFrom counts such a slice with the
// weight of every validator that reported it, exactly as separate copies: a bundle
// reported by f+1 counts, one reported by a single validator does not.
func TestPendingBundlesFromSharedAnswers(t *testing.T) {
	m, id, owner, honest := pendingFixture(t)
	vs := m.validators
	extra := prototest.TransferBlock(base.ChainID{9}, 0, nil, owner, base.Account{Chain: id}, 1)
	lone := append(append([]protocol.IncomingBundle(nil), honest...), protocol.IncomingBundle{Origin: extra.ChainID(), Bundle: extra.OutgoingBundlesTo(id)[0]})
	cc := &ChainClient{id: id}
	answers := func(lists ...[]protocol.IncomingBundle) []answer[*protocol.ChainInfo] {
		var as []answer[*protocol.ChainInfo]
		for i, l := range lists {
			as = append(as, answer[*protocol.ChainInfo]{v: vs[i], val: &protocol.ChainInfo{ChainID: id, NextBlockHeight: 1, RequestedPendingBundles: l}})
		}
		return as
	}
	clone := func(l []protocol.IncomingBundle) []protocol.IncomingBundle {
		return append([]protocol.IncomingBundle(nil), l...)
	}
	for _, tc := range []struct {
		name string
		as   []answer[*protocol.ChainInfo]
		want int
	}{
		{"shared by two", answers(honest, honest, nil, nil), len(honest)},
		{"copies by two", answers(honest, clone(honest), nil, nil), len(honest)},
		{"shared by one", answers(honest, nil, nil, nil), 0},
		{"shared by three, one extra", answers(honest, honest, lone, honest), len(honest)},
		{"extra shared by one", answers(lone, nil, honest, nil), len(honest)},
	} {
		if got := cc.pendingBundlesFrom(m, 1, tc.as); len(got) != tc.want {
			t.Errorf("%s: %d bundles, want %d", tc.name, len(got), tc.want)
		}
	}
	// A list with a bundle twice and an equivocating one (same origin and cursor, other
	// bytes), shared by every validator, gives what copies of it give.
	equivocating := honest[0]
	equivocating.Action = protocol.Reject
	odd := append(clone(honest), honest[1], equivocating)
	shared := cc.pendingBundlesFrom(m, 1, answers(odd, odd, odd, odd))
	copies := cc.pendingBundlesFrom(m, 1, answers(odd, clone(odd), clone(odd), clone(odd)))
	if len(shared) != len(honest) || len(shared) != len(copies) {
		t.Fatalf("shared list: %d bundles, copies: %d, want %d", len(shared), len(copies), len(honest))
	}
	for i := range shared {
		if !codec.Equal(&shared[i], &copies[i]) {
			t.Fatalf("bundle %d differs between a shared list and copies", i)
		}
	}
}
