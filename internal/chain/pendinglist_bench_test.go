package chain

import (
	"context"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// BenchmarkPendingBundleBytes: a chain-info answer's pending bundles from an inbox of
// origins × bundles (1-transfer bundles stored whole, cached after the first listing),
// as a validator lists them for every certificate's query.
func BenchmarkPendingBundleBytes(b *testing.B) {
	for _, shape := range [][2]int{{1, 1}, {4, 1}, {16, 10}, {64, 1}} {
		b.Run(fmt.Sprintf("origins=%d/bundles=%d", shape[0], shape[1]), func(b *testing.B) {
			ctx := context.Background()
			ss := newStateStore(b)
			s := ss.load()
			for o := range shape[0] {
				for h := range shape[1] {
					if _, err := s.ReceiveBundles(ctx, base.ChainID{2, byte(o)}, []protocol.EpochBundle{{Bundle: bundle(base.BlockHeight(h), 0, protocol.Tracked)}}); err != nil {
						b.Fatal(err)
					}
				}
			}
			ss.flush(b, s)
			s = ss.load()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p, err := s.PendingBundleBytes(ctx, 10_000, 16<<20)
				if err != nil || p.Len() != shape[0]*shape[1] {
					b.Fatal(p.Len(), err)
				}
			}
		})
	}
}
