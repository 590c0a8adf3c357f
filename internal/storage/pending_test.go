package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
)

func blobN(i, size int) protocol.Blob {
	c := make([]byte, size)
	copy(c, fmt.Sprintf("blob %d", i))
	return protocol.NewBlob(base.BlobData, c)
}

// TestPendingAreaBounds checks the pending area's count, byte and time bounds, that the
// oldest entries go first, that pending blobs are not confirmed ones, and that a new
// Storage on the same database keeps the bounds.
func TestPendingAreaBounds(t *testing.T) {
	ctx := context.Background()
	db := memkv.New()
	defer db.Close()
	st := storage.New(db)
	st.SetPendingLimits(storage.PendingLimits{MaxBytes: 1000, MaxCount: 3, TTL: 100})
	var now base.Timestamp = 1000
	for i := 0; i < 5; i++ {
		b := blobN(i, 100)
		if err := st.PutPendingBlob(ctx, &b, now); err != nil {
			t.Fatal(err)
		}
	}
	if n, bytes, err := st.PendingStats(ctx); err != nil || n != 3 || bytes != 300 {
		t.Fatalf("count bound: %d blobs, %d bytes, %v", n, bytes, err)
	}
	for i := 0; i < 5; i++ {
		b := blobN(i, 100)
		_, err := st.PendingBlob(ctx, b.ID(), now)
		if want := i >= 2; (err == nil) != want {
			t.Errorf("blob %d pending = %v, want %v (oldest evicted first)", i, err == nil, want)
		}
		if _, err := st.Blob(ctx, b.ID()); !base.IsNotFound(err) {
			t.Errorf("pending blob %d readable as confirmed: %v", i, err)
		}
	}
	// Bytes: a 950-byte blob evicts the oldest entries until it fits.
	big := blobN(9, 950)
	if err := st.PutPendingBlob(ctx, &big, now); err != nil {
		t.Fatal(err)
	}
	if n, bytes, _ := st.PendingStats(ctx); n != 1 || bytes != 950 {
		t.Fatalf("byte bound: %d blobs, %d bytes", n, bytes)
	}
	huge := blobN(10, 1001)
	if err := st.PutPendingBlob(ctx, &huge, now); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("blob larger than the area: %v", err)
	}
	// Expiry: the blob is gone at its expiry and evicted by the next insert.
	if _, err := st.PendingBlob(ctx, big.ID(), now+100); !base.IsNotFound(err) {
		t.Fatalf("expired blob still readable: %v", err)
	}
	small := blobN(11, 10)
	if err := st.PutPendingBlob(ctx, &small, now+100); err != nil {
		t.Fatal(err)
	}
	// A fresh Storage on the same database rebuilds the bookkeeping.
	again := storage.New(db)
	if n, bytes, err := again.PendingStats(ctx); err != nil || n != 1 || bytes != 10 {
		t.Fatalf("after reload: %d blobs, %d bytes, %v", n, bytes, err)
	}
	// Confirming moves a blob out of the pending area.
	var b kv.Batch
	storage.ConfirmBlobs(&b, []protocol.Blob{small})
	if err := again.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	again.ForgetPending([]protocol.Blob{small})
	if _, err := again.Blob(ctx, small.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := again.PendingBlob(ctx, small.ID(), now+100); !base.IsNotFound(err) {
		t.Fatalf("confirmed blob still pending: %v", err)
	}
	if n, _, _ := again.PendingStats(ctx); n != 0 {
		t.Fatalf("%d pending after confirmation", n)
	}
}
