package rpc

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
)

// BenchmarkChainInfoQuerySecondDecode: what the handler's decode of a chain-info query
// costs after answerReservation has decoded it for its flags (the second of the two),
// for a query of a chain's state only and for one with every optional field.
func BenchmarkChainInfoQuerySecondDecode(b *testing.B) {
	height, from := base.BlockHeight(7), uint64(3)
	owner := base.Address32Owner(base.Hash{1})
	for _, c := range []struct {
		name string
		q    protocol.ChainInfoQuery
	}{
		{"state", protocol.ChainInfoQuery{ChainID: base.ChainID{1}}},
		{"every field", protocol.ChainInfoQuery{ChainID: base.ChainID{1}, TestNextBlockHeight: &height, RequestOwnerBalance: &owner,
			RequestPendingBundles: true, RequestReceivedLogFrom: &from, RequestLeaderTimeout: &protocol.LeaderTimeoutRequest{Height: height}}},
	} {
		m := &pb.ChainInfoQuery{Payload: codec.Marshal(&c.q)}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeQuery(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
