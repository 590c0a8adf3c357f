package protocol_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// asBytes returns bs as PendingBundleBytes (each bundle's canonical bytes).
func asBytes(t testing.TB, bs []protocol.IncomingBundle) protocol.PendingBundleBytes {
	t.Helper()
	var p protocol.PendingBundleBytes
	for i := range bs {
		if bs[i].Action != protocol.Accept {
			t.Fatalf("fixture bundle %d is not accepted", i)
		}
		if err := p.Append(bs[i].Origin, codec.Marshal(&bs[i].Bundle)); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestPendingBundleBytesEncodeAsDecoded: an info holding its pending bundles as bytes
// encodes to exactly the bytes of the same info holding them decoded (the wire format
// does not change), for lists of none, one, many, of several origins, and split between
// the two forms; it decodes back to the decoded info, and PendingBundles returns them
// all in order.
func TestPendingBundleBytesEncodeAsDecoded(t *testing.T) {
	all := pendingInfo().RequestedPendingBundles
	mixed := make([]protocol.IncomingBundle, len(all))
	for i := range all {
		mixed[i] = all[i]
		mixed[i].Origin = base.ChainID{byte(i % 7), 9}
	}
	owner := base.ChainOwner
	full := protocol.ChainInfo{ChainID: base.ChainID{3}, Epoch: 2, NextBlockHeight: 8, BlockHash: &base.Hash{4}, Timestamp: 77,
		StateHash: base.Hash{5}, ChainBalance: base.Tokens(3), RequestedOwnerBalance: new(base.Amount), Manager: protocol.ManagerInfo{Leader: &owner},
		ReceivedLogLength: 2, RequestedReceivedLog: []protocol.ChainAndHeight{{ChainID: base.ChainID{6}, Height: 1}}}
	for name, c := range map[string]struct {
		bundles []protocol.IncomingBundle
		decoded int // how many stay in RequestedPendingBundles
		info    protocol.ChainInfo
	}{
		"none":                 {nil, 0, protocol.ChainInfo{ChainID: base.ChainID{1}}},
		"one":                  {all[:1], 0, protocol.ChainInfo{ChainID: base.ChainID{1}}},
		"hundred":              {all, 0, protocol.ChainInfo{ChainID: base.ChainID{1}, NextBlockHeight: 5}},
		"several origins":      {mixed, 0, full},
		"half decoded":         {mixed, len(mixed) / 2, full},
		"all decoded":          {all[:3], 3, full},
		"128 (two-byte count)": {append(append([]protocol.IncomingBundle{}, all...), mixed[:28]...), 0, full},
	} {
		want := c.info
		want.RequestedPendingBundles = c.bundles
		got := c.info
		got.RequestedPendingBundles = c.bundles[:c.decoded]
		got.SetPendingBundleBytes(asBytes(t, c.bundles[c.decoded:]))
		wb, gb := codec.Marshal(&want), codec.Marshal(&got)
		if !bytes.Equal(wb, gb) {
			t.Fatalf("%s: bundles as bytes encode to %d bytes, want the %d of the decoded ones", name, len(gb), len(wb))
		}
		var back protocol.ChainInfo
		if err := codec.Unmarshal(gb, &back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !codec.Equal(&back, &want) || len(back.RequestedPendingBundles) != len(c.bundles) {
			t.Fatalf("%s: decoded info differs", name)
		}
		listed, err := got.PendingBundles()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(listed) != len(c.bundles) {
			t.Fatalf("%s: PendingBundles lists %d, want %d", name, len(listed), len(c.bundles))
		}
		for i := range listed {
			if !codec.Equal(&listed[i], &c.bundles[i]) {
				t.Fatalf("%s: PendingBundles[%d] differs", name, i)
			}
		}
	}
}

// TestPendingBundleBytesRefusesBadBytes: bytes too short to be a bundle are refused,
// and bytes that do not decode make PendingBundles a corruption error (they come from
// a validator's store), never a panic or a partial list.
func TestPendingBundleBytesRefusesBadBytes(t *testing.T) {
	b := pendingInfo().RequestedPendingBundles[0]
	raw := codec.Marshal(&b.Bundle)
	var p protocol.PendingBundleBytes
	if err := p.Append(b.Origin, raw[:52]); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("appending 52 bytes: %v, want ErrInvalid", err)
	}
	for name, bad := range map[string][]byte{
		"truncated": raw[:len(raw)-1],
		"trailing":  append(append([]byte{}, raw...), 0),
		"count":     append(append(append([]byte{}, raw[:52]...), 0x7f), raw[53:]...),
	} {
		var p protocol.PendingBundleBytes
		if err := p.Append(b.Origin, raw); err != nil {
			t.Fatal(err)
		}
		if err := p.Append(b.Origin, bad); err != nil {
			t.Fatal(err)
		}
		var info protocol.ChainInfo
		info.SetPendingBundleBytes(p)
		if got, err := info.PendingBundles(); !errors.Is(err, base.ErrCorrupt) || got != nil {
			t.Fatalf("%s: PendingBundles = %d bundles, %v; want corruption", name, len(got), err)
		}
	}
}
