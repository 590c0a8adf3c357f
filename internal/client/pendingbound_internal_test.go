package client

import (
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// TestAttackPendingListOverBoundIgnored: a Byzantine validator answers a pending-bundle
// query with far more bundles than any validator lists (protocol.MaxListedPendingBundles):
// 50,000 bundles never sent. The client counted each by its bytes (a map entry and a copy
// of its encoding) before the f+1 rule dropped them all: about 12 MB allocated for one
// answer here, up to the transport's 64 MiB limit in bundles. An answer over the bound is
// not honest and is not counted at all; the honest bundles still count.
func TestAttackPendingListOverBoundIgnored(t *testing.T) {
	m, id, _, honest := pendingFixture(t)
	vs := m.validators
	msgs := []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Target: base.ChainOwner, Amount: base.Tokens(1)}}}}
	lies := make([]protocol.IncomingBundle, 50_000)
	for i := range lies {
		origin := base.ChainID(crypto.HashBytes("nowhere", []byte{byte(i), byte(i >> 8), byte(i >> 16)}))
		lies[i] = protocol.IncomingBundle{Origin: origin, Bundle: protocol.MessageBundle{Height: base.BlockHeight(i), Timestamp: 1, Messages: msgs}}
	}
	info := func(l []protocol.IncomingBundle) *protocol.ChainInfo {
		return &protocol.ChainInfo{ChainID: id, NextBlockHeight: 1, RequestedPendingBundles: l}
	}
	as := []answer[*protocol.ChainInfo]{{v: vs[0], val: info(lies)}, {v: vs[1], val: info(honest)}, {v: vs[2], val: info(honest)}, {v: vs[3], val: info(honest)}}
	cc := &ChainClient{id: id}
	cc.pendingBundlesFrom(m, 1, as) // warm-up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := cc.pendingBundlesFrom(m, 1, as)
	runtime.ReadMemStats(&after)
	if len(got) != len(honest) {
		t.Fatalf("%d bundles counted, want the %d honest ones", len(got), len(honest))
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("counting the answers allocated %d bytes: the over-long answer was counted bundle by bundle", n)
	}
}
