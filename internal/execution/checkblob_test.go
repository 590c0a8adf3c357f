package execution

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// presenceResolver is a Resolver over a set of blobs that can check presence
// (BlobPresence), counting reads and checks.
type presenceResolver struct {
	blobs         map[base.BlobID]protocol.Blob
	reads, checks int
}

func (r *presenceResolver) ReadBlob(_ context.Context, id base.BlobID) (protocol.Blob, error) {
	r.reads++
	b, ok := r.blobs[id]
	if !ok {
		return protocol.Blob{}, base.NotFoundf("blob %s", id)
	}
	return b, nil
}

func (r *presenceResolver) ReadEvent(context.Context, protocol.EventID) ([]byte, error) {
	return nil, base.NotFoundf("no events")
}

func (r *presenceResolver) HasBlob(_ context.Context, id base.BlobID) (bool, error) {
	r.checks++
	_, ok := r.blobs[id]
	return ok, nil
}

// TestCheckBlobRecordsAsReadBlob: CheckBlob records the response ReadBlob records,
// replays against responses ReadBlob recorded (and the reverse), refuses a mismatch,
// and fails for a missing blob as ReadBlob does; it asks the resolver for presence, not
// content.
func TestCheckBlobRecordsAsReadBlob(t *testing.T) {
	ctx := context.Background()
	blob := protocol.NewBlob(base.BlobContractBytecode, []byte("bytecode"))
	other := protocol.NewBlob(base.BlobServiceBytecode, []byte("service"))
	r := &presenceResolver{blobs: map[base.BlobID]protocol.Blob{blob.ID(): blob, other.ID(): other}}

	live := LiveOracles(r)
	if err := live.CheckBlob(ctx, blob.ID()); err != nil {
		t.Fatal(err)
	}
	if r.reads != 0 || r.checks != 1 {
		t.Fatalf("%d reads, %d checks; want 0 and 1", r.reads, r.checks)
	}
	viaRead := LiveOracles(r)
	if _, err := viaRead.ReadBlob(ctx, blob.ID()); err != nil {
		t.Fatal(err)
	}
	if len(live.Responses()) != 1 || live.Responses()[0].Kind != viaRead.Responses()[0].Kind || live.Responses()[0].Blob != viaRead.Responses()[0].Blob {
		t.Fatalf("CheckBlob recorded %+v, ReadBlob %+v", live.Responses(), viaRead.Responses())
	}

	// Replay either way round.
	if err := ReplayOracles(r, viaRead.Responses()).CheckBlob(ctx, blob.ID()); err != nil {
		t.Fatalf("check replaying a read: %v", err)
	}
	if _, err := ReplayOracles(r, live.Responses()).ReadBlob(ctx, blob.ID()); err != nil {
		t.Fatalf("read replaying a check: %v", err)
	}
	if err := ReplayOracles(r, live.Responses()).CheckBlob(ctx, other.ID()); !errors.Is(err, ErrOracleMismatch) {
		t.Fatalf("check of another blob than recorded: %v, want ErrOracleMismatch", err)
	}

	// A missing blob is a *MissingBlobError and records nothing.
	missing := base.BlobID{Type: base.BlobContractBytecode, Hash: base.Hash{9}}
	o := LiveOracles(r)
	var mb *MissingBlobError
	if err := o.CheckBlob(ctx, missing); !errors.As(err, &mb) || len(o.Responses()) != 0 {
		t.Fatalf("missing blob: %v, %d responses", err, len(o.Responses()))
	}
	// Without BlobPresence the resolver is read.
	plain := LiveOracles(struct{ Resolver }{r})
	before := r.reads
	if err := plain.CheckBlob(ctx, blob.ID()); err != nil || r.reads != before+1 {
		t.Fatalf("check without presence: %v, %d reads", err, r.reads-before)
	}
}
