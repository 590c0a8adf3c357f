package worker_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
)

// TestAttackFullInboxAnswerWrittenOnce: strangers fill a chain's inbox (about 10,000
// bundles, 16 MiB), and anyone asks for its pending bundles (a small query). The answer
// of 17 MB was encoded into a buffer grown as it went: about 118 MB allocated and
// copied per query for the encoding alone (the whole query, reads included, 178 MB).
// The worker now sizes the buffer for the answer and writes it once.
func TestAttackFullInboxAnswerWrittenOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("fills an inbox with 16 MiB of bundles")
	}
	ctx := context.Background()
	r := newValidatorRing(t, 2, memkv.New(), nil)
	victim := r.ids[0]
	fillInbox(t, r, victim, r.ids[1], 0)
	info, err := r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(victim))
	if err != nil {
		t.Fatal(err)
	}
	want := codec.Marshal(info)
	if len(want) < 15<<20 {
		t.Fatalf("answer of %d bytes, want a full inbox's", len(want))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := r.w.EncodeChainInfo(info)
	runtime.ReadMemStats(&after)
	if !bytes.Equal(got, want) {
		t.Fatal("the answer differs from the info's encoding")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("answer %d bytes; %d bytes allocated to encode it (%.2f×)", len(want), alloc, float64(alloc)/float64(len(want)))
	if limit := uint64(len(want)) + uint64(len(want))/8; alloc > limit {
		t.Errorf("encoding an answer of %d bytes allocated %d (want at most %d)", len(want), alloc, limit)
	}
}

// fillInbox delivers 10,000 bundles of 1,600 bytes from sender to victim's inbox (16
// MiB, the most a chain-info answer lists), at heights from first on, 100 per request.
func fillInbox(tb testing.TB, r *validatorRing, victim, sender base.ChainID, first base.BlockHeight) {
	tb.Helper()
	const perReq, reqs, size = 100, 100, 1600
	for q := range reqs {
		req := &protocol.CrossChainRequest{Sender: sender, Recipient: victim}
		for i := range perReq {
			h := first + base.BlockHeight(q*perReq+i)
			b := protocol.MessageBundle{Height: h, Timestamp: 1, CertificateHash: base.Hash{byte(h), byte(h >> 8)},
				Messages: []protocol.PostedMessage{{Kind: protocol.Simple, Message: protocol.Message{App: base.ApplicationID{1}, Bytes: make([]byte, size)}}}}
			req.Bundles = append(req.Bundles, protocol.EpochBundle{Bundle: b})
		}
		if err := r.w.HandleCrossChainRequest(context.Background(), req); err != nil {
			tb.Fatal(err)
		}
	}
}
