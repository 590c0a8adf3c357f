package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/execution"
)

// Entry points a guest may export (besides mica_alloc and _initialize).
const (
	EntryInstantiate      = "mica_instantiate"
	EntryExecuteOperation = "mica_execute_operation"
	EntryExecuteMessage   = "mica_execute_message"
	EntryFinalize         = "mica_finalize"
	EntryHandleQuery      = "mica_handle_query"
)

// Fuel charged by the host, on top of the instrumented instructions.
const (
	// HostCallFuel is charged for every call of a mica host function.
	HostCallFuel = 100
	// HostByteFuel is charged per byte crossing the guest boundary (requests, responses,
	// output, logs).
	HostByteFuel = 1
)

var (
	// ErrOutOfFuel: a contract used up its fuel. The error returned is an
	// *OutOfFuelError. Class ErrInvalid (it wraps execution.ErrApplication).
	ErrOutOfFuel = fmt.Errorf("%w: out of fuel", execution.ErrApplication)
	// ErrImportNotAllowed: a module imports something the host does not provide. Class
	// ErrInvalid.
	ErrImportNotAllowed = fmt.Errorf("%w: import not allowed", ErrMalformedModule)
)

// OutOfFuelError reports fuel exhaustion; it matches ErrOutOfFuel.
type OutOfFuelError struct{ Fuel uint64 }

func (e *OutOfFuelError) Error() string { return fmt.Sprintf("out of fuel after %d units", e.Fuel) }

// Unwrap returns ErrOutOfFuel.
func (e *OutOfFuelError) Unwrap() error { return ErrOutOfFuel }

// EngineConfig configures an Engine.
type EngineConfig struct {
	// CacheDir holds wazero's compilation cache (in the node's data directory); empty
	// keeps the cache in memory.
	CacheDir string
	// MemoryLimitPages caps guest memory in 64 KiB pages; 0 means 512 (32 MiB).
	MemoryLimitPages uint32
	// Limits bounds accepted modules; zero fields take DefaultLimits.
	Limits Limits
	// ServiceTimeout bounds a service run when ctx has no earlier deadline; 0 means 2 s.
	ServiceTimeout time.Duration
	// Logger receives guest logs written to stdout/stderr; nil discards them.
	Logger *slog.Logger
}

// Engine compiles and runs Wasm applications. It is safe for concurrent use.
type Engine struct {
	cfg      EngineConfig
	cache    wazero.CompilationCache
	contract wazero.Runtime // deterministic: metered by fuel, never interrupted by ctx
	service  wazero.Runtime // closes a guest when ctx is done

	mu      sync.Mutex
	modules map[[32]byte]*Module
}

// NewEngine creates an engine with the mica and WASI host modules.
func NewEngine(ctx context.Context, cfg EngineConfig) (*Engine, error) {
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = 512
	}
	if cfg.MemoryLimitPages > 65536 {
		return nil, base.Invalidf("memory limit of %d pages is over 4 GiB", cfg.MemoryLimitPages)
	}
	if cfg.ServiceTimeout == 0 {
		cfg.ServiceTimeout = 2 * time.Second
	}
	cfg.Limits = cfg.Limits.withDefaults()
	cache := wazero.NewCompilationCache()
	if cfg.CacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("wasm compilation cache: %w", err)
		}
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithMemoryLimitPages(cfg.MemoryLimitPages).
		WithCoreFeatures(api.CoreFeaturesV2)
	e := &Engine{cfg: cfg, cache: cache, modules: make(map[[32]byte]*Module)}
	e.contract = wazero.NewRuntimeWithConfig(ctx, rc)
	e.service = wazero.NewRuntimeWithConfig(ctx, rc.WithCloseOnContextDone(true))
	for _, rt := range []wazero.Runtime{e.contract, e.service} {
		if err := instantiateHostModules(ctx, rt); err != nil {
			_ = e.Close(ctx)
			return nil, err
		}
	}
	return e, nil
}

// Close releases the runtimes and the compilation cache. Modules of the engine must not
// be used afterwards.
func (e *Engine) Close(ctx context.Context) error {
	return errors.Join(e.contract.Close(ctx), e.service.Close(ctx), e.cache.Close(ctx))
}

// Module is a compiled, instrumented application module. It is safe for concurrent use:
// every run gets its own instance.
type Module struct {
	e            *Engine
	hash         [32]byte
	compiled     wazero.CompiledModule
	instrumented []byte
	exports      map[string]bool

	serviceOnce sync.Once
	serviceMod  wazero.CompiledModule
	serviceErr  error
}

// Compile instruments, checks and compiles bytecode, or returns the module already
// compiled from the same bytes. Refusals (malformed, oversized, disallowed imports,
// invalid Wasm) have class base.ErrInvalid and name the problem.
func (e *Engine) Compile(ctx context.Context, bytecode []byte) (*Module, error) {
	h := sha256.Sum256(bytecode)
	e.mu.Lock()
	m, ok := e.modules[h]
	e.mu.Unlock()
	if ok {
		return m, nil
	}
	out, info, err := instrument(bytecode, e.cfg.Limits)
	if err != nil {
		return nil, err
	}
	for _, imp := range info.imports {
		if err := checkImport(imp); err != nil {
			return nil, err
		}
	}
	cm, err := e.contract.CompileModule(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedModule, err)
	}
	if err := checkSignatures(cm); err != nil {
		_ = cm.Close(ctx)
		return nil, err
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		_ = cm.Close(ctx)
		return nil, fmt.Errorf("%w: the module does not export its memory as \"memory\"", ErrMalformedModule)
	}
	m = &Module{e: e, hash: h, compiled: cm, instrumented: out, exports: make(map[string]bool)}
	for name := range cm.ExportedFunctions() {
		m.exports[name] = true
	}
	if !m.exports["mica_alloc"] {
		_ = cm.Close(ctx)
		return nil, fmt.Errorf("%w: the module does not export mica_alloc", ErrMalformedModule)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, ok := e.modules[h]; ok {
		_ = cm.Close(ctx)
		return prev, nil
	}
	e.modules[h] = m
	return m, nil
}

// Hash returns the SHA-256 of the module's original bytecode.
func (m *Module) Hash() [32]byte { return m.hash }

// HasEntry reports whether the module exports entry.
func (m *Module) HasEntry(entry string) bool { return m.exports[entry] }

// Run calls entry with input in a fresh instance, metered by fuel, and returns the output
// the guest set and the fuel used (instructions plus host charges, at most fuel).
// Results and fuel depend only on the module, the arguments and what host answers.
//
// Errors: *OutOfFuelError (ErrOutOfFuel) when fuel runs out; an error wrapping
// execution.ErrApplication for traps, refused inputs (the guest's set_error message) and
// exhausted memory; and the host's own errors unchanged when a host call fails.
func (m *Module) Run(ctx context.Context, fuel uint64, entry string, input []byte, host Host) ([]byte, uint64, error) {
	return m.run(ctx, m.e.contract, m.compiled, fuel, entry, input, host)
}

// RunService calls entry in a fresh instance without fuel metering, bounded by ctx and
// the engine's ServiceTimeout (wall clock: services are not replicated).
func (m *Module) RunService(ctx context.Context, entry string, input []byte, host Host) ([]byte, error) {
	m.serviceOnce.Do(func() {
		m.serviceMod, m.serviceErr = m.e.service.CompileModule(ctx, m.instrumented)
	})
	if m.serviceErr != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedModule, m.serviceErr)
	}
	ctx, cancel := context.WithTimeout(ctx, m.e.cfg.ServiceTimeout)
	defer cancel()
	out, _, err := m.run(ctx, m.e.service, m.serviceMod, math.MaxInt64, entry, input, host)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %s: %w", execution.ErrApplication, entry, ctx.Err())
	}
	return out, err
}

type stateKey struct{}

// callState is the host side of one run.
type callState struct {
	host    Host
	env     Environment
	fuel    api.MutableGlobal
	pending []byte
	hasPend bool
	output  []byte
	errMsg  *string
	logger  *slog.Logger
	clock   uint64 // nanoseconds added to env.Time per clock read
	rand    randStream
}

// hostAbort carries an error out of a host function through the guest.
type hostAbort struct{ err error }

func (a *hostAbort) Error() string { return a.err.Error() }
func (a *hostAbort) Unwrap() error { return a.err }

func (m *Module) run(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule, fuel uint64, entry string, input []byte, host Host) (_ []byte, used uint64, err error) {
	if fuel > math.MaxInt64 {
		fuel = math.MaxInt64
	}
	if !m.exports[entry] {
		return nil, 0, fmt.Errorf("%w: the module does not export %s", execution.ErrApplication, entry)
	}
	env := host.Environment()
	st := &callState{host: host, env: env, logger: m.e.cfg.Logger, rand: randStream{seed: env.Seed}}
	ctx = context.WithValue(ctx, stateKey{}, st)
	inst, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, 0, fmt.Errorf("%w: instantiate: %v", execution.ErrApplication, firstLine(err))
	}
	defer inst.Close(ctx)
	g, ok := inst.ExportedGlobal(FuelExport).(api.MutableGlobal)
	if !ok {
		return nil, 0, fmt.Errorf("%w: fuel global missing", ErrMalformedModule)
	}
	st.fuel = g
	g.Set(fuel)
	fuelUsed := func() uint64 {
		left := int64(g.Get())
		if left < 0 {
			return fuel
		}
		return fuel - uint64(left)
	}
	call := func(name string, params ...uint64) ([]uint64, error) {
		res, err := inst.ExportedFunction(name).Call(ctx, params...)
		if err == nil {
			return res, nil
		}
		var abort *hostAbort
		switch {
		case int64(g.Get()) < 0:
			return nil, &OutOfFuelError{Fuel: fuel}
		case errors.As(err, &abort):
			return nil, abort.err
		default:
			return nil, fmt.Errorf("%w: trap in %s: %s", execution.ErrApplication, name, firstLine(err))
		}
	}
	if m.exports["_initialize"] {
		if _, err := call("_initialize"); err != nil {
			return nil, fuelUsed(), err
		}
	}
	if uint64(len(input)) > math.MaxUint32 {
		return nil, fuelUsed(), base.Invalidf("input of %d bytes is too large", len(input))
	}
	res, err := call("mica_alloc", uint64(len(input)))
	if err != nil {
		return nil, fuelUsed(), err
	}
	ptr := uint32(res[0])
	if !inst.Memory().Write(ptr, input) {
		return nil, fuelUsed(), fmt.Errorf("%w: mica_alloc returned %d, out of memory bounds for %d bytes", execution.ErrApplication, ptr, len(input))
	}
	res, err = call(entry, uint64(ptr), uint64(len(input)))
	if err != nil {
		return nil, fuelUsed(), err
	}
	if status := int32(res[0]); status != 0 {
		if st.errMsg != nil {
			return nil, fuelUsed(), fmt.Errorf("%w: %s", execution.ErrApplication, *st.errMsg)
		}
		return nil, fuelUsed(), fmt.Errorf("%w: %s returned status %d", execution.ErrApplication, entry, status)
	}
	return st.output, fuelUsed(), nil
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// state returns the run's state; a host function called outside a run aborts.
func state(ctx context.Context) *callState {
	st, ok := ctx.Value(stateKey{}).(*callState)
	if !ok {
		panic(&hostAbort{errors.New("host function called outside a run")})
	}
	return st
}

// charge subtracts fuel for a host call and aborts when it runs out.
func (st *callState) charge(bytes int) {
	cost := int64(HostCallFuel) + int64(HostByteFuel)*int64(bytes)
	left := int64(st.fuel.Get()) - cost
	st.fuel.Set(uint64(left))
	if left < 0 {
		// run reports this as OutOfFuelError because the global is negative.
		panic(&hostAbort{ErrOutOfFuel})
	}
}

// read copies guest memory, aborting on an out-of-range access.
func read(mod api.Module, ptr, n uint32) []byte {
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		panic(&hostAbort{fmt.Errorf("%w: host call with out-of-range memory [%d, +%d)", execution.ErrApplication, ptr, n)})
	}
	return append([]byte(nil), b...)
}

func write(mod api.Module, ptr uint32, b []byte) {
	if !mod.Memory().Write(ptr, b) {
		panic(&hostAbort{fmt.Errorf("%w: host call with out-of-range memory [%d, +%d)", execution.ErrApplication, ptr, len(b))})
	}
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      api.GoModuleFunc
}

// micaFuncs is the "mica" host module (doc.go describes it).
var micaFuncs = []hostFunc{
	{"call", []api.ValueType{i32, i32, i32}, []api.ValueType{i64}, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := state(ctx)
		kind, ptr, n := Kind(int32(stack[0])), uint32(stack[1]), uint32(stack[2])
		st.charge(int(n))
		req := read(mod, ptr, n)
		resp, err := st.host.Call(ctx, kind, req)
		var code int64
		switch {
		case errors.Is(err, ErrUnknownKind):
			code = CodeUnknownKind
		case errors.Is(err, ErrNotSupported):
			code = CodeNotSupported
		case errors.Is(err, ErrMalformedRequest):
			code = CodeMalformed
		case err != nil:
			panic(&hostAbort{err})
		default:
			st.charge(len(resp))
			st.pending, st.hasPend = resp, true
			code = int64(len(resp))
		}
		stack[0] = uint64(code)
	}},
	{"result", []api.ValueType{i32}, nil, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := state(ctx)
		if !st.hasPend {
			panic(&hostAbort{fmt.Errorf("%w: result called with no pending response", execution.ErrApplication)})
		}
		write(mod, uint32(stack[0]), st.pending)
		st.pending, st.hasPend = nil, false
	}},
	{"set_output", []api.ValueType{i32, i32}, nil, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := state(ctx)
		st.charge(int(uint32(stack[1])))
		st.output = read(mod, uint32(stack[0]), uint32(stack[1]))
	}},
	{"set_error", []api.ValueType{i32, i32}, nil, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := state(ctx)
		st.charge(int(uint32(stack[1])))
		msg := string(read(mod, uint32(stack[0]), uint32(stack[1])))
		st.errMsg = &msg
	}},
	{"log", []api.ValueType{i32, i32, i32}, nil, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := state(ctx)
		st.charge(int(uint32(stack[2])))
		st.host.Log(slog.Level(int32(stack[0])), string(read(mod, uint32(stack[1]), uint32(stack[2]))))
	}},
}

const wasiModule = "wasi_snapshot_preview1"

// WASI errno values.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoInval   = 28
	errnoNotsup  = 58
)

func errno(stack []uint64, e uint32) { stack[0] = uint64(e) }

// wasiFuncs are deterministic WASI preview1 stubs: no arguments, no environment, no
// files, a fixed clock and a seeded random source.
var wasiFuncs = []hostFunc{
	{"args_sizes_get", []api.ValueType{i32, i32}, []api.ValueType{i32}, zeroSizes},
	{"environ_sizes_get", []api.ValueType{i32, i32}, []api.ValueType{i32}, zeroSizes},
	{"args_get", []api.ValueType{i32, i32}, []api.ValueType{i32}, success},
	{"environ_get", []api.ValueType{i32, i32}, []api.ValueType{i32}, success},
	{"sched_yield", nil, []api.ValueType{i32}, success},
	{"clock_time_get", []api.ValueType{i32, i64, i32}, []api.ValueType{i32}, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := state(ctx)
		// Both clocks read the fixed time, advancing 1 ns per read so that monotonic
		// readings still increase; deterministic because every run starts afresh.
		st.clock++
		ns := uint64(st.env.Time)*1000 + st.clock
		write(mod, uint32(stack[2]), binary.LittleEndian.AppendUint64(nil, ns))
		errno(stack, errnoSuccess)
	}},
	{"random_get", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := state(ctx)
		n := uint32(stack[1])
		st.charge(int(n))
		if _, ok := mod.Memory().Read(uint32(stack[0]), n); !ok {
			errno(stack, errnoInval)
			return
		}
		write(mod, uint32(stack[0]), st.rand.next(int(n)))
		errno(stack, errnoSuccess)
	}},
	{"fd_write", []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}, func(ctx context.Context, mod api.Module, stack []uint64) {
		st := state(ctx)
		fd, iovs, count, nptr := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
		if fd != 1 && fd != 2 {
			errno(stack, errnoBadf)
			return
		}
		if count > 1024 {
			errno(stack, errnoInval)
			return
		}
		var text []byte
		vec := read(mod, iovs, count*8)
		for i := uint32(0); i < count; i++ {
			p, l := binary.LittleEndian.Uint32(vec[8*i:]), binary.LittleEndian.Uint32(vec[8*i+4:])
			st.charge(int(l))
			text = append(text, read(mod, p, l)...)
		}
		if st.logger != nil && len(text) > 0 {
			st.logger.Debug("guest output", "fd", fd, "text", string(text))
		}
		write(mod, nptr, binary.LittleEndian.AppendUint32(nil, uint32(len(text))))
		errno(stack, errnoSuccess)
	}},
	{"fd_close", []api.ValueType{i32}, []api.ValueType{i32}, stdioOnly},
	{"fd_fdstat_set_flags", []api.ValueType{i32, i32}, []api.ValueType{i32}, stdioOnly},
	{"fd_fdstat_get", []api.ValueType{i32, i32}, []api.ValueType{i32}, func(ctx context.Context, mod api.Module, stack []uint64) {
		if uint32(stack[0]) > 2 {
			errno(stack, errnoBadf)
			return
		}
		stat := make([]byte, 24)
		stat[0] = 2 // character device
		write(mod, uint32(stack[1]), stat)
		errno(stack, errnoSuccess)
	}},
	{"fd_prestat_get", []api.ValueType{i32, i32}, []api.ValueType{i32}, badf},
	{"fd_prestat_dir_name", []api.ValueType{i32, i32, i32}, []api.ValueType{i32}, badf},
	{"fd_read", []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}, badf},
	{"fd_seek", []api.ValueType{i32, i64, i32, i32}, []api.ValueType{i32}, badf},
	{"poll_oneoff", []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}, func(ctx context.Context, mod api.Module, stack []uint64) {
		// No event ever fires: the guest has nothing to wait for.
		write(mod, uint32(stack[3]), make([]byte, 4))
		errno(stack, errnoSuccess)
	}},
	{"proc_exit", []api.ValueType{i32}, nil, func(ctx context.Context, mod api.Module, stack []uint64) {
		panic(&hostAbort{fmt.Errorf("%w: guest exited with code %d", execution.ErrApplication, uint32(stack[0]))})
	}},
}

func zeroSizes(ctx context.Context, mod api.Module, stack []uint64) {
	write(mod, uint32(stack[0]), make([]byte, 4))
	write(mod, uint32(stack[1]), make([]byte, 4))
	errno(stack, errnoSuccess)
}

func success(ctx context.Context, mod api.Module, stack []uint64) { errno(stack, errnoSuccess) }

func badf(ctx context.Context, mod api.Module, stack []uint64) { errno(stack, errnoBadf) }

func stdioOnly(ctx context.Context, mod api.Module, stack []uint64) {
	if uint32(stack[0]) > 2 {
		errno(stack, errnoBadf)
		return
	}
	errno(stack, errnoSuccess)
}

func instantiateHostModules(ctx context.Context, rt wazero.Runtime) error {
	for name, funcs := range map[string][]hostFunc{"mica": micaFuncs, wasiModule: wasiFuncs} {
		b := rt.NewHostModuleBuilder(name)
		for _, f := range funcs {
			b.NewFunctionBuilder().WithGoModuleFunction(f.fn, f.params, f.results).Export(f.name)
		}
		if _, err := b.Instantiate(ctx); err != nil {
			return fmt.Errorf("host module %s: %w", name, err)
		}
	}
	return nil
}

// allowed maps module → function → the host function.
var allowed = func() map[string]map[string]hostFunc {
	m := map[string]map[string]hostFunc{"mica": {}, wasiModule: {}}
	for _, f := range micaFuncs {
		m["mica"][f.name] = f
	}
	for _, f := range wasiFuncs {
		m[wasiModule][f.name] = f
	}
	return m
}()

// checkImport refuses anything but the host functions above.
func checkImport(imp Import) error {
	if imp.Kind != 0 {
		return fmt.Errorf("%w: %s: only functions may be imported", ErrImportNotAllowed, imp)
	}
	if _, ok := allowed[imp.Module][imp.Name]; !ok {
		return fmt.Errorf("%w: %s is not provided by the host", ErrImportNotAllowed, imp)
	}
	return nil
}

// checkSignatures refuses imports whose types differ from the host's.
func checkSignatures(cm wazero.CompiledModule) error {
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		f := allowed[mod][name]
		if !equalTypes(def.ParamTypes(), f.params) || !equalTypes(def.ResultTypes(), f.results) {
			return fmt.Errorf("%w: function %q.%q has type %v -> %v, the host's is %v -> %v", ErrImportNotAllowed,
				mod, name, typeNames(def.ParamTypes()), typeNames(def.ResultTypes()), typeNames(f.params), typeNames(f.results))
		}
	}
	return nil
}

func equalTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func typeNames(ts []api.ValueType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = api.ValueTypeName(t)
	}
	return "(" + strings.Join(names, " ") + ")"
}

// randStream is random_get's deterministic source: SHA-256(seed || counter) blocks.
type randStream struct {
	seed    [32]byte
	counter uint64
	buf     []byte
}

func (r *randStream) next(n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		if len(r.buf) == 0 {
			var block [40]byte
			copy(block[:], r.seed[:])
			binary.LittleEndian.PutUint64(block[32:], r.counter)
			r.counter++
			sum := sha256.Sum256(block[:])
			r.buf = sum[:]
		}
		k := min(n-len(out), len(r.buf))
		out = append(out, r.buf[:k]...)
		r.buf = r.buf[k:]
	}
	return out
}
