package wasm

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/execution"
)

// The attack suite: modules a hostile publisher could write to escape metering, stall
// validators or split them. Each test names the attack.

// wfunc is one function of a test module: its own type, locals, a body without the
// final end, and an optional export name.
type wfunc struct {
	params, results []byte
	locals          []byte // one value type per local
	body            []byte
	export          string
}

// wmod builds a module: memory 0 exported as "memory" with memPages pages (max
// memMax when non-zero), function 0 is mica_alloc (returns 1024), then funcs.
type wmod struct {
	memPages, memMax uint32
	globals          [][]byte // raw global entries (type, mutability, init expr with end)
	exports          []byte   // raw extra export entries
	nExports         uint32
	funcs            []wfunc
	dataCount        int // -1: no data count section
}

func (m wmod) bytes() []byte {
	alloc := wfunc{params: []byte{0x7F}, results: []byte{0x7F}, body: []byte{0x41, 0x80, 0x08}, export: "mica_alloc"}
	funcs := append([]wfunc{alloc}, m.funcs...)
	b := []byte("\x00asm\x01\x00\x00\x00")
	types := appendU32(nil, uint32(len(funcs)))
	fsec := appendU32(nil, uint32(len(funcs)))
	code := appendU32(nil, uint32(len(funcs)))
	exp := appendU32(nil, 0) // patched below
	nexp := uint32(1) + m.nExports
	expBody := []byte{6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0}
	for i, f := range funcs {
		types = append(types, 0x60)
		types = appendU32(types, uint32(len(f.params)))
		types = append(types, f.params...)
		types = appendU32(types, uint32(len(f.results)))
		types = append(types, f.results...)
		fsec = appendU32(fsec, uint32(i))
		var body []byte
		body = appendU32(body, uint32(len(f.locals)))
		for _, l := range f.locals {
			body = append(body, 1, l)
		}
		body = append(body, f.body...)
		body = append(body, 0x0B)
		code = appendU32(code, uint32(len(body)))
		code = append(code, body...)
		if f.export != "" {
			nexp++
			expBody = appendU32(expBody, uint32(len(f.export)))
			expBody = append(expBody, f.export...)
			expBody = append(expBody, 0)
			expBody = appendU32(expBody, uint32(i))
		}
	}
	expBody = append(expBody, m.exports...)
	exp = appendU32(exp[:0], nexp)
	exp = append(exp, expBody...)
	b = appendSection(b, secType, types)
	b = appendSection(b, secFunction, fsec)
	mem := []byte{1, 0}
	if m.memMax != 0 {
		mem[1] = 1
	}
	mem = appendU32(mem, m.memPages)
	if m.memMax != 0 {
		mem = appendU32(mem, m.memMax)
	}
	b = appendSection(b, secMemory, mem)
	if len(m.globals) > 0 {
		g := appendU32(nil, uint32(len(m.globals)))
		for _, e := range m.globals {
			g = append(g, e...)
		}
		b = appendSection(b, secGlobal, g)
	}
	b = appendSection(b, secExport, exp)
	if m.dataCount > 0 {
		b = appendSection(b, secDataCount, appendU32(nil, uint32(m.dataCount)))
	}
	b = appendSection(b, secCode, code)
	if m.dataCount > 0 {
		d := appendU32(nil, uint32(m.dataCount))
		for i := 0; i < m.dataCount; i++ {
			d = append(d, 1, 4, 1, 2, 3, 4) // passive, 4 bytes
		}
		b = appendSection(b, secData, d)
	}
	return b
}

// entry returns an (i32 i32) -> i32 function exported as name.
func entry(name string, locals []byte, body ...byte) wfunc {
	return wfunc{params: []byte{0x7F, 0x7F}, results: []byte{0x7F}, locals: locals, body: body, export: name}
}

func i32c(v int32) []byte { return append([]byte{0x41}, appendS64(nil, int64(v))...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestAttackFuelRefillViaGlobalSet: the instrumenter's fuel global comes right after
// the module's own globals; a module without globals that writes global 0 would refill
// its fuel and loop forever. It must be refused at compile time.
func TestAttackFuelRefillViaGlobalSet(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	body := cat([]byte{0x42}, appendS64(nil, math.MaxInt64), []byte{0x24, 0x00}, // i64.const max; global.set 0
		[]byte{0x03, 0x40, 0x42}, appendS64(nil, math.MaxInt64), []byte{0x24, 0x00, 0x0C, 0x00, 0x0B}, i32c(0))
	code := wmod{funcs: []wfunc{entry(EntryExecuteOperation, nil, body...)}, memPages: 1}.bytes()
	_, err := e.Compile(context.Background(), code)
	if err == nil {
		t.Fatal("a module writing the fuel global compiled")
	}
	if !base.IsInvalid(err) || !errors.Is(err, ErrMalformedModule) || !strings.Contains(err.Error(), "global index 0") {
		t.Fatalf("err = %v, want a refusal naming global index 0", err)
	}
}

// TestAttackOutOfRangeIndices: every index space of the original module is closed.
func TestAttackOutOfRangeIndices(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	g0 := []byte{0x7F, 0x00, 0x41, 0x00, 0x0B} // immutable i32 = 0
	cases := []struct {
		name string
		mod  wmod
		want string
	}{
		{"global.get of the fuel global", wmod{funcs: []wfunc{entry(EntryExecuteOperation, nil, 0x23, 0x00, 0x1A, 0x41, 0x00)}}, "global index 0"},
		{"global.set past the globals", wmod{globals: [][]byte{g0}, funcs: []wfunc{entry(EntryExecuteOperation, nil, 0x42, 0x05, 0x24, 0x01, 0x41, 0x00)}}, "global index 1"},
		{"call past the functions", wmod{funcs: []wfunc{entry(EntryExecuteOperation, nil, 0x10, 0x09, 0x41, 0x00)}}, "function index 9"},
		{"local past the locals", wmod{funcs: []wfunc{entry(EntryExecuteOperation, []byte{0x7F}, 0x20, 0x03)}}, "local index 3"},
		{"export of the fuel global", wmod{nExports: 1, exports: []byte{1, 'x', 3, 0}, funcs: []wfunc{entry(EntryExecuteOperation, nil, 0x41, 0x00)}}, "global index 0"},
		{"data.drop without data", wmod{funcs: []wfunc{entry(EntryExecuteOperation, nil, 0xFC, 0x09, 0x00, 0x41, 0x00)}}, "data index 0"},
		{"memory.init past the data", wmod{dataCount: 1, funcs: []wfunc{entry(EntryExecuteOperation, nil, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xFC, 0x08, 0x01, 0x00, 0x41, 0x00)}}, "data index 1"},
		{"table.get without a table", wmod{funcs: []wfunc{entry(EntryExecuteOperation, nil, 0x41, 0x00, 0x25, 0x00, 0x1A, 0x41, 0x00)}}, "table index 0"},
		{"export outside the ABI", wmod{funcs: []wfunc{entry("mica_backdoor", nil, 0x41, 0x00)}}, `function exported as "mica_backdoor"`},
		{"call_indirect of a missing type", wmod{funcs: []wfunc{entry(EntryExecuteOperation, nil, 0x41, 0x00, 0x11, 0x30, 0x00, 0x41, 0x00)}}, "type index 48"},
	}
	for _, c := range cases {
		c.mod.memPages = 1
		_, err := e.Compile(context.Background(), c.mod.bytes())
		if err == nil || !base.IsInvalid(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a refusal mentioning %q", c.name, err, c.want)
		}
	}
}

// TestAttackMemoryFillHugeRegion: memory.fill of 16 MiB, a thousand times, used to cost
// a handful of fuel units; it must run out of a small budget.
func TestAttackMemoryFillHugeRegion(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	// for i := 1000; i != 0; i-- { memory.fill(0, 0, 16 MiB) }
	body := cat(i32c(1000), []byte{0x21, 0x02, 0x03, 0x40}, i32c(0), i32c(0), i32c(16<<20), []byte{0xFC, 0x0B, 0x00},
		[]byte{0x20, 0x02}, i32c(1), []byte{0x6B, 0x22, 0x02, 0x0D, 0x00, 0x0B}, i32c(0))
	for _, op := range []struct {
		name string
		code []byte
	}{
		{"fill", body},
		{"copy", bytes.Replace(body, []byte{0xFC, 0x0B, 0x00}, []byte{0xFC, 0x0A, 0x00, 0x00}, 1)},
	} {
		m, err := e.Compile(context.Background(), wmod{memPages: 256, memMax: 256, funcs: []wfunc{entry(EntryExecuteOperation, []byte{0x7F}, op.code...)}}.bytes())
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = m.Run(context.Background(), 100_000, EntryExecuteOperation, nil, NewContractHost(newFake()))
		if !errors.Is(err, ErrOutOfFuel) {
			t.Fatalf("memory.%s of 16 GiB in total with 100000 fuel: err = %v, want out of fuel", op.name, err)
		}
	}
}

// TestAttackMemoryGrowCharged: growing memory costs fuel in proportion to the pages.
func TestAttackMemoryGrowCharged(t *testing.T) {
	e := newEngine(t, EngineConfig{})
	body := cat(i32c(200), []byte{0x40, 0x00, 0x1A}, i32c(0)) // memory.grow 200; drop
	m, err := e.Compile(context.Background(), wmod{memPages: 1, funcs: []wfunc{entry(EntryExecuteOperation, nil, body...)}}.bytes())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = m.Run(context.Background(), 1_000, EntryExecuteOperation, nil, NewContractHost(newFake()))
	if !errors.Is(err, ErrOutOfFuel) {
		t.Fatalf("growing 200 pages with 1000 fuel: err = %v, want out of fuel", err)
	}
}

// TestAttackNaNBitsAreCanonical: 0/0 gives the canonical quiet NaN whatever the CPU
// (x86-64 produces 0xFFF8... natively, arm64 0x7FF8...).
func TestAttackNaNBitsAreCanonical(t *testing.T) {
	ctx := context.Background()
	f64div := []byte{0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0xA3, 0xBD} // 0/0, i64.reinterpret_f64
	f32div := []byte{0x43, 0, 0, 0, 0, 0x43, 0, 0, 0, 0, 0x95, 0xBC}                         // 0/0, i32.reinterpret_f32
	f64sqrt := []byte{0x44, 0, 0, 0, 0, 0, 0, 0xF0, 0xBF, 0x9F, 0xBD}                        // sqrt(-1)
	promote := cat(f32div[:11], []byte{0xBB, 0xBD})                                          // f64.promote_f32(0/0)
	// Exported under ABI names (Instrument refuses others); the types do not matter here.
	names := map[string]string{"f64div": EntryInstantiate, "f32div": EntryExecuteOperation, "f64sqrt": EntryExecuteMessage, "promote": EntryFinalize}
	code := wmod{memPages: 1, funcs: []wfunc{
		{results: []byte{0x7E}, body: f64div, export: names["f64div"]},
		{results: []byte{0x7F}, body: f32div, export: names["f32div"]},
		{results: []byte{0x7E}, body: f64sqrt, export: names["f64sqrt"]},
		{results: []byte{0x7E}, body: promote, export: names["promote"]},
	}}.bytes()
	out, err := Instrument(code, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	inst, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	inst.ExportedGlobal(FuelExport).(interface{ Set(uint64) }).Set(1 << 40)
	for name, want := range map[string]uint64{"f64div": 0x7FF8000000000000, "f32div": 0x7FC00000, "f64sqrt": 0x7FF8000000000000, "promote": 0x7FF8000000000000} {
		res, err := inst.ExportedFunction(names[name]).Call(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := res[0]; got != want {
			t.Errorf("%s: NaN bits %#x, want %#x", name, got, want)
		}
	}
}

// TestAttackContextInterruptsContract: a contract with (practically) unlimited fuel
// stops when its context ends, with a retryable error, never an execution failure.
func TestAttackContextInterruptsContract(t *testing.T) {
	m := compile(t, newEngine(t, EngineConfig{}), "loop")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	// 3e9 fuel takes seconds: the loop must be stopped by ctx, not by fuel.
	_, _, err := m.Run(ctx, 3_000_000_000, EntryExecuteOperation, nil, NewContractHost(newFake()))
	if !errors.Is(err, base.ErrRetryable) || errors.Is(err, execution.ErrApplication) || base.IsInvalid(err) {
		t.Fatalf("err = %v, want a retryable error that is not an application failure", err)
	}
}

// nestingRuntime runs another contract inside every ReadValue host call, the way a
// synchronous call to another application runs inside the caller's host call.
type nestingRuntime struct {
	*fakeRuntime
	nested func(ctx context.Context)
}

func (r *nestingRuntime) ReadValue(ctx context.Context, key []byte) ([]byte, bool, error) {
	r.nested(ctx)
	return r.fakeRuntime.ReadValue(ctx, key)
}

// TestAttackTransactionSharesOneBudget: the contracts of one transaction draw from one
// budget. Loading a second application must not bring fresh fuel, and a contract
// called during another's host call uses the caller's remaining fuel: when it burns
// everything, the caller cannot continue.
func TestAttackTransactionSharesOneBudget(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, EngineConfig{})
	loop, counter := compile(t, e, "loop"), compile(t, e, "counter")
	const limit = 1_000_000

	// Sequential: A burns the whole budget, then B gets nothing.
	tank := execution.NewFuelTank(limit)
	a, b := NewContract(loop, limit), NewContract(loop, limit)
	a.UseFuelTank(tank)
	b.UseFuelTank(tank)
	for _, c := range []*Contract{a, b} {
		if _, err := c.ExecuteOperation(ctx, newFake(), nil); !errors.Is(err, ErrOutOfFuel) {
			t.Fatalf("endless loop: %v", err)
		}
	}
	if tank.Used() != limit {
		t.Fatalf("two contracts used %d fuel from a budget of %d", tank.Used(), limit)
	}

	// Nested: B, run inside A's host call, burns what A left; A must stop.
	tank = execution.NewFuelTank(limit)
	a, b = NewContract(counter, limit), NewContract(loop, limit)
	a.UseFuelTank(tank)
	b.UseFuelTank(tank)
	nestedErr := error(nil)
	rt := &nestingRuntime{fakeRuntime: newFake(), nested: func(ctx context.Context) {
		_, nestedErr = b.ExecuteOperation(ctx, newFake(), nil)
	}}
	_, err := a.ExecuteOperation(ctx, rt, le64(1))
	if !errors.Is(nestedErr, ErrOutOfFuel) {
		t.Fatalf("nested endless loop: %v", nestedErr)
	}
	if !errors.Is(err, ErrOutOfFuel) {
		t.Fatalf("caller after a nested call that used all the fuel: err = %v, want out of fuel", err)
	}
	if tank.Used() != limit {
		t.Fatalf("used %d fuel from a budget of %d", tank.Used(), limit)
	}
}

// TestAttackCompiledModuleCacheBounded: publishing many applications must not grow the
// compiled-module caches without bound, in memory or on disk; an evicted module still
// runs (compiled again).
func TestAttackCompiledModuleCacheBounded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const maxDir = 1024 // each of these modules takes about 300 bytes on disk
	e := newEngine(t, EngineConfig{CacheDir: dir, MaxCachedModules: 3, MaxCacheDirBytes: maxDir})
	var first *Module
	for i := 0; i < 12; i++ {
		// Distinct modules: the returned constant differs.
		m, err := e.Compile(ctx, wmod{memPages: 1, funcs: []wfunc{entry(EntryExecuteOperation, nil, i32c(int32(i))...)}}.bytes())
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = m
		}
		if n := e.cachedModules(); n > 3 {
			t.Fatalf("after %d modules, %d are cached in memory, over the limit of 3", i+1, n)
		}
		var total int64
		err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				info, err := d.Info()
				if err != nil {
					return err
				}
				total += info.Size()
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if total > maxDir {
			t.Fatalf("after %d modules, the cache directory holds %d bytes, over the limit of %d", i+1, total, maxDir)
		}
	}
	// The first module was evicted long ago; it still runs.
	if _, _, err := first.Run(ctx, 1_000_000, EntryExecuteOperation, nil, NewContractHost(newFake())); err != nil {
		t.Fatalf("evicted module: %v", err)
	}
	if first.compiled != [2]wazero.CompiledModule{} {
		t.Fatal("an evicted module kept its machine code after its run")
	}
}
