package storage_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/storage/storagetest"
)

// TestHasBlob: HasBlob finds confirmed blobs, not pending or absent ones, and asks the
// database once per confirmed blob (confirmed blobs are never removed).
func TestHasBlob(t *testing.T) {
	ctx := context.Background()
	confirmed, pending, absent := blobN(1, 64), blobN(2, 64), blobN(3, 64)
	st, db := storagetest.CountedStore(t, &confirmed)
	if err := st.PutPendingBlob(ctx, &pending, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		has, err := st.HasBlob(ctx, confirmed.ID())
		if err != nil || !has {
			t.Fatalf("check %d of a confirmed blob: %v %v", i, has, err)
		}
	}
	if db.Reads() != 1 {
		t.Fatalf("%d database reads for three checks of one confirmed blob, want 1", db.Reads())
	}
	for _, id := range []string{"pending", "absent"} {
		blob := pending
		if id == "absent" {
			blob = absent
		}
		has, err := st.HasBlob(ctx, blob.ID())
		if err != nil || has {
			t.Fatalf("%s blob: HasBlob = %v, %v; want false", id, has, err)
		}
	}
}
