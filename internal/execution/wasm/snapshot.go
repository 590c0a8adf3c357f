package wasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/bits"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/execution"
)

// InitializeFuel bounds a module's _initialize (a Go guest's runtime start-up and
// package initialisation). _initialize runs in a fixed environment (InitEnvironment, no
// host calls), so its outcome and the fuel it burns are properties of the module alone;
// that fuel is not charged to the transactions that run the module.
const InitializeFuel = DefaultFuelPerTransaction

// InitEnvironment is what _initialize sees: time 0 and the zero seed. Host calls
// (mica.call) answer CodeNotSupported and logs are dropped.
var InitEnvironment = Environment{}

// snapshotChunk is the granularity at which a snapshot keeps the memory that
// _initialize changed.
const snapshotChunk = 4096

// snapshot is an instance's state right after _initialize: everything that differs from
// a new instance of the same compiled module. It is immutable once taken.
//
// Restoring it into a new instance gives exactly the state _initialize would have left
// there: a new instance's memory is the module's data segments over zeroes, identical in
// every instance; _initialize ran with fixed host inputs; its memory (size and the
// chunks that changed) and every mutable global are put back; the fuel global is set to
// the run's budget by the run itself. Modules whose state also lives in tables or in
// dropped segments (moduleInfo.noSnapshot) are never snapshotted.
type snapshot struct {
	pages   uint64     // memory size in 64 KiB pages
	chunks  []memChunk // memory that differs from a new instance's, ascending
	globals []uint64   // values of Module.globals, in order
	// clock is the number of clock readings _initialize made: the run's readings go on
	// from there, so the guest's monotonic clock never goes back.
	clock uint64
	// image is the whole memory, to reset a used instance (nil when the memory is
	// over maxPooledPages: such modules are always instantiated afresh).
	image []byte
	// zero[i] says that chunk i of image (resetChunk bytes at i*resetChunk) is all
	// zero bytes: reset checks such a chunk of a used instance against a small zero
	// buffer that stays in cache instead of the image.
	zero []bool
}

// resetChunk is the granularity at which reset compares a used instance's memory with
// the image and rewrites what differs.
const resetChunk = 1 << dirtyChunkShift

// zeroChunk is resetChunk zero bytes.
var zeroChunk [resetChunk]byte

// maxPooledPages bounds the memory of a module whose instances are reused, so that
// idle instances and images hold at most about 16 modules × 3 × 8 MiB.
const maxPooledPages = 128

type memChunk struct {
	off  uint32
	data []byte
}

// size returns the bytes a snapshot holds.
func (s *snapshot) size() int {
	n := 8*len(s.globals) + len(s.image) + len(s.zero)
	for _, c := range s.chunks {
		n += len(c.data)
	}
	return n
}

// initHost serves _initialize: no host requests, no logs, the fixed environment.
type initHost struct{}

func (initHost) Call(context.Context, Kind, []byte) ([]byte, error) { return nil, ErrNotSupported }
func (initHost) Log(slog.Level, string)                             {}
func (initHost) Environment() Environment                           { return InitEnvironment }

// initialize calls _initialize in inst, drawing fuel from tank, in the fixed
// environment. It returns the number of clock readings made.
func (m *Module) initialize(ctx context.Context, inst *instance, tank *execution.FuelTank) (uint64, error) {
	st := &callState{host: initHost{}, env: InitEnvironment, logger: m.e.cfg.Logger, rand: randStream{seed: InitEnvironment.Seed}, tank: tank, fuel: inst.fuel}
	ctx = context.WithValue(ctx, stateKey{}, st)
	end := st.start(ctx)
	_, err := st.call(ctx, inst, "_initialize")
	end()
	if err != nil {
		return 0, err
	}
	return st.clock, nil
}

// snapshot returns the module's state after _initialize, taking it on first use in an
// instance of cm. A deterministic failure of _initialize (a trap, fuel exhausted) is
// kept and returned to every later run; an interrupted one is not.
func (m *Module) snapshot(ctx context.Context, rt int, cm wazero.CompiledModule) (*snapshot, error) {
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	if m.snap != nil || m.snapErr != nil {
		return m.snap, m.snapErr
	}
	in, err := m.instantiate(ctx, rt, cm)
	if err != nil {
		return nil, err
	}
	inst := in.mod
	defer inst.Close(ctx)
	mem := inst.Memory()
	before, ok := mem.Read(0, mem.Size())
	if !ok {
		return nil, fmt.Errorf("%w: snapshot: cannot read memory", base.ErrRetryable)
	}
	before = bytes.Clone(before)
	clock, err := m.initialize(ctx, in, execution.NewFuelTank(InitializeFuel))
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, base.ErrRetryable) {
			m.snapErr = fmt.Errorf("_initialize: %w", err)
			return nil, m.snapErr
		}
		return nil, err
	}
	after, ok := mem.Read(0, mem.Size())
	if !ok {
		return nil, fmt.Errorf("%w: snapshot: cannot read memory", base.ErrRetryable)
	}
	snap := &snapshot{pages: uint64(len(after)) / 65536, clock: clock}
	if snap.pages <= maxPooledPages {
		snap.image = bytes.Clone(after)
		snap.zero = make([]bool, (len(after)+resetChunk-1)/resetChunk)
		for i := range snap.zero {
			c := after[i*resetChunk : min((i+1)*resetChunk, len(after))]
			snap.zero[i] = bytes.Equal(c, zeroChunk[:len(c)])
		}
	}
	var zero [snapshotChunk]byte
	for off := 0; off < len(after); off += snapshotChunk {
		end := min(off+snapshotChunk, len(after))
		cur := after[off:end]
		var old []byte
		if off < len(before) {
			old = before[off:min(end, len(before))]
		}
		if len(old) < len(cur) {
			old = append(bytes.Clone(old), zero[:len(cur)-len(old)]...)
		}
		if bytes.Equal(cur, old) {
			continue
		}
		if n := len(snap.chunks); n > 0 && int(snap.chunks[n-1].off)+len(snap.chunks[n-1].data) == off {
			snap.chunks[n-1].data = append(snap.chunks[n-1].data, cur...)
			continue
		}
		snap.chunks = append(snap.chunks, memChunk{off: uint32(off), data: bytes.Clone(cur)})
	}
	for _, name := range m.globals {
		g := inst.ExportedGlobal(name)
		if g == nil {
			return nil, fmt.Errorf("%w: global export %s missing", ErrMalformedModule, name)
		}
		snap.globals = append(snap.globals, g.Get())
	}
	m.snap = snap
	return snap, nil
}

// reset puts the snapshot into inst, an instance of the snapshotted module that ended a
// run with its memory at the snapshot's size: it rewrites every mutable global (the run
// sets the fuel global) and every chunk of memory that the run may have written and
// that differs from the image. That is the instance's whole state: the module has no
// instruction that changes a table or drops a segment (else it has no snapshot), so its
// tables and segments are still those of a new instance.
//
// What the run may have written is in the instance's two dirty globals: every write, of
// the guest (instrumented stores, memory.fill, memory.copy, memory.init) or of the host
// (markWritten), sets bit p%64 of DirtyExport for the 64 KiB page p of its first byte and
// bit c%64 of DirtyChunksExport for its 4 KiB chunk c (for a range, those of every page
// and chunk of [d, d+n]). So a chunk whose page bit or own bit is clear holds the image
// still, but for the first bytes of a chunk after a marked one (a store of up to 8 bytes
// marks the chunk of its first byte; its last 7 may cross into the next chunk). reset
// compares only the chunks with both bits set and the first storeSpill bytes of the
// chunk after each, rewrites what differs and clears both globals. The ABI counter's
// increment marks 8 of its 38 pages (136 chunks) and 18 chunk bits, which intersect to
// 40 chunks compared instead of 144 (the pages and the chunk after each; it changes 16); the SDK
// counter's, 34. Chunks that are zero in the image (most of a Go guest's heap) are
// compared against a zero chunk that stays in cache.
//
// Marking costs a few instructions after every guest store (not charged as fuel). The
// kernel's dirty tracking would cost a write fault per page (~12 µs each on our VMs).
func (s *snapshot) reset(inst api.Module, globals []string) error {
	mem := inst.Memory()
	buf, ok := mem.Read(0, mem.Size())
	if s.image == nil || !ok || len(buf) != len(s.image) {
		return fmt.Errorf("%w: reset an instance: memory of %d bytes, snapshot of %d", base.ErrRetryable, mem.Size(), len(s.image))
	}
	dirty, ok := inst.ExportedGlobal(DirtyExport).(api.MutableGlobal)
	if !ok {
		return fmt.Errorf("%w: global export %s missing", ErrMalformedModule, DirtyExport)
	}
	dirtyChunks, ok := inst.ExportedGlobal(DirtyChunksExport).(api.MutableGlobal)
	if !ok {
		return fmt.Errorf("%w: global export %s missing", ErrMalformedModule, DirtyChunksExport)
	}
	set0, chunks := dirty.Get(), dirtyChunks.Get()
	s.resetDirty(buf, set0, chunks)
	dirty.Set(0)
	dirtyChunks.Set(0)
	if checkReset && !bytes.Equal(buf, s.image) {
		panic(fmt.Sprintf("wasm: invariant broken: memory differs from the snapshot after a reset (dirty pages %#x, chunks %#x)", set0, chunks))
	}
	return setGlobals(inst, globals, s.globals)
}

// resetDirty restores in buf, a memory of the image's size, every chunk whose page has
// its bit in pages and which has its own bit in chunks (see reset), and the first
// storeSpill bytes of the chunk after each.
func (s *snapshot) resetDirty(buf []byte, pages, chunks uint64) {
	const perPage = (1 << dirtyPageShift) / resetChunk // chunks per page, a power of 2 up to 64
	n := len(s.zero)
	np := (len(buf) + 1<<dirtyPageShift - 1) >> dirtyPageShift
	for set := pages; set != 0; set &= set - 1 {
		for p := bits.TrailingZeros64(set); p < np; p += 64 {
			// The bits of page p's chunks: first%64 is a multiple of perPage, so they
			// never wrap.
			first := p * perPage
			mask := chunks >> (first % 64) & (math.MaxUint64 >> (64 - perPage))
			for ; mask != 0; mask &= mask - 1 {
				i := first + bits.TrailingZeros64(mask)
				if i >= n {
					break
				}
				s.resetChunk(buf, i)
				// The head of the chunk after, unless it is the next candidate of this
				// page.
				if i+1 < n && mask&(mask-1)&(1<<(i+1-first)) == 0 {
					s.resetHead(buf, i+1)
				}
			}
		}
	}
}

// storeSpill bounds the bytes a store writes past the chunk of its first byte: the
// widest store (i64.store, f64.store) writes 8 bytes.
const storeSpill = 7

// resetHead rewrites the first storeSpill bytes of chunk i of buf with the image's.
func (s *snapshot) resetHead(buf []byte, i int) {
	cur, want := s.chunk(buf, i, storeSpill)
	copy(cur, want)
}

// resetChunk rewrites chunk i of buf with the image's if they differ.
func (s *snapshot) resetChunk(buf []byte, i int) {
	if cur, want := s.chunk(buf, i, resetChunk); !bytes.Equal(cur, want) {
		copy(cur, want)
	}
}

// chunk returns the first n bytes of chunk i of buf (fewer at the end of buf) and the
// image's bytes there.
func (s *snapshot) chunk(buf []byte, i, n int) (cur, want []byte) {
	off := i * resetChunk
	cur = buf[off:min(off+n, len(buf))]
	if s.zero[i] {
		return cur, zeroChunk[:len(cur)]
	}
	return cur, s.image[off : off+len(cur)]
}

func setGlobals(inst api.Module, names []string, values []uint64) error {
	for i, name := range names {
		g, ok := inst.ExportedGlobal(name).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("%w: global export %s missing", ErrMalformedModule, name)
		}
		g.Set(values[i])
	}
	return nil
}

// restore puts the snapshot into inst, a new instance of the snapshotted module (the
// fuel global excepted, which the run sets).
func (s *snapshot) restore(inst api.Module, globals []string) error {
	mem := inst.Memory()
	if cur := uint64(mem.Size()) / 65536; s.pages > cur {
		if _, ok := mem.Grow(uint32(s.pages - cur)); !ok {
			return fmt.Errorf("%w: restore the module's initial state: memory cannot grow to %d pages", execution.ErrApplication, s.pages)
		}
	}
	for _, c := range s.chunks {
		if !mem.Write(c.off, c.data) {
			return fmt.Errorf("%w: restore the module's initial state: write [%d, +%d)", execution.ErrApplication, c.off, len(c.data))
		}
	}
	return setGlobals(inst, globals, s.globals)
}
