package wasm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/micachain/mica/internal/base"
)

// FuelExport is the name under which an instrumented module exports its fuel global.
const FuelExport = "mica_fuel"

// DirtyExport is the name under which an instrumented module exports its dirty-pages
// global: an i64 whose bit p%64 is set by every write to the 64 KiB page p of the
// memory (guest stores, memory.fill, memory.copy and memory.init; the host marks its
// own writes), so that snapshot.reset compares only the pages a run may have changed.
// Marking is not charged: fuel counts only the module's own instructions.
const DirtyExport = "mica_dirty"

// DirtyChunksExport is the name under which an instrumented module exports its
// dirty-chunks global: an i64 whose bit c%64 is set by every write to the 4 KiB chunk c
// of the memory, beside the page's bit in DirtyExport. snapshot.reset compares a chunk
// only if both its page's bit and its own bit are set: the intersection of the two
// narrows a run's dirty pages (11 of a Go guest's counter increment, 176 chunks) to the
// chunks it may have written (about 30). Not charged either.
const DirtyChunksExport = "mica_dirty_chunks"

// GlobalExportPrefix starts the names under which an instrumented module exports its
// own mutable globals (GlobalExportPrefix + the global's index), so that the engine can
// snapshot and restore them. The ABI exports no global, so a module's own exports can
// never take these names.
const GlobalExportPrefix = "mica_global."

// InstrumentVersion identifies the instrumentation scheme and its cost table. It is part
// of the protocol: changing how fuel is counted changes block outcomes, so any change
// must bump it (and the compilation cache key includes it). The marking of dirty pages
// and chunks (DirtyExport, DirtyChunksExport) came without a bump: it charges nothing,
// so every module's fuel is what it was.
const InstrumentVersion = 2

// ErrMalformedModule is the class of modules the instrumenter refuses. Class ErrInvalid.
var ErrMalformedModule = fmt.Errorf("%w: malformed or refused wasm module", base.ErrInvalid)

// Limits bounds the modules Instrument accepts. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	// MaxModuleBytes bounds the size of the input module.
	MaxModuleBytes int
	// MaxFunctions bounds the number of functions, imported and defined.
	MaxFunctions int
	// MaxLocals bounds the number of locals of one function.
	MaxLocals int
	// MaxTableElements bounds the initial size of every table (table.grow, which would
	// allocate host memory beyond it, is refused).
	MaxTableElements int
}

// DefaultLimits fit Go guests (2–6 MB, a few thousand functions) with room to spare.
var DefaultLimits = Limits{MaxModuleBytes: 16 << 20, MaxFunctions: 100_000, MaxLocals: 50_000, MaxTableElements: 1 << 20}

func (l Limits) withDefaults() Limits {
	if l.MaxModuleBytes <= 0 {
		l.MaxModuleBytes = DefaultLimits.MaxModuleBytes
	}
	if l.MaxFunctions <= 0 {
		l.MaxFunctions = DefaultLimits.MaxFunctions
	}
	if l.MaxLocals <= 0 {
		l.MaxLocals = DefaultLimits.MaxLocals
	}
	if l.MaxTableElements <= 0 {
		l.MaxTableElements = DefaultLimits.MaxTableElements
	}
	return l
}

// Import is one import of a module.
type Import struct {
	Module, Name string
	// Kind is 0 function, 1 table, 2 memory, 3 global.
	Kind byte
}

func (i Import) String() string {
	kinds := [...]string{"function", "table", "memory", "global"}
	return fmt.Sprintf("%s %q.%q", kinds[i.Kind], i.Module, i.Name)
}

// moduleInfo is what the instrumenter learned while parsing.
type moduleInfo struct {
	imports      []Import
	chargePoints int
	// globals are the export names of the module's own mutable globals, in index order
	// (the fuel global excluded).
	globals []string
	// noSnapshot, when not empty, says why an instance's state after _initialize cannot
	// be captured through memory and globals alone (a mutable reference global, or code
	// that changes tables or drops segments): such a module runs _initialize in every
	// instance.
	noSnapshot string
}

// Fuel of the instructions whose work grows with an operand. The operand (a byte,
// element or page count, on top of the stack) is charged before the instruction runs,
// on top of the instruction's unit cost.
//
// Calibration (BenchmarkFuelRate, wazero 1.12 compiler, x86-64, the shared 2-core
// development VM): at load average ~4, the endless loop, the slowest ordinary code per
// fuel unit, burns 1.7e9 to 1.9e9 units per second (~0.55 ns a unit; straight-line code
// is several times faster per unit), memory.fill moves 13e9 to 36e9 bytes per second and
// memory.copy 16e9 to 19e9: 7 to 20 bytes in the time of one unit. Under load average
// ~20 the same runs gave 0.1e9 to 0.7e9 units and 0.3e9 to 2.8e9 bytes per second: at
// worst about 3 bytes a unit. One unit per 4 bytes (bulkByteShift = 2) keeps a unit of
// bulk work at or under the wall time of a unit of ordinary code in both. Table elements are 8-byte references:
// two units each. memory.grow allocates and zeroes (and may copy) whole 64 KiB pages:
// 65536/4 = 16384 units a page.
const (
	bulkByteShift = 2
	elementFuel   = 2
	growPageFuel  = 65536 >> bulkByteShift
	// nanFuel is the extra charge of an instruction that may produce a NaN, for the
	// canonicalisation sequence that follows it.
	nanFuel = 1
)

// Canonical NaNs: every float instruction that may produce a NaN is followed by a
// sequence replacing any NaN with these bits, so that results do not depend on the CPU.
const (
	canonicalNaN32 = 0x7FC00000
	canonicalNaN64 = 0x7FF8000000000000
)

// Instrument adds deterministic fuel metering to a Wasm module and returns the new
// module. It is a pure function: the same input and limits always give the same bytes.
//
// The module gets a mutable i64 global exported as FuelExport, two more exported as
// DirtyExport and DirtyChunksExport, and each of its own
// mutable globals is exported as GlobalExportPrefix + its index (so the engine can
// restore an instance from a snapshot; guest code cannot see exports). Every function body is
// cut into straight-line segments, each starting at function entry or just after a
// loop, if, else, end, br, br_if, br_table, return or unreachable (the places where
// control can arrive other than by falling through). At the start of every segment with
// a non-zero cost the instrumenter inserts
//
//	global.get fuel; i64.const COST; i64.sub; global.set fuel
//	global.get fuel; i64.const 0; i64.lt_s; if; unreachable; end
//
// where COST counts the segment's instructions, 1 each except drop, block, loop,
// unreachable, nop, else and end, which are free (as in the reference system). A segment
// is charged in full before it runs, so a trap leaves the global negative: that is how
// the host tells fuel exhaustion from other traps.
//
// Instructions whose work grows with an operand (memory.fill, memory.copy, memory.init,
// memory.grow, table.fill, table.copy, table.init) are also charged that
// operand, scaled (bulkByteShift, elementFuel, growPageFuel), just before they run, through a scratch
// i32 local. Float instructions that may produce a NaN are followed by
//
//	local.tee t; fNN.const NaN; local.get t; local.get t; fNN.eq; select
//
// (t itself unless it is a NaN, then the canonical NaN), through one scratch local per
// float type. Every store, memory.fill, memory.copy and memory.init is preceded by
// uncharged code that sets the bits of the pages and of the 4 KiB chunks it writes in
// the globals exported as DirtyExport and DirtyChunksExport (appendMarkStore,
// appendMarkRange, appendRangeBits), so that a reused instance is reset by comparing
// only those chunks; fuel is the same as without it. Scratch
// locals are appended to the function's locals.
//
// The module is validated against its own index spaces first: every type, function,
// table, memory, global, element, data and local index used by the code, the exports,
// the element segments and the constant expressions must lie in the ORIGINAL module, so
// the fuel and dirty globals and the scratch locals are unreachable from guest code.
//
// Refused with an error of class ErrMalformedModule: bytes that are not a Wasm 1.0
// binary, modules over the limits, modules that already export FuelExport, DirtyExport, DirtyChunksExport or a name
// starting with GlobalExportPrefix, out-of-range
// indices, tables over MaxTableElements, table.grow, exports outside the ABI (functions
// other than mica_alloc, _initialize and the entry points, memories under another name
// than "memory", tables, globals), modules with a start section (it would run before the
// host can set the fuel; Go guests use the exported _initialize instead), shared
// memories, and instructions outside the MVP, sign-extension, saturating-conversion,
// bulk-memory and reference-types sets (SIMD, threads, tail calls). Instrument checks
// the structure it rewrites; full validation (stack types) is left to the compiler
// (Engine.Compile), which refuses anything else.
func Instrument(module []byte, limits Limits) ([]byte, error) {
	out, _, err := instrument(module, limits)
	return out, err
}

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// sectionRank orders the non-custom sections as the binary format requires (the data
// count section sits between element and code).
func sectionRank(id byte) int {
	switch id {
	case secDataCount:
		return 10
	case secCode:
		return 11
	case secData:
		return 12
	}
	return int(id)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedModule, fmt.Sprintf(format, args...))
}

// abiExports are the functions a module may export (doc.go, "Guest exports").
var abiExports = map[string]bool{
	"mica_alloc": true, "_initialize": true, EntryInstantiate: true, EntryExecuteOperation: true,
	EntryExecuteMessage: true, EntryFinalize: true, EntryHandleQuery: true, EntryProcessStreams: true,
}

type section struct {
	id   byte
	body []byte
}

// indexSpace is the original module's index spaces.
type indexSpace struct {
	typeParams []uint32 // parameter count of each type
	funcTypes  []uint32 // type of each function, imported then defined
	tables     uint32
	memories   uint32
	globals    uint32
	imported   uint32 // imported globals (the only ones constant expressions may read)
	elems      uint32
	data       uint32 // from the data count section; 0 without one
	// mutatesTables names the first instruction met that changes a table or drops a
	// segment: state an instance holds outside its memory and globals.
	mutatesTables string
}

// noteMutation records the first instruction that changes state outside memory and
// globals.
func (sp *indexSpace) noteMutation(instr string) {
	if sp.mutatesTables == "" {
		sp.mutatesTables = "the code uses " + instr
	}
}

func checkIndex(r *reader, what string, idx, n uint32) {
	if r.err == nil && idx >= n {
		r.fail("%s index %d out of range (the module has %d)", what, idx, n)
	}
}

// constExpr reads a constant expression up to its end, checking its indices.
func (sp *indexSpace) constExpr(r *reader) {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0B:
			return
		case 0x41:
			r.sleb(32)
		case 0x42:
			r.sleb(64)
		case 0x43:
			r.bytes(4)
		case 0x44:
			r.bytes(8)
		case 0xD0:
			r.refType()
		case 0xD2:
			checkIndex(r, "function", r.u32(), uint32(len(sp.funcTypes)))
		case 0x23:
			checkIndex(r, "global", r.u32(), sp.imported)
		default:
			r.fail("instruction 0x%02x in a constant expression", op)
		}
	}
}

func instrument(module []byte, limits Limits) (_ []byte, _ *moduleInfo, err error) {
	limits = limits.withDefaults()
	if len(module) > limits.MaxModuleBytes {
		return nil, nil, malformed("module is %d bytes, over the limit of %d", len(module), limits.MaxModuleBytes)
	}
	if len(module) < 8 || !bytes.Equal(module[:4], []byte("\x00asm")) {
		return nil, nil, malformed("not a wasm binary (bad magic)")
	}
	if !bytes.Equal(module[4:8], []byte{1, 0, 0, 0}) {
		return nil, nil, malformed("unsupported wasm version %x", module[4:8])
	}
	// Split into sections, checking order and uniqueness.
	var sections []section
	r := &reader{buf: module, off: 8}
	lastRank := 0
	for r.off < len(r.buf) {
		id := r.byte()
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			return nil, nil, malformed("section header: %v", r.err)
		}
		if id > secDataCount {
			return nil, nil, malformed("unknown section id %d", id)
		}
		if id != secCustom {
			rank := sectionRank(id)
			if rank <= lastRank {
				return nil, nil, malformed("section %d out of order or duplicated", id)
			}
			lastRank = rank
		}
		sections = append(sections, section{id: id, body: body})
	}

	info := &moduleInfo{}
	sp := &indexSpace{}
	var (
		definedGlobals, definedFuncs uint32
		haveFuncSection              bool
	)
	for _, s := range sections {
		sr := &reader{buf: s.body}
		switch s.id {
		case secCustom:
			if sr.name(); sr.err != nil {
				return nil, nil, malformed("custom section: %v", sr.err)
			}
		case secStart:
			return nil, nil, malformed("start sections are not allowed: export an _initialize function instead")
		case secType:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				if b := sr.byte(); b != 0x60 && sr.err == nil {
					sr.fail("type %d is not a function type (0x%02x)", i, b)
				}
				params := sr.u32()
				for j := uint32(0); j < params && sr.err == nil; j++ {
					sr.valType()
				}
				results := sr.u32()
				for j := uint32(0); j < results && sr.err == nil; j++ {
					sr.valType()
				}
				sp.typeParams = append(sp.typeParams, params)
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("type section: %v", sr.err)
			}
		case secImport:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				imp := Import{Module: sr.name(), Name: sr.name(), Kind: sr.byte()}
				switch imp.Kind {
				case 0:
					t := sr.u32()
					checkIndex(sr, "type", t, uint32(len(sp.typeParams)))
					sp.funcTypes = append(sp.funcTypes, t)
				case 1:
					sr.refType()
					sr.limits()
					sp.tables++
				case 2:
					sr.limits()
					sp.memories++
				case 3:
					sr.valType()
					sr.mutability()
					sp.globals++
					sp.imported++
				default:
					sr.fail("import kind %d", imp.Kind)
				}
				if uint64(len(sp.funcTypes)) > uint64(limits.MaxFunctions) {
					return nil, nil, malformed("module has over %d functions", limits.MaxFunctions)
				}
				info.imports = append(info.imports, imp)
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("import section: %v", sr.err)
			}
		case secFunction:
			haveFuncSection = true
			definedFuncs = sr.u32()
			if uint64(len(sp.funcTypes))+uint64(definedFuncs) > uint64(limits.MaxFunctions) {
				return nil, nil, malformed("module has %d functions, over the limit of %d", uint64(len(sp.funcTypes))+uint64(definedFuncs), limits.MaxFunctions)
			}
			for i := uint32(0); i < definedFuncs && sr.err == nil; i++ {
				t := sr.u32()
				checkIndex(sr, "type", t, uint32(len(sp.typeParams)))
				sp.funcTypes = append(sp.funcTypes, t)
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("function section: %v", sr.err)
			}
		case secTable:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				sr.refType()
				if min, _, _ := sr.limits(); sr.err == nil && uint64(min) > uint64(limits.MaxTableElements) {
					sr.fail("table %d has %d elements, over the limit of %d", i, min, limits.MaxTableElements)
				}
				sp.tables++
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("table section: %v", sr.err)
			}
		case secMemory:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				sr.limits()
				sp.memories++
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("memory section: %v", sr.err)
			}
		case secGlobal:
			definedGlobals = sr.u32()
			for i := uint32(0); i < definedGlobals && sr.err == nil; i++ {
				var typ, mut byte
				if sr.off+1 < len(sr.buf) {
					typ, mut = sr.buf[sr.off], sr.buf[sr.off+1]
				}
				sr.valType()
				sr.mutability()
				sp.constExpr(sr)
				if sr.err == nil && mut == 1 {
					if typ == 0x70 || typ == 0x6F {
						info.noSnapshot = fmt.Sprintf("global %d is a mutable reference", sp.globals+i)
					}
					info.globals = append(info.globals, GlobalExportPrefix+strconv.FormatUint(uint64(sp.globals+i), 10))
				}
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("global section: %v", sr.err)
			}
			if uint64(sp.globals)+uint64(definedGlobals)+2 >= math.MaxUint32 { // + the fuel and two dirty globals
				return nil, nil, malformed("too many globals")
			}
			sp.globals += definedGlobals
		case secExport:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				name := sr.name()
				kind := sr.byte()
				idx := sr.u32()
				if sr.err == nil && (name == FuelExport || name == DirtyExport || name == DirtyChunksExport) {
					return nil, nil, malformed("module declares its own export %q", name)
				}
				if sr.err == nil && strings.HasPrefix(name, GlobalExportPrefix) {
					return nil, nil, malformed("module declares an export %q: the prefix %q is reserved", name, GlobalExportPrefix)
				}
				switch kind {
				case 0:
					checkIndex(sr, "function", idx, uint32(len(sp.funcTypes)))
					if sr.err == nil && !abiExports[name] {
						sr.fail("function exported as %q, which is not part of the ABI", name)
					}
				case 1:
					checkIndex(sr, "table", idx, sp.tables)
					if sr.err == nil {
						sr.fail("table exported as %q: the ABI exports no table", name)
					}
				case 2:
					checkIndex(sr, "memory", idx, sp.memories)
					if sr.err == nil && name != "memory" {
						sr.fail("memory exported as %q; only \"memory\" is part of the ABI", name)
					}
				case 3:
					checkIndex(sr, "global", idx, sp.globals)
					if sr.err == nil {
						sr.fail("global exported as %q: the ABI exports no global", name)
					}
				default:
					sr.fail("export kind %d", kind)
				}
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("export section: %v", sr.err)
			}
		case secElement:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				sp.elemSegment(sr)
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("element section: %v", sr.err)
			}
			sp.elems = n
		case secDataCount:
			sp.data = sr.u32()
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("data count section: %v", sr.err)
			}
		case secData:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				switch flag := sr.u32(); flag {
				case 0:
					checkIndex(sr, "memory", 0, sp.memories)
					sp.constExpr(sr)
				case 1:
				case 2:
					checkIndex(sr, "memory", sr.u32(), sp.memories)
					sp.constExpr(sr)
				default:
					sr.fail("data segment flag %d", flag)
				}
				sr.bytes(int(sr.u32()))
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("data section: %v", sr.err)
			}
		}
	}
	fuel := sp.globals

	// Rebuild, inserting the global and export sections where missing.
	out := make([]byte, 0, len(module)+len(module)/4+64)
	out = append(out, module[:8]...)
	wroteGlobal, wroteExport := false, false
	fuelGlobal := []byte{0x7E, 0x01, 0x42, 0x00, 0x0B} // mut i64 = i64.const 0; the dirty globals likewise
	emitGlobal := func(body []byte) {
		w := appendU32(nil, definedGlobals+3)
		if body != nil {
			sr := &reader{buf: body}
			sr.u32()
			w = append(w, body[sr.off:]...)
		}
		w = append(w, fuelGlobal...)
		w = append(w, fuelGlobal...)
		w = append(w, fuelGlobal...)
		out = appendSection(out, secGlobal, w)
		wroteGlobal = true
	}
	emitExport := func(body []byte) {
		var n uint32
		var rest []byte
		if body != nil {
			sr := &reader{buf: body}
			n = sr.u32()
			rest = body[sr.off:]
		}
		w := appendU32(nil, n+3+uint32(len(info.globals)))
		w = append(w, rest...)
		w = appendU32(w, uint32(len(FuelExport)))
		w = append(w, FuelExport...)
		w = append(w, 0x03)
		w = appendU32(w, fuel)
		w = appendU32(w, uint32(len(DirtyExport)))
		w = append(w, DirtyExport...)
		w = append(w, 0x03)
		w = appendU32(w, fuel+1)
		w = appendU32(w, uint32(len(DirtyChunksExport)))
		w = append(w, DirtyChunksExport...)
		w = append(w, 0x03)
		w = appendU32(w, fuel+2)
		for _, name := range info.globals {
			idx, _ := strconv.ParseUint(strings.TrimPrefix(name, GlobalExportPrefix), 10, 32)
			w = appendU32(w, uint32(len(name)))
			w = append(w, name...)
			w = append(w, 0x03)
			w = appendU32(w, uint32(idx))
		}
		out = appendSection(out, secExport, w)
		wroteExport = true
	}
	sawCode := false
	for _, s := range sections {
		if s.id != secCustom {
			rank := sectionRank(s.id)
			if !wroteGlobal && rank > secGlobal {
				emitGlobal(nil)
			}
			if !wroteExport && rank > secExport {
				emitExport(nil)
			}
		}
		switch s.id {
		case secGlobal:
			emitGlobal(s.body)
		case secExport:
			emitExport(s.body)
		case secCode:
			sawCode = true
			body, n, err := instrumentCode(s.body, fuel, sp, definedFuncs, limits)
			if err != nil {
				return nil, nil, err
			}
			info.chargePoints = n
			if info.noSnapshot == "" && sp.mutatesTables != "" {
				info.noSnapshot = sp.mutatesTables
			}
			out = appendSection(out, secCode, body)
		default:
			out = appendSection(out, s.id, s.body)
		}
	}
	if !wroteGlobal {
		emitGlobal(nil)
	}
	if !wroteExport {
		emitExport(nil)
	}
	if !sawCode && haveFuncSection && definedFuncs > 0 {
		return nil, nil, malformed("function section declares %d functions but there is no code section", definedFuncs)
	}
	return out, info, nil
}

// elemSegment reads one element segment, checking its indices.
func (sp *indexSpace) elemSegment(r *reader) {
	flag := r.u32()
	if r.err != nil {
		return
	}
	if flag > 7 {
		r.fail("element segment flag %d", flag)
		return
	}
	if flag&1 == 0 { // active
		table := uint32(0)
		if flag&2 != 0 {
			table = r.u32()
		}
		checkIndex(r, "table", table, sp.tables)
		sp.constExpr(r)
	}
	exprs := flag&4 != 0
	if flag&3 != 0 { // an element kind or reference type follows
		if exprs {
			r.refType()
		} else if b := r.byte(); b != 0 && r.err == nil {
			r.fail("element kind 0x%02x", b)
		}
	}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if exprs {
			sp.constExpr(r)
		} else {
			checkIndex(r, "function", r.u32(), uint32(len(sp.funcTypes)))
		}
	}
}

func appendSection(out []byte, id byte, body []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(body)))
	return append(out, body...)
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// instrumentCode rewrites the code section.
func instrumentCode(body []byte, fuel uint32, sp *indexSpace, declared uint32, limits Limits) ([]byte, int, error) {
	r := &reader{buf: body}
	n := r.u32()
	if r.err != nil {
		return nil, 0, malformed("code section: %v", r.err)
	}
	if n != declared {
		return nil, 0, malformed("code section has %d bodies, function section declares %d", n, declared)
	}
	out := make([]byte, 0, len(body)+len(body)/4)
	out = appendU32(out, n)
	points := 0
	imported := uint32(len(sp.funcTypes)) - declared
	fi := &funcInstrumenter{fuel: fuel, sp: sp, limits: limits}
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		code := r.bytes(int(size))
		if r.err != nil {
			return nil, 0, malformed("code section, function %d: %v", i, r.err)
		}
		fn, p, err := fi.run(code, sp.typeParams[sp.funcTypes[imported+i]])
		if err != nil {
			return nil, 0, malformed("function %d: %v", imported+i, err)
		}
		points += p
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	r.end()
	if r.err != nil {
		return nil, 0, malformed("code section: %v", r.err)
	}
	return out, points, nil
}

// funcInstrumenter rewrites function bodies, reusing its buffers.
type funcInstrumenter struct {
	fuel   uint32
	sp     *indexSpace
	limits Limits
	out    []byte // the rewritten function
	body   []byte // the rewritten instructions
	seg    []byte // the rewritten instructions of the current segment
}

// Kinds of rewriting an instruction needs.
const (
	rewriteNone = iota
	rewriteBytes
	rewriteElements
	rewritePages
	rewriteNaN32
	rewriteNaN64
	rewriteStore
)

// run returns the instrumented body of one function with params parameters (valid until
// the next call).
func (fi *funcInstrumenter) run(code []byte, params uint32) ([]byte, int, error) {
	sp := fi.sp
	r := &reader{buf: code}
	groups := r.u32()
	locals := uint64(params)
	for i := uint32(0); i < groups && r.err == nil; i++ {
		locals += uint64(r.u32())
		r.valType()
	}
	if r.err != nil {
		return nil, 0, fmt.Errorf("locals: %w", r.err)
	}
	if locals > uint64(fi.limits.MaxLocals) {
		return nil, 0, fmt.Errorf("%d locals, over the limit of %d", locals, fi.limits.MaxLocals)
	}
	localsEnd := r.off
	nLocals := uint32(locals)
	// Scratch locals, appended after the function's own (scratchLocals).
	scratchI32, scratchF32, scratchF64 := nLocals, nLocals+1, nLocals+2
	addrI32, valI32, valI64, spanI64 := nLocals+3, nLocals+4, nLocals+5, nLocals+6
	useScratch := false

	fi.body, fi.seg = fi.body[:0], fi.seg[:0]
	points := 0
	var cost int64
	flush := func() {
		if cost > 0 {
			fi.body = appendCharge(fi.body, fi.fuel, cost)
			points++
		}
		fi.body = append(fi.body, fi.seg...)
		fi.seg, cost = fi.seg[:0], 0
	}
	funcs := uint32(len(sp.funcTypes))
	types := uint32(len(sp.typeParams))
	depth := 1
	for depth > 0 {
		if r.off >= len(code) {
			return nil, 0, errors.New("body ends before its final end")
		}
		start := r.off
		op := r.byte()
		var storeOffset uint32
		boundary := false
		rewrite := rewriteNone
		switch op {
		case 0x00: // unreachable
			boundary = true
		case 0x01, 0x1A: // nop, drop
		case 0x02: // block
			r.blockType(types)
			depth++
		case 0x03: // loop
			r.blockType(types)
			depth++
			boundary = true
		case 0x04: // if
			r.blockType(types)
			depth++
			cost++
			boundary = true
		case 0x05: // else
			boundary = true
		case 0x0B: // end
			depth--
			boundary = true
		case 0x0C, 0x0D: // br, br_if
			r.u32()
			cost++
			boundary = true
		case 0x0E: // br_table
			m := r.u32()
			for j := uint32(0); j <= m && r.err == nil; j++ {
				r.u32()
			}
			cost++
			boundary = true
		case 0x0F: // return
			cost++
			boundary = true
		case 0x10: // call
			checkIndex(r, "function", r.u32(), funcs)
			cost++
		case 0x11: // call_indirect
			checkIndex(r, "type", r.u32(), types)
			checkIndex(r, "table", r.u32(), sp.tables)
			cost++
		case 0x1B: // select
			cost++
		case 0x1C: // select t*
			m := r.u32()
			for j := uint32(0); j < m && r.err == nil; j++ {
				r.valType()
			}
			cost++
		case 0x20, 0x21, 0x22: // local.get, local.set, local.tee
			checkIndex(r, "local", r.u32(), nLocals)
			cost++
		case 0x23, 0x24: // global.get, global.set
			checkIndex(r, "global", r.u32(), sp.globals)
			cost++
		case 0x25, 0x26: // table.get, table.set
			checkIndex(r, "table", r.u32(), sp.tables)
			if op == 0x26 {
				sp.noteMutation("table.set")
			}
			cost++
		case 0x3F: // memory.size
			r.zero()
			checkIndex(r, "memory", 0, sp.memories)
			cost++
		case 0x40: // memory.grow
			r.zero()
			checkIndex(r, "memory", 0, sp.memories)
			rewrite = rewritePages
			cost++
		case 0x41: // i32.const
			r.sleb(32)
			cost++
		case 0x42: // i64.const
			r.sleb(64)
			cost++
		case 0x43:
			r.bytes(4)
			cost++
		case 0x44:
			r.bytes(8)
			cost++
		case 0xD0: // ref.null
			r.refType()
			cost++
		case 0xD1: // ref.is_null
			cost++
		case 0xD2: // ref.func
			checkIndex(r, "function", r.u32(), funcs)
			cost++
		case 0xFC:
			sub := r.u32()
			switch {
			case sub <= 7: // saturating conversions
			case sub == 8: // memory.init
				checkIndex(r, "data", r.u32(), sp.data)
				r.zero()
				checkIndex(r, "memory", 0, sp.memories)
				rewrite = rewriteBytes
			case sub == 9: // data.drop
				checkIndex(r, "data", r.u32(), sp.data)
				sp.noteMutation("data.drop")
			case sub == 10: // memory.copy
				r.zero()
				r.zero()
				checkIndex(r, "memory", 0, sp.memories)
				rewrite = rewriteBytes
			case sub == 11: // memory.fill
				r.zero()
				checkIndex(r, "memory", 0, sp.memories)
				rewrite = rewriteBytes
			case sub == 12: // table.init
				checkIndex(r, "element", r.u32(), sp.elems)
				checkIndex(r, "table", r.u32(), sp.tables)
				sp.noteMutation("table.init")
				rewrite = rewriteElements
			case sub == 13: // elem.drop
				checkIndex(r, "element", r.u32(), sp.elems)
				sp.noteMutation("elem.drop")
			case sub == 14: // table.copy
				checkIndex(r, "table", r.u32(), sp.tables)
				checkIndex(r, "table", r.u32(), sp.tables)
				sp.noteMutation("table.copy")
				rewrite = rewriteElements
			case sub == 15: // table.grow
				r.fail("table.grow is not supported")
			case sub == 17: // table.fill
				checkIndex(r, "table", r.u32(), sp.tables)
				sp.noteMutation("table.fill")
				rewrite = rewriteElements
			case sub == 16: // table.size
				checkIndex(r, "table", r.u32(), sp.tables)
			default:
				r.fail("unsupported instruction 0xFC %d", sub)
			}
			cost++
		default:
			switch {
			case op >= 0x28 && op <= 0x3E: // loads and stores
				r.u32()
				storeOffset = r.u32()
				checkIndex(r, "memory", 0, sp.memories)
				if op >= 0x36 {
					rewrite = rewriteStore
				}
			case op >= 0x8D && op <= 0x97, op == 0xB6: // f32 ops that may produce a NaN, f32.demote_f64
				rewrite = rewriteNaN32
				cost += nanFuel
			case op >= 0x9B && op <= 0xA5, op == 0xBB: // f64 ops that may produce a NaN, f64.promote_f32
				rewrite = rewriteNaN64
				cost += nanFuel
			case op >= 0x45 && op <= 0xC4: // other numeric, sign extension
			default:
				r.fail("unsupported instruction 0x%02x", op)
			}
			cost++
		}
		if r.err != nil {
			return nil, 0, r.err
		}
		switch rewrite {
		case rewriteNone:
			fi.seg = append(fi.seg, code[start:r.off]...)
		case rewriteBytes, rewriteElements, rewritePages:
			useScratch = true
			fi.seg = appendOperandCharge(fi.seg, fi.fuel, scratchI32, rewrite)
			if rewrite == rewriteBytes { // memory.init, memory.copy, memory.fill
				fi.seg = appendMarkRange(fi.seg, fi.fuel+1, scratchI32, addrI32, valI32, spanI64)
				fi.seg = appendRangeBits(fi.seg, fi.fuel+2, addrI32, valI32, spanI64, dirtyChunkShift)
			}
			fi.seg = append(fi.seg, code[start:r.off]...)
		case rewriteStore:
			useScratch = true
			val := valI32
			switch op {
			case 0x37, 0x3C, 0x3D, 0x3E:
				val = valI64
			case 0x38:
				val = scratchF32
			case 0x39:
				val = scratchF64
			}
			fi.seg = appendMarkStore(fi.seg, fi.fuel+1, addrI32, val, spanI64, storeOffset)
			fi.seg = append(fi.seg, code[start:r.off]...)
		case rewriteNaN32:
			useScratch = true
			fi.seg = append(fi.seg, code[start:r.off]...)
			fi.seg = appendCanonicalNaN(fi.seg, scratchF32, 0x43, binary.LittleEndian.AppendUint32(nil, canonicalNaN32), 0x5B)
		case rewriteNaN64:
			useScratch = true
			fi.seg = append(fi.seg, code[start:r.off]...)
			fi.seg = appendCanonicalNaN(fi.seg, scratchF64, 0x44, binary.LittleEndian.AppendUint64(nil, canonicalNaN64), 0x61)
		}
		if boundary {
			flush()
		}
	}
	if r.off != len(code) {
		return nil, 0, fmt.Errorf("%d bytes after the final end", len(code)-r.off)
	}
	out := fi.out[:0]
	if useScratch {
		if locals+scratchLocals > uint64(fi.limits.MaxLocals) {
			return nil, 0, fmt.Errorf("%d locals, over the limit of %d", locals+scratchLocals, fi.limits.MaxLocals)
		}
		out = appendU32(out, groups+6)
		out = append(out, code[len(appendU32(nil, groups)):localsEnd]...)
		// i32, f32, f64 scratch; address i32, value i32, value i64, span i64
		out = append(out, 1, 0x7F, 1, 0x7D, 1, 0x7C, 2, 0x7F, 1, 0x7E, 1, 0x7E)
	} else {
		out = append(out, code[:localsEnd]...)
	}
	out = append(out, fi.body...)
	fi.out = out
	return out, points, nil
}

// appendCharge appends the fuel check of a segment costing cost.
func appendCharge(out []byte, fuel uint32, cost int64) []byte {
	out = append(out, 0x23)
	out = appendU32(out, fuel)
	out = append(out, 0x42)
	out = appendS64(out, cost)
	out = append(out, 0x7D, 0x24) // i64.sub, global.set
	out = appendU32(out, fuel)
	return appendFuelCheck(out, fuel)
}

// appendFuelCheck traps when the fuel global is negative.
func appendFuelCheck(out []byte, fuel uint32) []byte {
	out = append(out, 0x23)
	out = appendU32(out, fuel)
	return append(out, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0B) // i64.const 0, i64.lt_s, if, unreachable, end
}

// appendOperandCharge charges the i32 operand on top of the stack (a count of bytes,
// elements or pages), leaving it in place:
//
//	local.set t; global.get fuel; local.get t; i64.extend_i32_u; SCALE; i64.sub;
//	global.set fuel; CHECK; local.get t
func appendOperandCharge(out []byte, fuel, scratch uint32, kind int) []byte {
	out = append(out, 0x21)
	out = appendU32(out, scratch)
	out = append(out, 0x23)
	out = appendU32(out, fuel)
	out = append(out, 0x20)
	out = appendU32(out, scratch)
	out = append(out, 0xAD) // i64.extend_i32_u
	switch kind {
	case rewriteBytes:
		out = append(out, 0x42, bulkByteShift, 0x88) // i64.const shift, i64.shr_u
	case rewriteElements:
		out = append(out, 0x42, elementFuel, 0x7E) // i64.const fuel, i64.mul
	case rewritePages:
		out = append(out, 0x42)
		out = appendS64(out, growPageFuel)
		out = append(out, 0x7E) // i64.mul
	}
	out = append(out, 0x7D, 0x24) // i64.sub, global.set
	out = appendU32(out, fuel)
	out = appendFuelCheck(out, fuel)
	out = append(out, 0x20)
	return appendU32(out, scratch)
}

// scratchLocals is the number of locals the instrumenter appends to a function.
const scratchLocals = 7

// dirtyPageShift: a bit of the dirty global stands for a 64 KiB page of the memory (bit
// p%64 for page p).
const dirtyPageShift = 16

// dirtyChunkShift: a bit of the dirty-chunks global stands for a 4 KiB chunk of the
// memory (bit c%64 for chunk c); it is snapshot.reset's resetChunk.
const dirtyChunkShift = 12

// appendMarkStore precedes a store (address and value on the stack, static offset
// offset) with the marking of the page and of the chunk its first byte lands on,
// leaving the operands in place (i64.shl takes its count modulo 64):
//
//	local.set v; local.tee a;
//	global.get dirty; i64.const 1; local.get a; [i32.const offset; i32.add;]
//	i64.extend_i32_u; local.tee e; i64.const 16; i64.shr_u; i64.shl; i64.or; global.set dirty;
//	global.get chunks; i64.const 1; local.get e; i64.const 12; i64.shr_u; i64.shl; i64.or;
//	global.set chunks; local.get v
//
// where dirty is the dirty-pages global and chunks the dirty-chunks global (dirty+1).
// A store that succeeds lies within the memory, so address + offset does not wrap (one
// that traps marks a page for nothing: a trapped instance is never reused). Its last
// byte may land on the next chunk (at most 7 bytes past its start): snapshot.reset also
// compares the chunk after every chunk it compares.
func appendMarkStore(out []byte, dirty, addr, val, e, offset uint32) []byte {
	out = appendIdx(out, 0x21, val)
	out = appendIdx(out, 0x22, addr)
	out = appendIdx(out, 0x23, dirty)
	out = appendIdx(append(out, 0x42, 0x01), 0x20, addr)
	if offset != 0 {
		out = append(out, 0x41)
		out = appendS64(out, int64(int32(offset)))
		out = append(out, 0x6A) // i32.add
	}
	out = appendIdx(append(out, 0xAD), 0x22, e)                                 // i64.extend_i32_u, local.tee e
	out = append(out, 0x42, dirtyPageShift, 0x88, 0x86, 0x84)                   // i64.const 16, i64.shr_u, i64.shl, i64.or
	out = appendIdx(out, 0x24, dirty)                                           // global.set dirty
	out = appendIdx(append(appendIdx(out, 0x23, dirty+1), 0x42, 0x01), 0x20, e) // global.get chunks, i64.const 1, local.get e
	out = append(out, 0x42, dirtyChunkShift, 0x88, 0x86, 0x84)                  // i64.const 12, i64.shr_u, i64.shl, i64.or
	out = appendIdx(out, 0x24, dirty+1)                                         // global.set chunks
	return appendIdx(out, 0x20, val)
}

// appendIdx appends an instruction that takes one index (local.get, global.set, ...).
func appendIdx(out []byte, op byte, idx uint32) []byte {
	return appendU32(append(out, op), idx)
}

// appendMarkRange precedes memory.fill, memory.copy or memory.init (destination d, a
// second operand x, byte count n on the stack, left in place) with the marking of the
// pages of [d, d+n] (appendRangeBits), saving the operands in locals a, t and n first:
//
//	local.set n; local.set t; local.tee a; local.get t; local.get n; [range bits of dirty]
//
// The instrumenter follows it with appendRangeBits for the chunks, which reuses a and n.
func appendMarkRange(out []byte, dirty, t, addr, n, span uint32) []byte {
	out = appendIdx(out, 0x21, n)
	out = appendIdx(out, 0x21, t)
	out = appendIdx(out, 0x22, addr)
	out = appendIdx(out, 0x20, t)
	out = appendIdx(out, 0x20, n)
	return appendRangeBits(out, dirty, addr, n, span, dirtyPageShift)
}

// appendRangeBits sets in global g the bits of the units of [a, a+n] (locals a and n),
// a unit being 1<<shift bytes: lo = a>>shift, span = min((a+n)>>shift - lo, 63),
// bits = rotl(-1 >> (63-span), lo):
//
//	global.get g; i64.const -1; i64.const 63;
//	  local.get a; i64.extend_i32_u; local.get n; i64.extend_i32_u; i64.add; i64.const shift; i64.shr_u;
//	  local.get a; i32.const shift; i32.shr_u; i64.extend_i32_u; i64.sub;
//	  local.tee s; i64.const 63; local.get s; i64.const 63; i64.lt_u; select;
//	i64.sub; i64.shr_u; local.get a; i32.const shift; i32.shr_u; i64.extend_i32_u; i64.rotl;
//	i64.or; global.set g
func appendRangeBits(out []byte, g, addr, n, span uint32, shift byte) []byte {
	op := func(code byte, idx uint32) { out = appendIdx(out, code, idx) }
	unit := func() { // local.get a; i32.const shift; i32.shr_u; i64.extend_i32_u
		op(0x20, addr)
		out = append(out, 0x41, shift, 0x76, 0xAD)
	}
	op(0x23, g)
	out = append(out, 0x42, 0x7F, 0x42, 63)
	op(0x20, addr)
	out = append(out, 0xAD)
	op(0x20, n)
	out = append(out, 0xAD, 0x7C, 0x42, shift, 0x88) // i64.extend_i32_u, i64.add, i64.const shift, i64.shr_u
	unit()
	out = append(out, 0x7D) // i64.sub
	op(0x22, span)
	out = append(out, 0x42, 63)
	op(0x20, span)
	out = append(out, 0x42, 63, 0x54, 0x1B, 0x7D, 0x88) // i64.lt_u, select, i64.sub, i64.shr_u
	unit()
	out = append(out, 0x89, 0x84) // i64.rotl, i64.or
	op(0x24, g)
	return out
}

// appendCanonicalNaN replaces a NaN on top of the stack with the canonical one:
// local.tee t; const NaN; local.get t; local.get t; eq; select.
func appendCanonicalNaN(out []byte, scratch uint32, constOp byte, nan []byte, eqOp byte) []byte {
	out = append(out, 0x22)
	out = appendU32(out, scratch)
	out = append(out, constOp)
	out = append(out, nan...)
	out = append(out, 0x20)
	out = appendU32(out, scratch)
	out = append(out, 0x20)
	out = appendU32(out, scratch)
	return append(out, eqOp, 0x1B)
}

// reader decodes the binary format. The first error sticks; reads after it return zero.
type reader struct {
	buf []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.buf) {
		r.fail("unexpected end")
		return 0
	}
	b := r.buf[r.off]
	r.off++
	return b
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.off {
		r.fail("length %d exceeds the remaining %d bytes", n, len(r.buf)-r.off)
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *reader) u32() uint32 {
	var v uint32
	for i := 0; i < 5; i++ {
		b := r.byte()
		if r.err != nil {
			return 0
		}
		if i == 4 && b&0xF0 != 0 {
			r.fail("u32 overflows")
			return 0
		}
		v |= uint32(b&0x7F) << (7 * i)
		if b&0x80 == 0 {
			return v
		}
	}
	r.fail("u32 too long")
	return 0
}

// sleb skips a signed LEB128 of the given width (32, 33 or 64), checking its length and
// that unused bits of the last byte are a sign extension.
func (r *reader) sleb(bits int) int64 {
	var v int64
	maxBytes := (bits + 6) / 7
	for i := 0; i < maxBytes; i++ {
		b := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(b&0x7F) << (7 * i)
		if b&0x80 == 0 {
			if i == maxBytes-1 {
				// The payload bits beyond the width must all equal the sign bit.
				used := uint(bits - 7*i)
				sign := (b >> (used - 1)) & 1
				upper := (b & 0x7F) >> used
				if (sign == 0 && upper != 0) || (sign == 1 && upper != 0x7F>>used) {
					r.fail("signed integer overflows %d bits", bits)
					return 0
				}
			}
			if shift := 7 * (i + 1); shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
	r.fail("signed integer too long")
	return 0
}

func (r *reader) name() string {
	n := r.u32()
	b := r.bytes(int(n))
	if r.err == nil && !utf8.Valid(b) {
		r.fail("name is not valid UTF-8")
	}
	return string(b)
}

func (r *reader) valType() {
	switch b := r.byte(); b {
	case 0x7F, 0x7E, 0x7D, 0x7C, 0x70, 0x6F:
	case 0x7B:
		r.fail("v128 (SIMD) is not supported")
	default:
		r.fail("invalid value type 0x%02x", b)
	}
}

func (r *reader) refType() {
	if b := r.byte(); b != 0x70 && b != 0x6F {
		r.fail("invalid reference type 0x%02x", b)
	}
}

func (r *reader) mutability() {
	if b := r.byte(); b > 1 {
		r.fail("invalid mutability %d", b)
	}
}

func (r *reader) limits() (min, max uint32, hasMax bool) {
	switch flag := r.byte(); flag {
	case 0:
		return r.u32(), 0, false
	case 1:
		min = r.u32()
		return min, r.u32(), true
	default:
		r.fail("unsupported limits flag %d (shared memories are not allowed)", flag)
	}
	return 0, 0, false
}

func (r *reader) blockType(types uint32) {
	if r.err != nil || r.off >= len(r.buf) {
		r.fail("unexpected end")
		return
	}
	switch b := r.buf[r.off]; b {
	case 0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x70, 0x6F:
		r.off++
	case 0x7B:
		r.fail("v128 (SIMD) is not supported")
	default:
		if v := r.sleb(33); r.err == nil && v < 0 {
			r.fail("invalid block type %d", v)
		} else if r.err == nil && v >= int64(types) {
			r.fail("type index %d out of range (the module has %d)", v, types)
		}
	}
}

// zero reads a reserved byte that must be 0 (memory index).
func (r *reader) zero() {
	if b := r.byte(); b != 0 {
		r.fail("reserved byte is %d, want 0", b)
	}
}

// end fails if bytes remain.
func (r *reader) end() {
	if r.err == nil && r.off != len(r.buf) {
		r.fail("%d trailing bytes", len(r.buf)-r.off)
	}
}
