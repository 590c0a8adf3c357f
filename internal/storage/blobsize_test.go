package storage_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage/storagetest"
)

// TestBlobSizeReadsNoContent: BlobSize tells a confirmed blob's size reading a few
// bytes, not its content (a 4 MiB blob: under 16 bytes read); a blob stored without a
// recorded size (an older store) is measured by reading it; one not confirmed is not
// found.
func TestBlobSizeReadsNoContent(t *testing.T) {
	ctx := context.Background()
	big := protocol.NewBlob(base.BlobContractBytecode, make([]byte, 4<<20))
	st, db := storagetest.CountedStore(t, &big)
	n, err := st.BlobSize(ctx, big.ID())
	if err != nil || n != len(big.Content) {
		t.Fatalf("BlobSize = %d, %v; want %d", n, err, len(big.Content))
	}
	if db.Bytes() > 16 {
		t.Fatalf("BlobSize read %d bytes for a %d-byte blob, want a few", db.Bytes(), n)
	}

	// A blob written as stores did before sizes were recorded: the content only.
	old := blobN(7, 1000)
	oldID := old.ID()
	var ob kv.Batch
	ob.Put(append([]byte{'B', byte(oldID.Type)}, oldID.Hash[:]...), old.Content)
	if err := db.Write(ctx, &ob); err != nil {
		t.Fatal(err)
	}
	if n, err := st.BlobSize(ctx, oldID); err != nil || n != 1000 {
		t.Fatalf("BlobSize of a blob without a recorded size = %d, %v; want 1000", n, err)
	}
	absent := blobN(8, 10)
	if _, err := st.BlobSize(ctx, absent.ID()); !base.IsNotFound(err) {
		t.Fatalf("BlobSize of an absent blob: %v, want not found", err)
	}
}
