package rpc

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestDefaultPolicyDeliversLargestBytecode publishes, over gRPC under the default
// policy and the default transport limits, a module whose two bytecode blobs are each
// of the largest size the policy admits (MaxBytecodeSize), from a client whose
// proposals reach three validators of four. The proposal carries both blobs (checked
// whole against MaxBlockSize); the fourth validator gets the certificate and then each
// blob alone by upload (within MaxBlobSize + 1 MiB). All four must execute the block.
// Under the earlier default (MaxBytecodeSize 32 MiB) neither path could carry the
// largest admitted blob: the proposal was refused as larger than MaxBlockSize.
func TestDefaultPolicyDeliversLargestBytecode(t *testing.T) {
	if testing.Short() {
		t.Skip("moves two bytecode blobs of MaxBytecodeSize to four validators")
	}
	policy := protocol.NoFeesPolicy()
	if err := policy.CheckDeliverable(); err != nil {
		t.Fatalf("the default policy: %v", err)
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(768 << 20))
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newTestNetWithPolicy(t, []*crypto.PrivateKey{alice, bob}, policy)
	id := n.chains[0]
	size := int(policy.MaxBytecodeSize)
	// Blob contents of exactly the limit (the harness's validators have no VM, so the
	// bytes are not compiled; the limit is on the blob as published).
	contract := protocol.NewBlob(base.BlobContractBytecode, pattern(1, size))
	service := protocol.NewBlob(base.BlobServiceBytecode, pattern(2, size))
	module := protocol.ModuleID{Contract: contract.ID().Hash, Service: service.ID().Hash}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cc := largeClient(n, 3).Chain(id, alice, nil)
	cert, err := cc.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.PublishModule{Module: module})}, []protocol.Blob{contract, service})
	if err != nil {
		t.Fatalf("publishing a module of two %d-byte bytecode blobs under the default policy: %v", size, err)
	}
	if cert == nil {
		t.Fatal("nothing was committed")
	}
	n.waitHeight(id, 1, all(len(n.vals)))
	for i := range n.vals {
		for _, b := range []protocol.Blob{contract, service} {
			got, err := n.vals[i].node.ReadBlob(ctx, b.ID())
			if err != nil || len(got.Content) != size {
				t.Fatalf("validator %d: blob %s not published (%v)", i, b.ID(), err)
			}
		}
	}

	// One byte more is refused, with the reason.
	over := protocol.NewBlob(base.BlobContractBytecode, pattern(3, size+1))
	small := protocol.NewBlob(base.BlobServiceBytecode, pattern(4, 64))
	module = protocol.ModuleID{Contract: over.ID().Hash, Service: small.ID().Hash}
	_, err = largeClient(n, 4).Chain(n.chains[1], bob, nil).ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.PublishModule{Module: module})}, []protocol.Blob{over, small})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("exceeds the limit of %d", size)) {
		t.Fatalf("a bytecode blob of %d bytes, over MaxBytecodeSize: got %v, want the limit named", size+1, err)
	}
	t.Logf("over the limit: %v", err)
}
