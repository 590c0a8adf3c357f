package wasm

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
)

// countingBlobs is an execution.BlobReader over a set of blobs that counts reads.
type countingBlobs struct {
	blobs map[base.BlobID]protocol.Blob
	reads []base.BlobID
}

func (c *countingBlobs) ReadBlob(_ context.Context, id base.BlobID) (protocol.Blob, error) {
	c.reads = append(c.reads, id)
	b, ok := c.blobs[id]
	if !ok {
		return protocol.Blob{}, &execution.MissingBlobError{ID: id}
	}
	return b, nil
}

// TestLoaderReusesCompiledBlob: loading a contract again gives the same compiled module
// (its bytecode blob is not decompressed again) and still reads the description and
// bytecode blobs through the reader, so the reads are recorded every time.
func TestLoaderReusesCompiledBlob(t *testing.T) {
	ctx := context.Background()
	code := guest(t, "counter")
	module, blobs := protocol.ModuleBlobs(code, code)
	desc := protocol.NewBlob(base.BlobApplicationDescription, codec.Marshal(&protocol.ApplicationDescription{Module: module}))
	r := &countingBlobs{blobs: map[base.BlobID]protocol.Blob{}}
	for _, b := range append(blobs, desc) {
		r.blobs[b.ID()] = b
	}
	app := base.ApplicationID(desc.ID().Hash)
	l := NewLoader(newEngine(t, EngineConfig{}), 0)
	var first *Module
	for i := 0; i < 3; i++ {
		r.reads = nil
		c, err := l.LoadContract(ctx, app, r)
		if err != nil {
			t.Fatal(err)
		}
		m := c.(*Contract).module
		if first == nil {
			first = m
		} else if m != first {
			t.Fatalf("load %d compiled the module again", i)
		}
		if len(r.reads) != 2 || r.reads[0] != desc.ID() || r.reads[1] != module.ContractBlob() {
			t.Fatalf("load %d read %v, want the description and the contract bytecode", i, r.reads)
		}
	}
	// A blob that is missing stays an error, cached module or not.
	delete(r.blobs, module.ContractBlob())
	if _, err := l.LoadContract(ctx, app, r); err == nil {
		t.Fatal("loaded a contract whose bytecode blob is missing")
	}
}

// checkingBlobs is a countingBlobs that can also check a blob without reading it
// (execution.BlobChecker), counting the checks.
type checkingBlobs struct {
	countingBlobs
	checks []base.BlobID
}

func (c *checkingBlobs) CheckBlob(_ context.Context, id base.BlobID) error {
	c.checks = append(c.checks, id)
	if _, ok := c.blobs[id]; !ok {
		return &execution.MissingBlobError{ID: id}
	}
	return nil
}

// TestLoaderChecksCachedBytecodeWithoutReading: once a bytecode blob's module is
// compiled and an application's description decoded, a reader that can check blobs is
// asked to check them, not to read them (the bytecode's megabytes, the description
// decoded again); the check still fails for a missing blob.
func TestLoaderChecksCachedBytecodeWithoutReading(t *testing.T) {
	ctx := context.Background()
	code := guest(t, "counter")
	module, blobs := protocol.ModuleBlobs(code, code)
	desc := protocol.NewBlob(base.BlobApplicationDescription, codec.Marshal(&protocol.ApplicationDescription{Module: module}))
	r := &checkingBlobs{countingBlobs: countingBlobs{blobs: map[base.BlobID]protocol.Blob{}}}
	for _, b := range append(blobs, desc) {
		r.blobs[b.ID()] = b
	}
	app := base.ApplicationID(desc.ID().Hash)
	l := NewLoader(newEngine(t, EngineConfig{}), 0)
	if _, err := l.LoadContract(ctx, app, r); err != nil {
		t.Fatal(err)
	}
	if len(r.reads) != 2 || len(r.checks) != 0 {
		t.Fatalf("first load: read %v, checked %v; want the description and the bytecode read", r.reads, r.checks)
	}
	r.reads = nil
	if _, err := l.LoadContract(ctx, app, r); err != nil {
		t.Fatal(err)
	}
	if len(r.reads) != 0 || len(r.checks) != 2 || r.checks[0] != desc.ID() || r.checks[1] != module.ContractBlob() {
		t.Fatalf("second load: read %v, checked %v; want the description and the bytecode checked", r.reads, r.checks)
	}
	delete(r.blobs, module.ContractBlob())
	if _, err := l.LoadContract(ctx, app, r); err == nil {
		t.Fatal("loaded a contract whose bytecode blob is missing")
	}
	r.blobs[module.ContractBlob()] = blobs[0]
	delete(r.blobs, desc.ID())
	if _, err := l.LoadContract(ctx, app, r); !errors.Is(err, base.ErrNotFound) {
		t.Fatalf("loaded a contract whose description blob is missing: %v", err)
	}
}
