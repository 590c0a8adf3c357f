package wasm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/protocol"
)

// DefaultFuelPerTransaction bounds a transaction's contract execution until the
// resource policy prices fuel: the same constant on every validator.
const DefaultFuelPerTransaction = 100_000_000

// Loader is the execution.ApplicationLoader of Wasm applications: it reads an
// application's description and bytecode through the BlobReader (so the reads are
// recorded as oracle responses and replayed identically) and compiles the bytecode with
// the engine (cached by hash). A bytecode blob already compiled is not decompressed
// again: the loader remembers which module each blob id gave (a blob id is the hash of
// its content), and which description each application id names. It is safe for
// concurrent use.
type Loader struct {
	engine *Engine
	fuel   uint64

	mu sync.Mutex
	// byBlob maps a bytecode blob's id to the hash of its Wasm bytes (Module.Hash);
	// at most maxBlobAliases entries (emptied when full).
	byBlob map[base.BlobID][32]byte
	// descs holds decoded application descriptions by application id (the hash of
	// the description blob's content, so an entry never goes stale); at most
	// maxBlobAliases entries (emptied when full). Shared read-only.
	descs map[base.ApplicationID]*protocol.ApplicationDescription
}

const maxBlobAliases = 4096

var _ execution.ApplicationLoader = (*Loader)(nil)

// NewLoader returns a loader; fuel is the budget of each transaction's contract calls
// (DefaultFuelPerTransaction if zero).
func NewLoader(e *Engine, fuel uint64) *Loader {
	if fuel == 0 {
		fuel = DefaultFuelPerTransaction
	}
	return &Loader{engine: e, fuel: fuel, byBlob: make(map[base.BlobID][32]byte), descs: make(map[base.ApplicationID]*protocol.ApplicationDescription)}
}

// Description reads an application's description.
func Description(ctx context.Context, app base.ApplicationID, blobs execution.BlobReader) (*protocol.ApplicationDescription, error) {
	b, err := blobs.ReadBlob(ctx, base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(app)})
	if err != nil {
		return nil, fmt.Errorf("application %s: %w", app, err)
	}
	var d protocol.ApplicationDescription
	if err := codec.Unmarshal(b.Content, &d); err != nil {
		return nil, base.Corruptf("description of application %s: %v", app, err)
	}
	return &d, nil
}

// description returns app's description, read through blobs and decoded the first
// time; later, when blobs can check a blob without reading it (BlobChecker), the
// description blob is checked (the check is recorded, and fails for a missing blob as
// the read would) and the decoded description reused. The caller must not modify it.
func (l *Loader) description(ctx context.Context, app base.ApplicationID, blobs execution.BlobReader) (*protocol.ApplicationDescription, error) {
	if c, ok := blobs.(execution.BlobChecker); ok {
		l.mu.Lock()
		d := l.descs[app]
		l.mu.Unlock()
		if d != nil {
			if err := c.CheckBlob(ctx, base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(app)}); err != nil {
				return nil, fmt.Errorf("application %s: %w", app, err)
			}
			return d, nil
		}
	}
	d, err := Description(ctx, app, blobs)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.descs) >= maxBlobAliases {
		clear(l.descs)
	}
	l.descs[app] = d
	return d, nil
}

func (l *Loader) module(ctx context.Context, id base.BlobID, blobs execution.BlobReader) (*Module, error) {
	// The read is recorded (and replayed) even when the module is cached. When it is
	// cached and the reader can check a blob without reading it (BlobChecker), the
	// bytecode (megabytes) is not read at all: the blob id is the hash of its content,
	// so the cached module is what reading it would give.
	l.mu.Lock()
	h, ok := l.byBlob[id]
	l.mu.Unlock()
	if ok {
		if m := l.engine.cached(h); m != nil {
			if c, ok := blobs.(execution.BlobChecker); ok {
				if err := c.CheckBlob(ctx, id); err != nil {
					return nil, err
				}
				return m, nil
			}
		}
	}
	b, err := blobs.ReadBlob(ctx, id)
	if err != nil {
		return nil, err
	}
	if ok {
		if m := l.engine.cached(h); m != nil {
			return m, nil
		}
	}
	code, err := Bytecode(b.Content)
	if err != nil {
		return nil, err
	}
	m, err := l.engine.Compile(ctx, code)
	if err != nil {
		return nil, err
	}
	l.alias(id, m.Hash())
	return m, nil
}

// alias remembers that bytecode blob id gave the module of hash h.
func (l *Loader) alias(id base.BlobID, h [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byBlob) >= maxBlobAliases {
		clear(l.byBlob)
	}
	l.byBlob[id] = h
}

// CompileAhead starts compiling a contract or service bytecode blob in the background
// (Engine.CompileAhead: one at a time per engine), so that the execution that validates
// or runs it soon waits for that compilation instead of starting its own. The worker
// calls it only for blobs that a signed proposal or a verified certificate publishes:
// the execution of that block compiles them anyway. It returns whether a compilation
// started: not for other blob types, modules already compiled, or while the engine's
// background slot is busy.
func (l *Loader) CompileAhead(b protocol.Blob) bool {
	id := b.ID()
	if id.Type != base.BlobContractBytecode && id.Type != base.BlobServiceBytecode {
		return false
	}
	l.mu.Lock()
	h, ok := l.byBlob[id]
	l.mu.Unlock()
	if ok && l.engine.cached(h) != nil {
		return false
	}
	content := b.Content
	return l.engine.CompileAhead(func() ([]byte, error) { return Bytecode(content) }, func(m *Module, err error) {
		if err == nil {
			l.alias(id, m.Hash())
		}
	})
}

// MaxBytecodeSize bounds a module's decompressed size.
const MaxBytecodeSize = 32 << 20

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// Bytecode returns the Wasm bytes of a bytecode blob: zstd-compressed (as
// protocol.ModuleBlobs publishes them) or raw. Decompression stops at
// MaxBytecodeSize, so a small blob cannot expand into an unbounded allocation.
func Bytecode(content []byte) ([]byte, error) {
	if !bytes.HasPrefix(content, zstdMagic) {
		return content, nil
	}
	dec, err := zstd.NewReader(bytes.NewReader(content), zstd.WithDecoderMaxMemory(MaxBytecodeSize), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed bytecode: %v", ErrMalformedModule, err)
	}
	defer dec.Close()
	out, err := io.ReadAll(io.LimitReader(dec, MaxBytecodeSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: compressed bytecode: %v", ErrMalformedModule, err)
	}
	if len(out) > MaxBytecodeSize {
		return nil, fmt.Errorf("%w: bytecode larger than %d bytes once decompressed", ErrMalformedModule, MaxBytecodeSize)
	}
	return out, nil
}

// LoadContract compiles (or fetches from the cache) the application's contract.
func (l *Loader) LoadContract(ctx context.Context, app base.ApplicationID, blobs execution.BlobReader) (execution.UserContract, error) {
	d, err := l.description(ctx, app, blobs)
	if err != nil {
		return nil, err
	}
	m, err := l.module(ctx, d.Module.ContractBlob(), blobs)
	if err != nil {
		return nil, fmt.Errorf("contract of application %s: %w", app, err)
	}
	return NewContract(m, l.fuel), nil
}

// LoadService compiles (or fetches from the cache) the application's service.
func (l *Loader) LoadService(ctx context.Context, app base.ApplicationID, blobs execution.BlobReader) (execution.UserService, error) {
	d, err := l.description(ctx, app, blobs)
	if err != nil {
		return nil, err
	}
	m, err := l.module(ctx, d.Module.ServiceBlob(), blobs)
	if err != nil {
		return nil, fmt.Errorf("service of application %s: %w", app, err)
	}
	return NewService(m), nil
}

var _ execution.ModuleValidator = (*Loader)(nil)

// ValidateModule instruments and compiles bytecode (caching it), refusing malformed,
// oversized or import-mismatched modules.
func (l *Loader) ValidateModule(ctx context.Context, bytecode []byte) error {
	code, err := Bytecode(bytecode)
	if err != nil {
		return err
	}
	_, err = l.engine.Compile(ctx, code)
	return err
}
