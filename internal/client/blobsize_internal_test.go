package client

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/kvtest"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// TestLocalBlobSizeReadsNoContent: the sizes compileWork and firstRunSize take from the
// local store (bytecode up to 32 MiB) are read without the blobs' content.
func TestLocalBlobSizeReadsNoContent(t *testing.T) {
	ctx := context.Background()
	db := &kvtest.ReadCounter{Store: memkv.New()}
	defer db.Close()
	st := storage.New(db)
	blob := protocol.NewBlob(base.BlobContractBytecode, make([]byte, 4<<20))
	var b kv.Batch
	storage.PutBlob(&b, &blob)
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
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
