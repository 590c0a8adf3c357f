package protocol_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// TestDecodeChainInfoMemo: infos whose pending bundles have the same bytes share one
// decoded slice through a memo, and every info decodes to what codec.Unmarshal gives;
// infos with other bundles (fewer, none, changed) are decoded on their own.
func TestDecodeChainInfoMemo(t *testing.T) {
	base1 := pendingInfo()
	if len(base1.RequestedPendingBundles) == 0 {
		t.Fatal("fixture has no pending bundles")
	}
	other := *base1 // another validator: same bundles, other header fields
	other.NextBlockHeight, other.ReceivedLogLength = 9, 4
	other.Manager.CurrentRound = base.SingleLeader(2)
	fewer := *base1
	fewer.RequestedPendingBundles = base1.RequestedPendingBundles[1:]
	changed := *base1
	changed.RequestedPendingBundles = append([]protocol.IncomingBundle(nil), base1.RequestedPendingBundles...)
	changed.RequestedPendingBundles[len(changed.RequestedPendingBundles)-1].Action = protocol.Reject
	none := *base1
	none.RequestedPendingBundles = nil

	memo := new(protocol.DecodeMemo)
	decode := func(v *protocol.ChainInfo) *protocol.ChainInfo {
		t.Helper()
		b := codec.Marshal(v)
		got, err := protocol.DecodeChainInfo(b, memo)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(codec.Marshal(got), b) {
			t.Fatal("decoded with the memo, the info differs from its bytes")
		}
		return got
	}
	first, second := decode(base1), decode(&other)
	if &first.RequestedPendingBundles[0] != &second.RequestedPendingBundles[0] {
		t.Error("the same bundles were decoded twice")
	}
	for _, v := range []*protocol.ChainInfo{&fewer, &changed, &none} {
		if got := decode(v); len(got.RequestedPendingBundles) > 0 && &got.RequestedPendingBundles[0] == &first.RequestedPendingBundles[0] {
			t.Errorf("bundles of other bytes got the memo's slice")
		}
	}
	// A memo primed with no list keeps the first non-empty one.
	memo = new(protocol.DecodeMemo)
	decode(&none)
	a, b := decode(base1), decode(&other)
	if &a.RequestedPendingBundles[0] != &b.RequestedPendingBundles[0] {
		t.Error("an empty list took the memo's place")
	}
}

// TestDecodeChainInfoMemoConcurrent: four answers decoded at once with one memo (as a
// fan-out's) all decode right. Run with -race.
func TestDecodeChainInfoMemoConcurrent(t *testing.T) {
	b := codec.Marshal(pendingInfo())
	for range 20 {
		memo := new(protocol.DecodeMemo)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				got, err := protocol.DecodeChainInfo(b, memo)
				if err != nil || !bytes.Equal(codec.Marshal(got), b) {
					t.Errorf("decoded %v", err)
				}
			})
		}
		wg.Wait()
	}
}

// FuzzDecodeChainInfoMemo: decoding with a memo primed by another info's bundles
// accepts exactly what codec.Unmarshal accepts, and gives the same info.
func FuzzDecodeChainInfoMemo(f *testing.F) {
	seed := pendingInfo()
	f.Add(codec.Marshal(seed))
	f.Add(codec.Marshal(&protocol.ChainInfo{NextBlockHeight: 3}))
	short := *seed
	short.RequestedPendingBundles = seed.RequestedPendingBundles[:1]
	f.Add(codec.Marshal(&short))
	primer := codec.Marshal(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		memo := new(protocol.DecodeMemo)
		if _, err := protocol.DecodeChainInfo(primer, memo); err != nil {
			t.Fatal(err)
		}
		var want protocol.ChainInfo
		wantErr := codec.Unmarshal(b, &want)
		got, err := protocol.DecodeChainInfo(b, memo)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("with the memo: %v; without: %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(codec.Marshal(got), codec.Marshal(&want)) {
			t.Fatal("with the memo, another info than without")
		}
	})
}
