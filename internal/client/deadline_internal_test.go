package client

import (
	"context"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestTransferTime: the extra call time is the bytes over the floor bandwidth; none for
// no bytes or with the extension turned off, and the default floor gives a 16 MiB blob
// 16 s.
func TestTransferTime(t *testing.T) {
	for _, tc := range []struct {
		bw   int64
		n    int
		want time.Duration
	}{
		{DefaultMinBandwidth, 0, 0},
		{DefaultMinBandwidth, -5, 0},
		{DefaultMinBandwidth, 1 << 20, time.Second},
		{DefaultMinBandwidth, 16 << 20, 16 * time.Second},
		{DefaultMinBandwidth, 512 << 10, 500 * time.Millisecond},
		{4 << 20, 16 << 20, 4 * time.Second},
		{1000, 1, time.Millisecond},
		{-1, 16 << 20, 0},
	} {
		c := New(Config{MinBandwidth: tc.bw})
		if got := c.transferTime(tc.n); got != tc.want {
			t.Errorf("%d bytes at %d B/s: %v, want %v", tc.n, tc.bw, got, tc.want)
		}
	}
	if got := New(Config{}).cfg.MinBandwidth; got != DefaultMinBandwidth {
		t.Errorf("default MinBandwidth %d, want %d", got, DefaultMinBandwidth)
	}
}

// TestTransferWork: a block's calls get the time of its encoding plus the blobs it
// carries, and the extension adds to the compile work's and is capped.
func TestTransferWork(t *testing.T) {
	ctx := context.Background()
	c := New(Config{MinBandwidth: 1 << 20})
	owner := prototest.Key("alice").Public().Owner()
	var id base.ChainID
	blob := protocol.NewBlob(base.BlobData, make([]byte, 8<<20))
	block := prototest.TransferBlock(id, 0, nil, owner, base.Account{Chain: id}, 1).Proposed
	block.Transactions = append(block.Transactions, protocol.OperationTx(protocol.SystemOp(&protocol.PublishDataBlob{Hash: blob.ID().Hash})))
	want := c.transferTime(codec.Size(&block) + len(blob.Content))
	if got := c.transferWork(ctx, &block, []protocol.Blob{blob}); got != want || got < 8*time.Second {
		t.Fatalf("transfer work %v, want %v (8 MiB at 1 MiB/s and the block)", got, want)
	}
	ext := ExtraCallTime(WithExtraCallTime(ctx, 3*time.Second+want))
	if ext != 3*time.Second+want {
		t.Errorf("extension %v, want %v", ext, 3*time.Second+want)
	}
	if got := ExtraCallTime(WithExtraCallTime(ctx, time.Hour)); got != maxExtraCallTime {
		t.Errorf("extension %v, want the cap %v", got, maxExtraCallTime)
	}
}
