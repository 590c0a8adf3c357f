package client

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

type fixedClock struct{ now *base.Timestamp }

func (c fixedClock) Now() base.Timestamp { return *c.now }

// TestKeptAnswersBounded: the answers kept for chains that never propose again are
// dropped once expired, so the client holds answers only for the chains whose blocks
// were broadcast recently (or at most sweepKept).
func TestKeptAnswersBounded(t *testing.T) {
	now := base.Timestamp(1_000_000)
	c := New(Config{Clock: fixedClock{&now}})
	keys := prototest.Validators(4)
	committee := prototest.Committee(keys)
	var vs []Validator
	for _, k := range keys {
		vs = append(vs, Validator{PublicKey: k.Public()})
	}
	m := members{committee: committee, validators: vs}
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
