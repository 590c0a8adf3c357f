package protocol_test

import (
	"reflect"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestOutgoingBundlesTo checks OutgoingBundlesTo against OutgoingBundles on a block whose
// transactions send to several recipients, interleaved, several messages each, some
// none; and that its bundles do not share message capacity.
func TestOutgoingBundlesTo(t *testing.T) {
	r := []base.ChainID{{1}, {2}, {3}}
	msg := func(to base.ChainID, b byte) protocol.OutgoingMessage {
		return protocol.OutgoingMessage{Destination: to, Kind: protocol.MessageKind(b % 3), Message: protocol.Message{App: base.ApplicationID{b}, Bytes: []byte{b}}}
	}
	o := protocol.BlockExecutionOutcome{Messages: [][]protocol.OutgoingMessage{
		{msg(r[0], 1), msg(r[1], 2), msg(r[0], 3)},
		nil,
		{msg(r[1], 4)},
		{msg(r[0], 5), msg(r[0], 6), msg(r[1], 7), msg(r[0], 8)},
	}}
	b := protocol.NewBlock(protocol.ProposedBlock{ChainID: base.ChainID{9}, Height: 4, Timestamp: 77}, o)
	all := b.OutgoingBundles()
	for _, to := range append(r, base.ChainID{4}) {
		got := b.OutgoingBundlesTo(to)
		if want := all[to]; !reflect.DeepEqual(got, want) {
			t.Fatalf("recipient %x: got %+v, want %+v", to[:1], got, want)
		}
		for i := range got {
			if len(got[i].Messages) != cap(got[i].Messages) {
				t.Fatalf("recipient %x, bundle %d: messages share capacity with the next bundle", to[:1], i)
			}
		}
	}
	if n := len(b.OutgoingBundlesTo(r[0])); n != 2 {
		t.Fatalf("%d bundles to the first recipient, want 2", n)
	}
}
