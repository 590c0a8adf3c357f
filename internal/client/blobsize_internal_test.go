package client

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage/storagetest"
	"github.com/micachain/mica/internal/worker"
)

// TestLocalBlobSizeReadsNoContent: the sizes compileWork and firstRunSize take from the
// local store (bytecode up to 32 MiB) are read without the blobs' content.
func TestLocalBlobSizeReadsNoContent(t *testing.T) {
	ctx := context.Background()
	blob := protocol.NewBlob(base.BlobContractBytecode, make([]byte, 4<<20))
	st, db := storagetest.CountedStore(t, &blob)
	c := New(Config{Local: worker.New(worker.Config{Storage: st})})
	db.Reset()
	if n, ok := c.localBlobSize(ctx, blob.ID()); !ok || n != len(blob.Content) {
		t.Fatalf("size %d, %v, want %d", n, ok, len(blob.Content))
	}
	if db.Bytes() > 16 {
		t.Fatalf("read %d bytes to learn the size of a %d-byte blob", db.Bytes(), len(blob.Content))
	}
	absent := protocol.NewBlob(base.BlobServiceBytecode, []byte("nowhere"))
	if n, ok := c.localBlobSize(ctx, absent.ID()); ok || n != 0 {
		t.Fatalf("size of an absent blob %d, %v; want none", n, ok)
	}
}
