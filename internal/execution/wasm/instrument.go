package wasm

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/micachain/mica/internal/base"
)

// FuelExport is the name under which an instrumented module exports its fuel global.
const FuelExport = "mica_fuel"

// InstrumentVersion identifies the instrumentation scheme and its cost table. It is part
// of the protocol: changing how fuel is counted changes block outcomes, so any change
// must bump it (and the compilation cache key includes it).
const InstrumentVersion = 1

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
}

// DefaultLimits fit Go guests (2–6 MB, a few thousand functions) with room to spare.
var DefaultLimits = Limits{MaxModuleBytes: 16 << 20, MaxFunctions: 100_000, MaxLocals: 50_000}

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
}

// Instrument adds deterministic fuel metering to a Wasm module and returns the new
// module. It is a pure function: the same input and limits always give the same bytes.
//
// The module gets a mutable i64 global exported as FuelExport. Every function body is
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
// Refused with an error of class ErrMalformedModule: bytes that are not a Wasm 1.0
// binary, modules over the limits, modules that already export FuelExport, modules with
// a start section (it would run before the host can set the fuel; Go guests use the
// exported _initialize instead), shared memories, and instructions outside the MVP,
// sign-extension, saturating-conversion, bulk-memory and reference-types sets (SIMD,
// threads, tail calls). Instrument checks the structure it rewrites; full validation is
// left to the compiler (Engine.Compile), which refuses anything else.
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

type section struct {
	id   byte
	body []byte
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
	var (
		importedGlobals, importedFuncs uint32
		definedGlobals, definedFuncs   uint32
		haveFuncSection                bool
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
		case secImport:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				imp := Import{Module: sr.name(), Name: sr.name(), Kind: sr.byte()}
				switch imp.Kind {
				case 0:
					sr.u32()
					importedFuncs++
				case 1:
					sr.refType()
					sr.limits()
				case 2:
					sr.limits()
				case 3:
					sr.valType()
					sr.mutability()
					importedGlobals++
				default:
					sr.fail("import kind %d", imp.Kind)
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
			for i := uint32(0); i < definedFuncs && sr.err == nil; i++ {
				sr.u32()
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("function section: %v", sr.err)
			}
		case secMemory:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				sr.limits()
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("memory section: %v", sr.err)
			}
		case secGlobal:
			definedGlobals = sr.u32()
			if sr.err != nil {
				return nil, nil, malformed("global section: %v", sr.err)
			}
		case secExport:
			n := sr.u32()
			for i := uint32(0); i < n && sr.err == nil; i++ {
				name := sr.name()
				sr.byte()
				sr.u32()
				if sr.err == nil && name == FuelExport {
					return nil, nil, malformed("module declares its own export %q", FuelExport)
				}
			}
			sr.end()
			if sr.err != nil {
				return nil, nil, malformed("export section: %v", sr.err)
			}
		}
	}
	if uint64(importedFuncs)+uint64(definedFuncs) > uint64(limits.MaxFunctions) {
		return nil, nil, malformed("module has %d functions, over the limit of %d", uint64(importedFuncs)+uint64(definedFuncs), limits.MaxFunctions)
	}
	if uint64(importedGlobals)+uint64(definedGlobals) >= math.MaxUint32 {
		return nil, nil, malformed("too many globals")
	}
	fuel := importedGlobals + definedGlobals

	// Rebuild, inserting the global and export sections where missing.
	out := make([]byte, 0, len(module)+len(module)/8+64)
	out = append(out, module[:8]...)
	wroteGlobal, wroteExport := false, false
	fuelGlobal := []byte{0x7E, 0x01, 0x42, 0x00, 0x0B} // mut i64 = i64.const 0
	emitGlobal := func(body []byte) {
		w := appendU32(nil, definedGlobals+1)
		if body != nil {
			sr := &reader{buf: body}
			sr.u32()
			w = append(w, body[sr.off:]...)
		}
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
		w := appendU32(nil, n+1)
		w = append(w, rest...)
		w = appendU32(w, uint32(len(FuelExport)))
		w = append(w, FuelExport...)
		w = append(w, 0x03)
		w = appendU32(w, fuel)
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
			body, n, err := instrumentCode(s.body, fuel, definedFuncs, limits)
			if err != nil {
				return nil, nil, err
			}
			info.chargePoints = n
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
func instrumentCode(body []byte, fuel, declared uint32, limits Limits) ([]byte, int, error) {
	r := &reader{buf: body}
	n := r.u32()
	if r.err != nil {
		return nil, 0, malformed("code section: %v", r.err)
	}
	if n != declared {
		return nil, 0, malformed("code section has %d bodies, function section declares %d", n, declared)
	}
	out := make([]byte, 0, len(body)+len(body)/8)
	out = appendU32(out, n)
	points := 0
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		code := r.bytes(int(size))
		if r.err != nil {
			return nil, 0, malformed("code section, function %d: %v", i, r.err)
		}
		var p int
		var err error
		fn, p, err = instrumentFunc(fn[:0], code, fuel, limits)
		if err != nil {
			return nil, 0, malformed("function %d: %v", i, err)
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

// instrumentFunc appends the instrumented body of one function to out.
func instrumentFunc(out, code []byte, fuel uint32, limits Limits) ([]byte, int, error) {
	r := &reader{buf: code}
	groups := r.u32()
	var locals uint64
	for i := uint32(0); i < groups && r.err == nil; i++ {
		locals += uint64(r.u32())
		r.valType()
	}
	if r.err != nil {
		return nil, 0, fmt.Errorf("locals: %w", r.err)
	}
	if locals > uint64(limits.MaxLocals) {
		return nil, 0, fmt.Errorf("%d locals, over the limit of %d", locals, limits.MaxLocals)
	}
	out = append(out, code[:r.off]...)

	points := 0
	segStart := r.off // first byte of the current segment
	var cost int64
	flush := func(end int) {
		if cost > 0 {
			out = appendCharge(out, fuel, cost)
			points++
		}
		out = append(out, code[segStart:end]...)
		segStart, cost = end, 0
	}
	depth := 1
	for depth > 0 {
		if r.off >= len(code) {
			return nil, 0, errors.New("body ends before its final end")
		}
		op := r.byte()
		boundary := false
		switch op {
		case 0x00: // unreachable
			boundary = true
		case 0x01, 0x1A: // nop, drop
		case 0x02: // block
			r.blockType()
			depth++
		case 0x03: // loop
			r.blockType()
			depth++
			boundary = true
		case 0x04: // if
			r.blockType()
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
			r.u32()
			cost++
		case 0x11: // call_indirect
			r.u32()
			r.u32()
			cost++
		case 0x1B: // select
			cost++
		case 0x1C: // select t*
			m := r.u32()
			for j := uint32(0); j < m && r.err == nil; j++ {
				r.valType()
			}
			cost++
		case 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26: // locals, globals, table.get/set
			r.u32()
			cost++
		case 0x3F, 0x40: // memory.size, memory.grow
			r.zero()
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
			r.u32()
			cost++
		case 0xFC:
			sub := r.u32()
			switch {
			case sub <= 7: // saturating conversions
			case sub == 8: // memory.init
				r.u32()
				r.zero()
			case sub == 9, sub == 13, sub == 15, sub == 16, sub == 17: // data.drop, elem.drop, table.grow/size/fill
				r.u32()
			case sub == 10: // memory.copy
				r.zero()
				r.zero()
			case sub == 11: // memory.fill
				r.zero()
			case sub == 12, sub == 14: // table.init, table.copy
				r.u32()
				r.u32()
			default:
				r.fail("unsupported instruction 0xFC %d", sub)
			}
			cost++
		default:
			switch {
			case op >= 0x28 && op <= 0x3E: // loads and stores
				r.u32()
				r.u32()
			case op >= 0x45 && op <= 0xC4: // numeric, sign extension
			default:
				r.fail("unsupported instruction 0x%02x", op)
			}
			cost++
		}
		if r.err != nil {
			return nil, 0, r.err
		}
		if boundary {
			flush(r.off)
		}
	}
	if r.off != len(code) {
		return nil, 0, fmt.Errorf("%d bytes after the final end", len(code)-r.off)
	}
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
	out = append(out, 0x23)
	out = appendU32(out, fuel)
	return append(out, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0B) // i64.const 0, i64.lt_s, if, unreachable, end
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

func (r *reader) limits() {
	switch flag := r.byte(); flag {
	case 0:
		r.u32()
	case 1:
		r.u32()
		r.u32()
	default:
		r.fail("unsupported limits flag %d (shared memories are not allowed)", flag)
	}
}

func (r *reader) blockType() {
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
