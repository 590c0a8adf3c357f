// Package storagetest is test support for storage and the packages built on it.
package storagetest

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/kvtest"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
)

// CountedStore returns a store over a memory database that counts its reads (the
// counter, reset), holding blobs as confirmed blobs: written by storage.PutBlob in one
// batch, as a confirmed block's are. The database is closed when t's test ends.
func CountedStore(t testing.TB, blobs ...*protocol.Blob) (*storage.Storage, *kvtest.ReadCounter) {
	t.Helper()
	db := &kvtest.ReadCounter{Store: memkv.New()}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close the database: %v", err)
		}
	})
	st := storage.New(db)
	var b kv.Batch
	for _, blob := range blobs {
		storage.PutBlob(&b, blob)
	}
	if err := st.Write(context.Background(), &b); err != nil {
		t.Fatalf("write the blobs: %v", err)
	}
	db.Reset()
	return st, db
}
