package wasm

import (
	"bytes"
	"context"
	"maps"
	"math"
	"testing"
)

// i64c is i64.const v.
func i64c(v int64) []byte { return append([]byte{0x42}, appendS64(nil, v)...) }

// memarg is a store's alignment and static offset.
func memarg(align, offset uint32) []byte { return appendU32([]byte{byte(align)}, offset) }

// TestResetSeesEveryKindOfWrite: a run writes its memory by every means a guest has —
// stores of each width and type, with static offsets, across a page boundary, on pages
// whose dirty bit they share with another page (past page 64), memory.fill,
// memory.copy and memory.init spanning pages, and the host's own write of the input —
// and the reset that follows, which compares only the pages marked dirty, must leave
// the memory byte for byte as _initialize left it. Each run first checks that the
// reset actually had something to undo.
func TestResetSeesEveryKindOfWrite(t *testing.T) {
	skipUnderRace(t)
	const page = 65536
	const pages = 70 // pages 64–69 share dirty bits 0–5 with pages 0–5
	// _initialize puts non-zero bytes where later runs write, so that the image is not
	// zero there.
	init := wfunc{export: "_initialize", body: cat(i32c(66*page-64), i32c(0x11), i32c(128), []byte{0xFC, 11, 0},
		i32c(5*page), i32c(0x22), i32c(3*page), []byte{0xFC, 11, 0})}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"i64.store across a page boundary", cat(i32c(66*page-4), i64c(-1), []byte{0x37}, memarg(3, 0))},
		{"i32.store8 at a large static offset", cat(i32c(7), i32c(0x5A), []byte{0x3A}, memarg(0, 67*page+5))},
		{"i32.store16 at the last bytes", cat(i32c(pages*page-2), i32c(0x1234), []byte{0x3B}, memarg(1, 0))},
		{"i32.store", cat(i32c(2*page+8), i32c(-7), []byte{0x36}, memarg(2, 0))},
		{"i64.store8, 16 and 32", cat(i32c(68*page), i64c(3), []byte{0x3C}, memarg(0, 1),
			i32c(68*page), i64c(3), []byte{0x3D}, memarg(1, 4096), i32c(68*page), i64c(3), []byte{0x3E}, memarg(2, 3*4096))},
		{"f32.store and f64.store", cat(i32c(69*page-2), []byte{0x43, 0, 0, 0x80, 0x3F}, []byte{0x38}, memarg(2, 0),
			i32c(page-3), []byte{0x44, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F}, []byte{0x39}, memarg(3, 0))},
		{"memory.fill over several pages", cat(i32c(3*page+100), i32c(0xAB), i32c(2*page), []byte{0xFC, 11, 0})},
		{"memory.fill of the whole memory", cat(i32c(0), i32c(1), i32c(pages*page), []byte{0xFC, 11, 0})},
		{"memory.copy of the input to a page boundary", cat(i32c(65*page-3), i32c(1024), i32c(6), []byte{0xFC, 10, 0, 0})},
		{"memory.copy over a page", cat(i32c(64*page), i32c(66*page-64), i32c(page), []byte{0xFC, 10, 0, 0})},
		{"memory.init across a page boundary", cat(i32c(68*page-2), i32c(0), i32c(4), []byte{0xFC, 8, 0, 0})},
		{"i64.store across a chunk boundary inside a page", cat(i32c(3*page+5*4096-3), i64c(-1), []byte{0x37}, memarg(3, 0))},
		{"stores on chunks that share a chunk bit, on pages that share a page bit", cat(
			i32c(1*page+9*4096+17), i32c(0x77), []byte{0x3A}, memarg(0, 0), // chunk 25, page 1
			i32c(65*page+9*4096+40), i32c(0x78), []byte{0x3A}, memarg(0, 0), // chunk 1049 (bit 25), page 65 (bit 1)
			i32c(5*page+13*4096), i32c(0x79), []byte{0x3A}, memarg(0, 0))}, // chunk 93 (bit 29), page 5
		{"memory.fill across chunks inside a page", cat(i32c(3*page+4000), i32c(0xCD), i32c(300), []byte{0xFC, 11, 0})},
		{"memory.fill over 64 chunks from mid-page", cat(i32c(page+8*4096+1), i32c(0xEE), i32c(64*4096), []byte{0xFC, 11, 0})},
		{"memory.copy inside a page across a chunk boundary", cat(i32c(5*page+7*4096-2), i32c(5*page+100), i32c(9), []byte{0xFC, 10, 0, 0})},
		{"only the host writes (the input)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			op := entry(EntryExecuteOperation, nil, append(tc.body, i32c(0)...)...)
			m, err := newEngine(t, EngineConfig{}).Compile(ctx, wmod{memPages: pages, funcs: []wfunc{init, op}, dataCount: 1}.bytes())
			if err != nil {
				t.Fatal(err)
			}
			for run := 0; run < 2; run++ {
				if _, err := NewContract(m, DefaultFuelPerTransaction).ExecuteOperation(ctx, newFake(), []byte("input bytes")); err != nil {
					t.Fatal(err)
				}
				p, ok := m.takeInstance(contractRuntime)
				if !ok {
					t.Fatal("no idle instance after a successful run")
				}
				mem, _ := p.inst.mod.Memory().Read(0, p.inst.mod.Memory().Size())
				if bytes.Equal(mem, m.snap.image) {
					t.Fatal("the run changed nothing: the test tests nothing")
				}
				if err := m.snap.reset(p.inst.mod, m.globals); err != nil {
					t.Fatal(err)
				}
				if off := firstDifference(mem, m.snap.image); off >= 0 {
					t.Fatalf("run %d: byte %d (page %d) is %d after the reset, %d in the snapshot", run, off, off/page, mem[off], m.snap.image[off])
				}
				if d := p.inst.mod.ExportedGlobal(DirtyExport).Get(); d != 0 {
					t.Fatalf("dirty global %#x after the reset", d)
				}
				m.putInstance(ctx, contractRuntime, p)
			}
		})
	}
}

func firstDifference(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestDirtyGlobalOutOfReach: the dirty globals come right after the fuel global; a
// module that names one (to clear its own marks, so that a reused instance keeps its
// writes) is refused like one that names the fuel global, and a module may not export
// a global under their names.
func TestDirtyGlobalOutOfReach(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	for _, idx := range []byte{1, 2} {
		clear := entry(EntryExecuteOperation, nil, cat(i64c(0), []byte{0x24, idx}, i32c(0))...) // global.set idx
		if _, err := e.Compile(context.Background(), wmod{memPages: 1, funcs: []wfunc{clear}}.bytes()); err == nil {
			t.Fatalf("a module writing global %d after its own (none) compiled", idx)
		}
	}
	g := []byte{0x7E, 0x01, 0x42, 0x00, 0x0B}
	for _, name := range []string{DirtyExport, DirtyChunksExport} {
		exp := cat([]byte{byte(len(name))}, []byte(name), []byte{0x03, 0x00})
		if _, err := e.Compile(context.Background(), wmod{memPages: 1, globals: [][]byte{g}, exports: exp, nExports: 1}.bytes()); err == nil {
			t.Fatalf("a module exporting a global as %q compiled", name)
		}
	}
}

// TestUnitBits: the host's marks cover every page or chunk of [from, to], modulo 64.
func TestUnitBits(t *testing.T) {
	for _, tc := range []struct {
		from, to uint64
		shift    uint
		want     uint64
	}{
		{0, 0, dirtyPageShift, 1},
		{65535, 65536, dirtyPageShift, 3},
		{63 << 16, 64 << 16, dirtyPageShift, 1<<63 | 1},
		{66 << 16, 66<<16 + 10, dirtyPageShift, 1 << 2},
		{0, 63 << 16, dirtyPageShift, math.MaxUint64},
		{5 << 16, 100 << 16, dirtyPageShift, math.MaxUint64},
		{0, 0, dirtyChunkShift, 1},
		{4095, 4096, dirtyChunkShift, 3},
		{66<<16 + 5<<12, 66<<16 + 6<<12, dirtyChunkShift, 3 << (2*16 + 5)}, // chunk 66*16+5 = 1061, 1061%64 = 37
		{127 << 12, 128 << 12, dirtyChunkShift, 1<<63 | 1},
		{7 << 12, 70 << 12, dirtyChunkShift, math.MaxUint64},
	} {
		if got := unitBits(tc.from, tc.to, tc.shift); got != tc.want {
			t.Errorf("unitBits(%#x, %#x, %d) = %#x, want %#x", tc.from, tc.to, tc.shift, got, tc.want)
		}
	}
}

// TestPooledInstanceKeepsItsFunctions: an instance back from the pool calls the
// exported functions it called before, not new ones (wazero's ExportedFunction
// allocates a call engine with a 10 KiB stack on every call), and its runs still
// answer: the entry's result comes back through the instance's own stack.
func TestPooledInstanceKeepsItsFunctions(t *testing.T) {
	ctx := context.Background()
	init := wfunc{export: "_initialize"}
	// The operation stores its input length at 2048 and returns 0.
	op := entry(EntryExecuteOperation, nil, cat(i32c(2048), []byte{0x20, 1}, []byte{0x36}, memarg(2, 0), i32c(0))...)
	m, err := newEngine(t, EngineConfig{}).Compile(ctx, wmod{memPages: 2, funcs: []wfunc{init, op}, dataCount: -1}.bytes())
	if err != nil {
		t.Fatal(err)
	}
	var first *instance
	var funcs map[string]export
	for run := range 3 {
		if _, err := NewContract(m, DefaultFuelPerTransaction).ExecuteOperation(ctx, newFake(), []byte("input")); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		p, ok := m.takeInstance(contractRuntime)
		if !ok {
			t.Fatalf("run %d: no idle instance after a successful run", run)
		}
		if len(p.inst.funcs) != 2 || p.inst.funcs["mica_alloc"].f == nil || p.inst.funcs[EntryExecuteOperation].f == nil {
			t.Fatalf("run %d: the instance keeps %v", run, p.inst.funcs)
		}
		if first == nil {
			first, funcs = p.inst, maps.Clone(p.inst.funcs)
		} else if p.inst != first {
			t.Fatalf("run %d ran in another instance", run)
		} else {
			for name, e := range funcs {
				if p.inst.funcs[name].f != e.f {
					t.Fatalf("run %d created %s again", run, name)
				}
			}
		}
		m.putInstance(ctx, contractRuntime, p)
	}
}
