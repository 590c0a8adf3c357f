package wasm

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

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
	// EntryProcessStreams is optional (streams.go).
	EntryProcessStreams = "mica_process_streams"
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
	// ErrInterrupted: a contract run was stopped because its context ended. Class
	// base.ErrRetryable: never an outcome of the contract.
	ErrInterrupted = fmt.Errorf("%w: contract run interrupted", base.ErrRetryable)
)

// OutOfFuelError reports fuel exhaustion; it matches ErrOutOfFuel.
type OutOfFuelError struct{ Fuel uint64 }

func (e *OutOfFuelError) Error() string { return fmt.Sprintf("out of fuel after %d units", e.Fuel) }

// Unwrap returns ErrOutOfFuel.
func (e *OutOfFuelError) Unwrap() error { return ErrOutOfFuel }

// EngineConfig configures an Engine.
type EngineConfig struct {
	// CacheDir holds wazero's compilation cache (in the node's data directory); empty
	// keeps the cache in memory. Processes may share one directory (the validators of
	// one machine): a module they need at once is compiled by one of them while the
	// others wait for it (a lock file per module under CacheDir/locks), then loaded
	// from the cache. The directory holds machine code that the processes run: it must
	// be writable by them alone.
	CacheDir string
	// MemoryLimitPages caps guest memory in 64 KiB pages; 0 means 512 (32 MiB).
	MemoryLimitPages uint32
	// Limits bounds accepted modules; zero fields take DefaultLimits.
	Limits Limits
	// ServiceTimeout bounds a service run when ctx has no earlier deadline; 0 means 2 s.
	ServiceTimeout time.Duration
	// Logger receives guest logs written to stdout/stderr; nil discards them.
	Logger *slog.Logger
	// MaxCachedModules bounds the compiled modules kept in memory (each holds its
	// machine code, about 33 MB for a Go guest); the least recently used is evicted
	// (and recompiled, from the disk cache if any, if it runs again). 0 means 16.
	MaxCachedModules int
	// MaxCacheDirBytes bounds the total size of CacheDir; the oldest files are removed
	// after every compilation that goes over it. 0 means 1 GiB.
	MaxCacheDirBytes int64
	// MaxIdleInstanceBytes bounds the memory of the idle instances kept for reuse,
	// over all modules (an instance is kept after a successful run and reset to the
	// module's snapshot by the next run, instead of a new instance being made). 0
	// means 128 MiB.
	MaxIdleInstanceBytes int64
}

// Engine compiles and runs Wasm applications. It is safe for concurrent use.
type Engine struct {
	cfg   EngineConfig
	cache wazero.CompilationCache
	// runtimes[contractRuntime] runs contracts: metered by fuel, and stopped when
	// their ctx ends by an interrupter that makes the fuel global negative (the guest
	// traps at its next charge, at the latest at the next loop iteration or function
	// entry), a last line of defence reported as retryable: wall time never decides a
	// contract's outcome. wazero's own WithCloseOnContextDone calls a trampoline at
	// every loop iteration, which made BenchmarkLoop1M 60 times slower, so contracts do
	// without it. The price: Go cannot preempt machine code, so a garbage collection
	// that starts during a run waits for the run to end (bounded by its fuel), and the
	// interrupter cannot run meanwhile.
	//
	// runtimes[serviceRuntime] runs services, unmetered (practically unlimited fuel):
	// they need WithCloseOnContextDone, which also lets the Go scheduler in.
	runtimes [2]wazero.Runtime

	// freshInstances makes every run call _initialize in its own instance instead of
	// restoring the module's snapshot (tests compare the two).
	freshInstances bool
	// lockWait bounds how long a compilation waits for its module's lock in CacheDir
	// (compileLockWait; tests shorten it).
	lockWait time.Duration

	mu      sync.Mutex
	modules map[[32]byte]*list.Element // of *Module, in lru
	lru     list.List                  // most recently used first
	// inflight are the compilations under way, by bytecode hash: a second Compile of
	// the same bytes waits for the first instead of compiling again.
	inflight map[[32]byte]*compileCall
	dirMu    sync.Mutex // serialises sweeps of CacheDir

	// ahead holds the slot of the one background compilation (CompileAhead) a node
	// runs at a time; aheadWG waits for it on Close.
	ahead   chan struct{}
	aheadWG sync.WaitGroup
	// compilations counts the modules compiled (not found in the cache), for tests.
	compilations atomic.Int64
	// instantiations counts the instances made (not reused), for tests.
	instantiations atomic.Int64
	// idleBytes is the memory of the instances in the modules' pools.
	// Invariant: idleBytes <= cfg.MaxIdleInstanceBytes.
	idleBytes atomic.Int64
}

// compileCall is a compilation under way; m and err are set before done is closed.
type compileCall struct {
	done chan struct{}
	m    *Module
	err  error
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
	if cfg.MaxCachedModules <= 0 {
		cfg.MaxCachedModules = 16
	}
	if cfg.MaxCacheDirBytes <= 0 {
		cfg.MaxCacheDirBytes = 1 << 30
	}
	if cfg.MaxIdleInstanceBytes <= 0 {
		cfg.MaxIdleInstanceBytes = 128 << 20
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
	e := &Engine{cfg: cfg, cache: cache, modules: make(map[[32]byte]*list.Element), inflight: make(map[[32]byte]*compileCall), ahead: make(chan struct{}, 1), lockWait: compileLockWait}
	e.runtimes[contractRuntime] = wazero.NewRuntimeWithConfig(ctx, rc)
	e.runtimes[serviceRuntime] = wazero.NewRuntimeWithConfig(ctx, rc.WithCloseOnContextDone(true))
	for _, rt := range e.runtimes {
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
	e.aheadWG.Wait()
	return errors.Join(e.runtimes[contractRuntime].Close(ctx), e.runtimes[serviceRuntime].Close(ctx), e.cache.Close(ctx))
}

// Module is a compiled, instrumented application module. It is safe for concurrent use:
// every run gets its own instance.
type Module struct {
	e            *Engine
	hash         [32]byte
	instrumented []byte
	exports      map[string]bool
	// globals are the export names of the module's own mutable globals.
	globals []string
	// noSnapshot, when not empty, says why the module runs _initialize in every instance.
	noSnapshot string

	// snapMu guards snap and snapErr: the module's state after _initialize, taken by the
	// first run that needs it, or the deterministic error _initialize ended with.
	snapMu  sync.Mutex
	snap    *snapshot
	snapErr error

	mu sync.Mutex
	// compiled holds the module compiled for each runtime, when it is; a run compiles
	// what it needs (again after an eviction).
	compiled [2]wazero.CompiledModule
	active   int  // runs using compiled
	evicted  bool // no longer in the engine's cache: close compiled when idle
	// pool holds, per runtime, instances of compiled that ended a successful run with
	// their memory at the snapshot's size: the next run resets one to the snapshot
	// instead of instantiating (at most maxPooled each, and the engine's
	// MaxIdleInstanceBytes over all modules).
	pool [2][]pooled

	// pure holds, by entry point, the outcome of a successful contract run with no
	// input that called no host function whose answer or effect depends on anything
	// but the guest's own state (pureRun). Guarded by mu.
	pure map[string]pureRun
}

// pureRun is the outcome of a successful contract run from the snapshot's state with
// an empty input that called no host function but set_output, set_error and the WASI
// stubs whose answers are constants: no request to the host (chain state, storage,
// other applications), no clock, no random bytes, no log. Such a run depends on the
// module alone, so every later run of that entry with no input would end the same:
// same output, same fuel. That is the SDK's mica_finalize of every contract that does
// not implement Finalizer, which the runtime calls after each transaction that loaded
// the contract: half of a counter increment's runs.
type pureRun struct {
	output []byte
	fuel   uint64
}

// pureOutcome returns the recorded outcome of a pure run of entry, if any.
func (m *Module) pureOutcome(entry string) (pureRun, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pure[entry]
	return p, ok
}

// recordPure records the outcome of a pure run of entry.
func (m *Module) recordPure(entry string, p pureRun) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pure == nil {
		m.pure = make(map[string]pureRun)
	}
	m.pure[entry] = p
}

type pooled struct {
	inst *instance
	// bytes is the size of the instance's memory, counted in the engine's idleBytes
	// while the instance is in a pool.
	bytes int64
}

// instance is an instantiated module with what a run looks up in it: its fuel global,
// and the exported functions it called, kept with the instance so that a pooled
// instance's next run calls them without creating them again (wazero's
// ExportedFunction allocates a call engine with a 10 KiB stack on every call). Used by
// one run at a time.
type instance struct {
	mod  api.Module
	fuel api.MutableGlobal
	// funcs are the exported functions called so far, by name.
	funcs map[string]export
	// stack holds the parameters and results of a call through CallWithStack.
	stack [4]uint64
}

// export is an exported function of an instance.
type export struct {
	f api.Function
	// stacked says that f's parameters and results are scalars (one uint64 each) that
	// fit in instance.stack; results is their number.
	stacked bool
	params  int
	results int
}

// scalars reports whether every type of ts takes one uint64 of a call's stack.
func scalars(ts []api.ValueType) bool {
	for _, t := range ts {
		switch t {
		case api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64, api.ValueTypeExternref:
		default:
			return false
		}
	}
	return true
}

// function returns the exported function name (f nil when there is none).
func (in *instance) function(name string) export {
	if e, ok := in.funcs[name]; ok {
		return e
	}
	f := in.mod.ExportedFunction(name)
	if f == nil {
		return export{}
	}
	def := f.Definition()
	ps, rs := def.ParamTypes(), def.ResultTypes()
	e := export{f: f, params: len(ps), results: len(rs)}
	e.stacked = len(ps) <= len(in.stack) && len(rs) <= len(in.stack) && scalars(ps) && scalars(rs)
	if in.funcs == nil {
		in.funcs = make(map[string]export, 4)
	}
	in.funcs[name] = e
	return e
}

// maxPooled bounds the idle instances kept per module and runtime. A pool only
// holds instances that ran, so it grows to the runs of one module that overlapped
// in the node (a client executing blocks of 16 chains, a validator handling up to 32
// batch items at once, votes and certified blocks) and no further; the memory of all
// idle instances stays within EngineConfig.MaxIdleInstanceBytes (32 instances of a
// Go guest's 4 MiB by default). Each run that finds no idle instance instantiates
// afresh: a Go guest's instantiation copies its data segments and grows and fills its
// memory, several times a reset. With 8, the counter scenario at 16 chains still
// instantiated in ~7 % of validator-0's CPU.
const maxPooled = 32

// takeInstance returns an idle instance of the module compiled for rt, if any.
func (m *Module) takeInstance(rt int) (pooled, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.pool[rt])
	if n == 0 {
		return pooled{}, false
	}
	p := m.pool[rt][n-1]
	m.pool[rt] = m.pool[rt][:n-1]
	m.e.idleBytes.Add(-p.bytes)
	return p, true
}

// putInstance keeps an instance for a later run, or closes it.
func (m *Module) putInstance(ctx context.Context, rt int, p pooled) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.evicted || len(m.pool[rt]) >= maxPooled || !m.e.reserveIdle(p.bytes) {
		_ = p.inst.mod.Close(ctx)
		return
	}
	m.pool[rt] = append(m.pool[rt], p)
}

// reserveIdle adds n bytes to the idle instances' memory if that stays within
// MaxIdleInstanceBytes, and reports whether it did.
func (e *Engine) reserveIdle(n int64) bool {
	for {
		cur := e.idleBytes.Load()
		if cur+n > e.cfg.MaxIdleInstanceBytes {
			return false
		}
		if e.idleBytes.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Runtimes of an Engine.
const (
	contractRuntime = 0
	serviceRuntime  = 1
)

// acquire returns the module compiled for runtime rt, compiling it if needed.
func (m *Module) acquire(ctx context.Context, rt int) (wazero.CompiledModule, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.compiled[rt] == nil {
		cm, err := m.e.compileShared(ctx, rt, m.hash, m.instrumented)
		if err != nil {
			// It compiled before: this is the node's trouble, not the module's.
			return nil, fmt.Errorf("%w: recompile module %x: %v", base.ErrRetryable, m.hash[:8], err)
		}
		m.compiled[rt] = cm
	}
	m.active++
	return m.compiled[rt], nil
}

// release ends a run; the last run of an evicted module frees its machine code.
func (m *Module) release(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active--
	if m.active == 0 && m.evicted {
		m.closeCompiled(ctx)
	}
}

// evict marks the module evicted, freeing its machine code now if no run uses it.
func (m *Module) evict(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evicted = true
	if m.active == 0 {
		m.closeCompiled(ctx)
	}
}

func (m *Module) closeCompiled(ctx context.Context) {
	for i, p := range m.pool {
		for _, x := range p {
			m.e.idleBytes.Add(-x.bytes)
			_ = x.inst.mod.Close(ctx)
		}
		m.pool[i] = nil
	}
	for i, cm := range m.compiled {
		if cm != nil {
			_ = cm.Close(ctx)
			m.compiled[i] = nil
		}
	}
}

// cached returns the module compiled from bytecode of hash h if it is in the in-memory
// cache, marking it used.
func (e *Engine) cached(h [32]byte) *Module {
	e.mu.Lock()
	defer e.mu.Unlock()
	el, ok := e.modules[h]
	if !ok {
		return nil
	}
	e.lru.MoveToFront(el)
	return el.Value.(*Module)
}

// CachedModules returns the number of compiled modules held in memory (for metrics).
func (e *Engine) CachedModules() int { return e.cachedModules() }

// CacheDir returns the directory of the on-disk compilation cache ("" when in memory).
func (e *Engine) CacheDir() string { return e.cfg.CacheDir }

// cachedModules returns the number of modules in the in-memory cache.
func (e *Engine) cachedModules() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.modules)
}

// sweepCacheDir removes the oldest files of CacheDir until its total size is within
// MaxCacheDirBytes. wazero treats a missing file as a cache miss.
func (e *Engine) sweepCacheDir() error {
	if e.cfg.CacheDir == "" {
		return nil
	}
	e.dirMu.Lock()
	defer e.dirMu.Unlock()
	type file struct {
		path string
		size int64
		mod  time.Time
	}
	var files []file
	var total int64
	err := filepath.WalkDir(e.cfg.CacheDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && path == filepath.Join(e.cfg.CacheDir, lockDir) {
			return fs.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		files = append(files, file{path, info.Size(), info.ModTime()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("wasm compilation cache: %w", err)
	}
	if total <= e.cfg.MaxCacheDirBytes {
		return nil
	}
	slices.SortFunc(files, func(a, b file) int { return a.mod.Compare(b.mod) })
	for _, f := range files {
		if total <= e.cfg.MaxCacheDirBytes {
			break
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wasm compilation cache: %w", err)
		}
		total -= f.size
	}
	return nil
}

// Compile instruments, checks and compiles bytecode, or returns the module already
// compiled from the same bytes. Refusals (malformed, oversized, disallowed imports,
// invalid Wasm) have class base.ErrInvalid and name the problem.
//
// A compilation of the same bytes already under way (another execution's, or
// CompileAhead's) is waited for, not repeated; its outcome is the same as this call's
// would be (compilation does not depend on ctx, which only bounds the wait).
func (e *Engine) Compile(ctx context.Context, bytecode []byte) (*Module, error) {
	h := sha256.Sum256(bytecode)
	e.mu.Lock()
	if el, ok := e.modules[h]; ok {
		e.lru.MoveToFront(el)
		e.mu.Unlock()
		return el.Value.(*Module), nil
	}
	if call, ok := e.inflight[h]; ok {
		e.mu.Unlock()
		select {
		case <-call.done:
			return call.m, call.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for the compilation of module %x: %w", base.ErrRetryable, h[:8], ctx.Err())
		}
	}
	call := &compileCall{done: make(chan struct{})}
	e.inflight[h] = call
	e.mu.Unlock()
	call.m, call.err = e.compile(context.WithoutCancel(ctx), h, bytecode)
	e.mu.Lock()
	delete(e.inflight, h)
	e.mu.Unlock()
	close(call.done)
	return call.m, call.err
}

// CompileAhead starts compiling bytecode in the background, so that the execution that
// needs it soon finds it compiled or under way (Compile waits for it). At most one such
// compilation runs at a time: while one does, CompileAhead does nothing and returns
// false. prepare runs first, in the background, and returns the bytes to compile (it
// decompresses a blob); done, if not nil, gets the outcome.
func (e *Engine) CompileAhead(prepare func() ([]byte, error), done func(*Module, error)) bool {
	select {
	case e.ahead <- struct{}{}:
	default:
		return false
	}
	e.aheadWG.Add(1)
	go func() {
		defer e.aheadWG.Done()
		defer func() { <-e.ahead }()
		code, err := prepare()
		var m *Module
		if err == nil {
			m, err = e.Compile(context.Background(), code)
		}
		if done != nil {
			done(m, err)
		}
	}()
	return true
}

// lockDir is the subdirectory of CacheDir holding the compilation locks; the sweep
// leaves it alone.
const lockDir = "locks"

// compileLockWait bounds how long a compilation waits for its module's lock while
// another process holds it: far longer than the largest module takes to compile, so
// only a holder that hangs (stopped, stuck on its disk) makes the others compile
// without it.
const compileLockWait = 3 * time.Minute

// errLockWait: another process held a module's lock longer than the wait's bound.
var errLockWait = errors.New("the lock is held by another process for longer than the bound")

// compileShared compiles the instrumented code of the module of bytecode hash h for
// runtime rt. With a CacheDir, it holds the module's lock file meanwhile, so that
// processes sharing the directory compile it once: the others wait (at most
// e.lockWait), and wazero then finds it in the cache. A lock that cannot be taken or
// is held too long only costs the sharing: the module is compiled without it (wazero
// writes a cache entry to a temporary file renamed into place, so two processes
// compiling one module never leave a torn entry).
func (e *Engine) compileShared(ctx context.Context, rt int, h [32]byte, code []byte) (wazero.CompiledModule, error) {
	if e.cfg.CacheDir != "" {
		dir := filepath.Join(e.cfg.CacheDir, lockDir)
		unlock, err := func() (func(), error) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
			return lockPath(filepath.Join(dir, fmt.Sprintf("%x-%d.lock", h, rt)), e.lockWait)
		}()
		if err != nil {
			e.cfg.logWarn("lock the compilation of a module; compiling it without the lock", err)
		} else {
			defer unlock()
		}
	}
	return e.runtimes[rt].CompileModule(ctx, code)
}

// compile instruments, checks and compiles bytecode of hash h and caches the module.
func (e *Engine) compile(ctx context.Context, h [32]byte, bytecode []byte) (*Module, error) {
	e.compilations.Add(1)
	out, info, err := instrument(bytecode, e.cfg.Limits)
	if err != nil {
		return nil, err
	}
	for _, imp := range info.imports {
		if err := checkImport(imp); err != nil {
			return nil, err
		}
	}
	cm, err := e.compileShared(ctx, contractRuntime, h, out)
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
	m := &Module{e: e, hash: h, compiled: [2]wazero.CompiledModule{cm}, instrumented: out, exports: make(map[string]bool),
		globals: info.globals, noSnapshot: info.noSnapshot}
	for name := range cm.ExportedFunctions() {
		m.exports[name] = true
	}
	if !m.exports["mica_alloc"] {
		_ = cm.Close(ctx)
		return nil, fmt.Errorf("%w: the module does not export mica_alloc", ErrMalformedModule)
	}
	if err := e.sweepCacheDir(); err != nil {
		e.cfg.logWarn("sweep the compilation cache", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if el, ok := e.modules[h]; ok {
		_ = cm.Close(ctx)
		e.lru.MoveToFront(el)
		return el.Value.(*Module), nil
	}
	e.modules[h] = e.lru.PushFront(m)
	for len(e.modules) > e.cfg.MaxCachedModules {
		old := e.lru.Remove(e.lru.Back()).(*Module)
		delete(e.modules, old.hash)
		old.evict(ctx)
	}
	return m, nil
}

func (c EngineConfig) logWarn(msg string, err error) {
	if c.Logger != nil {
		c.Logger.Warn(msg, "err", err)
	}
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
// exhausted memory; the host's own errors unchanged when a host call fails; and an
// error of class base.ErrRetryable (ErrInterrupted) when ctx ends during the run: the
// guest is stopped, and the run says nothing about the contract's outcome.
func (m *Module) Run(ctx context.Context, fuel uint64, entry string, input []byte, host Host) ([]byte, uint64, error) {
	tank := execution.NewFuelTank(fuel)
	out, err := m.RunTank(ctx, tank, entry, input, host)
	return out, tank.Used(), err
}

// RunTank is Run drawing its fuel from tank, which it shares with any contract that
// runs during its host calls (a synchronous call to another application): the fuel the
// guest burnt is recorded in tank before every host call and at the end, and the guest
// continues with what is left in tank after the call. Errors are those of Run.
func (m *Module) RunTank(ctx context.Context, tank *execution.FuelTank, entry string, input []byte, host Host) ([]byte, error) {
	out, err := m.run(ctx, contractRuntime, tank, entry, input, host)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInterrupted, entry, context.Cause(ctx))
	}
	return out, err
}

// RunService calls entry in a fresh instance without fuel metering, bounded by ctx and
// the engine's ServiceTimeout (wall clock: services are not replicated).
func (m *Module) RunService(ctx context.Context, entry string, input []byte, host Host) ([]byte, error) {
	// Compiling the module for the service runtime and taking its snapshot happen once
	// per node, not per query: they are not the query's time.
	if err := m.warm(ctx, serviceRuntime); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.e.cfg.ServiceTimeout)
	defer cancel()
	out, err := m.run(ctx, serviceRuntime, execution.NewFuelTank(math.MaxInt64), entry, input, host)
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
	pending []byte
	hasPend bool
	output  []byte
	errMsg  *string
	logger  *slog.Logger
	clock   uint64 // nanoseconds added to env.Time per clock read
	rand    randStream
	// impure is set by every host function not in pureHostFuncs (requests, results,
	// logs, clock, random bytes, output to fd 1/2): its answer or effect depends on more
	// than the guest's state.
	impure bool

	// mu serialises the host's accesses to the fuel global with the interrupter's.
	mu   sync.Mutex
	fuel api.MutableGlobal
	tank *execution.FuelTank
	// synced is the global's value when tank was last brought up to date.
	synced int64
}

// poisonFuel is what the interrupter writes to the fuel global: the guest traps at its
// next charge (the start of every loop iteration and of every function).
const poisonFuel int64 = math.MinInt64 / 2

// fuelLeft returns the fuel global.
func (st *callState) fuelLeft() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return int64(st.fuel.Get())
}

// spend subtracts units from the fuel global and reports whether some fuel is left.
func (st *callState) spend(units int64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	left := int64(st.fuel.Get()) - units
	st.fuel.Set(uint64(left))
	return left >= 0
}

// syncOut records the fuel the guest burnt since the last sync in the tank.
func (st *callState) syncOut() {
	st.mu.Lock()
	defer st.mu.Unlock()
	left := int64(st.fuel.Get())
	if left < 0 {
		st.tank.Consume(st.tank.Remaining())
		st.synced = 0
		return
	}
	st.tank.Consume(uint64(st.synced - left))
	st.synced = left
}

// syncIn gives the guest what is left in the tank (after a host call that may have run
// other contracts on it). It keeps a negative global (exhausted or interrupted) as is.
func (st *callState) syncIn() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if int64(st.fuel.Get()) < 0 {
		return
	}
	st.synced = int64(min(st.tank.Remaining(), math.MaxInt64))
	st.fuel.Set(uint64(st.synced))
}

// interrupt poisons the fuel global until done is closed. It repeats the write: the
// guest's own read-modify-write of the global may overwrite one.
func (st *callState) interrupt(done <-chan struct{}) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		st.mu.Lock()
		poison := poisonFuel
		st.fuel.Set(uint64(poison))
		st.mu.Unlock()
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// hostAbort carries an error out of a host function through the guest.
type hostAbort struct{ err error }

func (a *hostAbort) Error() string { return a.err.Error() }
func (a *hostAbort) Unwrap() error { return a.err }

// warm compiles the module for runtime rt and takes its snapshot if not done yet.
func (m *Module) warm(ctx context.Context, rt int) error {
	cm, err := m.acquire(ctx, rt)
	if err != nil {
		return err
	}
	defer m.release(ctx)
	if m.exports["_initialize"] && m.noSnapshot == "" && !m.e.freshInstances {
		if _, err := m.snapshot(ctx, rt, cm); err != nil {
			return err
		}
	}
	return nil
}

func (m *Module) run(ctx context.Context, rt int, tank *execution.FuelTank, entry string, input []byte, host Host) (_ []byte, err error) {
	if !m.exports[entry] {
		return nil, fmt.Errorf("%w: the module does not export %s", execution.ErrApplication, entry)
	}
	if tank.Remaining() == 0 {
		return nil, &OutOfFuelError{Fuel: tank.Limit()}
	}
	if uint64(len(input)) > math.MaxUint32 {
		return nil, base.Invalidf("input of %d bytes is too large", len(input))
	}
	cm, err := m.acquire(ctx, rt)
	if err != nil {
		return nil, err
	}
	defer m.release(ctx)
	var snap *snapshot
	if m.exports["_initialize"] && m.noSnapshot == "" && !m.e.freshInstances {
		if snap, err = m.snapshot(ctx, rt, cm); err != nil {
			return nil, err
		}
	}
	// A run with no input from the snapshot's state whose earlier run was pure ends as
	// that one did (pureRun); one with less fuel left than that run used runs, to run
	// out of fuel where it would.
	memo := rt == contractRuntime && snap != nil && len(input) == 0
	if memo {
		if p, ok := m.pureOutcome(entry); ok && tank.Remaining() >= p.fuel {
			tank.Consume(p.fuel)
			return bytes.Clone(p.output), nil
		}
	}
	var inst *instance
	if p, ok := m.takeInstance(rt); ok && snap != nil && !p.inst.mod.IsClosed() {
		inst = p.inst
		if err := snap.reset(inst.mod, m.globals); err != nil {
			_ = inst.mod.Close(ctx)
			return nil, err
		}
	} else {
		if ok {
			_ = p.inst.mod.Close(ctx)
		}
		ictx := ctx
		if snap != nil {
			// The restore grows the memory to the snapshot's size: allocate that much
			// at once.
			ictx = experimental.WithMemoryAllocator(ctx, memoryCapacity(snap.pages*65536))
		}
		if inst, err = m.instantiate(ictx, rt, cm); err != nil {
			return nil, err
		}
		if snap != nil {
			if err := snap.restore(inst.mod, m.globals); err != nil {
				_ = inst.mod.Close(ctx)
				return nil, err
			}
		}
	}
	// A successful run leaves a reusable instance: one whose state, after reset, is
	// exactly the snapshot's (see snapshot.reset).
	reuse := false
	defer func() {
		if reuse && ctx.Err() == nil && !inst.mod.IsClosed() && uint64(inst.mod.Memory().Size()) == snap.pages*65536 {
			m.putInstance(ctx, rt, pooled{inst, int64(inst.mod.Memory().Size())})
			return
		}
		_ = inst.mod.Close(ctx)
	}()
	var clock uint64
	switch {
	case !m.exports["_initialize"]:
	case snap != nil:
		clock = snap.clock
	case m.noSnapshot != "":
		// The instance's state after _initialize is not all in memory and globals:
		// initialize this instance, on the run's own fuel.
		if clock, err = m.initialize(ctx, inst, tank); err != nil {
			return nil, err
		}
	default: // m.e.freshInstances
		if clock, err = m.initialize(ctx, inst, execution.NewFuelTank(InitializeFuel)); err != nil {
			return nil, err
		}
	}
	env := host.Environment()
	st := &callState{host: host, env: env, logger: m.e.cfg.Logger, rand: randStream{seed: env.Seed}, tank: tank, clock: clock, fuel: inst.fuel}
	ctx = context.WithValue(ctx, stateKey{}, st)
	if memo {
		// Runs after end: the tank then holds the fuel the run burnt.
		used := tank.Used()
		defer func() {
			if err == nil && !st.impure && ctx.Err() == nil {
				m.recordPure(entry, pureRun{output: bytes.Clone(st.output), fuel: tank.Used() - used})
			}
		}()
	}
	end := st.start(ctx)
	defer end()
	res, err := st.call(ctx, inst, "mica_alloc", uint64(len(input)))
	if err != nil {
		return nil, err
	}
	ptr := uint32(res[0])
	if !inst.mod.Memory().Write(ptr, input) {
		return nil, fmt.Errorf("%w: mica_alloc returned %d, out of memory bounds for %d bytes", execution.ErrApplication, ptr, len(input))
	}
	markWritten(inst.mod, ptr, len(input))
	res, err = st.call(ctx, inst, entry, uint64(ptr), uint64(len(input)))
	if err != nil {
		return nil, err
	}
	if status := int32(res[0]); status != 0 {
		if st.errMsg != nil {
			return nil, fmt.Errorf("%w: %s", execution.ErrApplication, *st.errMsg)
		}
		return nil, fmt.Errorf("%w: %s returned status %d", execution.ErrApplication, entry, status)
	}
	reuse = snap != nil && snap.image != nil
	return st.output, nil
}

// instantiate returns a new instance of cm, without calling any of its functions.
func (m *Module) instantiate(ctx context.Context, rt int, cm wazero.CompiledModule) (*instance, error) {
	m.e.instantiations.Add(1)
	inst, err := m.e.runtimes[rt].InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, fmt.Errorf("%w: instantiate: %v", execution.ErrApplication, firstLine(err))
	}
	g, ok := inst.ExportedGlobal(FuelExport).(api.MutableGlobal)
	if !ok {
		_ = inst.Close(ctx)
		return nil, fmt.Errorf("%w: fuel global missing", ErrMalformedModule)
	}
	return &instance{mod: inst, fuel: g}, nil
}

// memoryCapacity allocates a new instance's memory with room for that many bytes, so
// that growing it up to there reslices it (the bytes past its length are the zeroes
// make wrote: a memory never shrinks, and nothing writes past its length). wazero's
// own allocation grows by append, which copies the memory and zeroes the new part.
type memoryCapacity uint64

func (c memoryCapacity) Allocate(capBytes, maxBytes uint64) experimental.LinearMemory {
	return &linearMemory{buf: make([]byte, 0, min(max(uint64(c), capBytes), maxBytes))}
}

type linearMemory struct{ buf []byte }

func (l *linearMemory) Reallocate(size uint64) []byte {
	if size <= uint64(cap(l.buf)) {
		l.buf = l.buf[:size]
	} else {
		l.buf = append(l.buf, make([]byte, size-uint64(len(l.buf)))...)
	}
	return l.buf
}

func (l *linearMemory) Free() { l.buf = nil }

// start gives the guest the tank's fuel and arms the interrupter; the function it
// returns records the fuel burnt in the tank and disarms the interrupter.
func (st *callState) start(ctx context.Context) (end func()) {
	st.syncIn()
	// The guest is stopped when ctx ends: the interrupter makes its fuel negative.
	done, stopped := make(chan struct{}), make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(stopped)
		st.interrupt(done)
	})
	return func() {
		close(done)
		if !stop() {
			<-stopped
		}
		st.syncOut()
	}
}

// call calls an exported function; ctx must carry st. The results it returns are
// valid until the next call in inst.
func (st *callState) call(ctx context.Context, inst *instance, name string, params ...uint64) ([]uint64, error) {
	e := inst.function(name)
	if e.f == nil {
		return nil, fmt.Errorf("%w: the module does not export %s", execution.ErrApplication, name)
	}
	var res []uint64
	var err error
	if e.stacked && len(params) == e.params {
		clear(inst.stack[copy(inst.stack[:], params):])
		if err = e.f.CallWithStack(ctx, inst.stack[:]); err == nil {
			res = inst.stack[:e.results]
		}
	} else {
		res, err = e.f.Call(ctx, params...)
	}
	if err == nil {
		return res, nil
	}
	var abort *hostAbort
	switch {
	case st.fuelLeft() < 0:
		return nil, &OutOfFuelError{Fuel: st.tank.Limit()}
	case errors.As(err, &abort):
		return nil, abort.err
	default:
		return nil, fmt.Errorf("%w: trap in %s: %s", execution.ErrApplication, name, firstLine(err))
	}
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
	if !st.spend(int64(HostCallFuel) + int64(HostByteFuel)*int64(bytes)) {
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
	markWritten(mod, ptr, len(b))
}

// markWritten sets the dirty bits (DirtyExport, DirtyChunksExport) of the pages and
// chunks of [ptr, ptr+n] in mod, as the instrumented code does for the guest's own
// writes: every write of the host into a guest's memory goes through here, so that
// snapshot.reset sees it.
func markWritten(mod api.Module, ptr uint32, n int) {
	from, to := uint64(ptr), uint64(ptr)+uint64(n)
	if g, ok := mod.ExportedGlobal(DirtyExport).(api.MutableGlobal); ok {
		g.Set(g.Get() | unitBits(from, to, dirtyPageShift))
	}
	if g, ok := mod.ExportedGlobal(DirtyChunksExport).(api.MutableGlobal); ok {
		g.Set(g.Get() | unitBits(from, to, dirtyChunkShift))
	}
	// Neither: not an instrumented module, never reset (Engine.compile instruments all).
}

// unitBits returns the dirty bits of the units of 1<<shift bytes that [from, to]
// touches: bit u%64 for each unit u.
func unitBits(from, to uint64, shift uint) uint64 {
	lo, hi := from>>shift, to>>shift
	if hi-lo >= 63 {
		return math.MaxUint64
	}
	return bits.RotateLeft64(math.MaxUint64>>(63-(hi-lo)), int(lo%64))
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
		// The call may run other contracts on the same tank.
		st.syncOut()
		resp, err := st.host.Call(ctx, kind, req)
		st.syncIn()
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
	// Linked by Go guests that call methods by reflection (the SDK's GraphQL engine):
	// the linker then keeps every method of *os.File and net types. No descriptor
	// or preopen exists, so each answers EBADF.
	{"fd_filestat_get", []api.ValueType{i32, i32}, []api.ValueType{i32}, badf},
	{"fd_filestat_set_size", []api.ValueType{i32, i64}, []api.ValueType{i32}, badf},
	{"fd_pread", []api.ValueType{i32, i32, i32, i64, i32}, []api.ValueType{i32}, badf},
	{"fd_pwrite", []api.ValueType{i32, i32, i32, i64, i32}, []api.ValueType{i32}, badf},
	{"fd_readdir", []api.ValueType{i32, i32, i32, i64, i32}, []api.ValueType{i32}, badf},
	{"fd_sync", []api.ValueType{i32}, []api.ValueType{i32}, badf},
	{"path_filestat_get", []api.ValueType{i32, i32, i32, i32, i32}, []api.ValueType{i32}, badf},
	{"sock_accept", []api.ValueType{i32, i32, i32}, []api.ValueType{i32}, badf},
	{"sock_shutdown", []api.ValueType{i32, i32}, []api.ValueType{i32}, badf},
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

// pureHostFuncs are the host functions (module.name) whose answer and effect depend on
// the guest's own state alone: its output and the WASI stubs that answer constants. A
// run that calls no other host function may be replayed (pureRun); every other host
// function marks the run impure, so a new one is impure unless it is listed here.
var pureHostFuncs = map[string]bool{
	"mica.set_output": true, "mica.set_error": true,
	wasiModule + ".args_sizes_get": true, wasiModule + ".environ_sizes_get": true,
	wasiModule + ".args_get": true, wasiModule + ".environ_get": true,
	wasiModule + ".sched_yield": true, wasiModule + ".fd_close": true,
	wasiModule + ".fd_fdstat_set_flags": true, wasiModule + ".fd_fdstat_get": true,
	wasiModule + ".fd_prestat_get": true, wasiModule + ".fd_prestat_dir_name": true,
	wasiModule + ".fd_read": true, wasiModule + ".fd_seek": true,
	wasiModule + ".fd_filestat_get": true, wasiModule + ".fd_filestat_set_size": true,
	wasiModule + ".fd_pread": true, wasiModule + ".fd_pwrite": true,
	wasiModule + ".fd_readdir": true, wasiModule + ".fd_sync": true,
	wasiModule + ".path_filestat_get": true, wasiModule + ".sock_accept": true,
	wasiModule + ".sock_shutdown": true, wasiModule + ".poll_oneoff": true,
	wasiModule + ".proc_exit": true,
}

// markImpure wraps a host function that is not in pureHostFuncs: calling it marks the
// run impure.
func markImpure(fn api.GoModuleFunc) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		if st, ok := ctx.Value(stateKey{}).(*callState); ok {
			st.impure = true
		}
		fn(ctx, mod, stack)
	}
}

func instantiateHostModules(ctx context.Context, rt wazero.Runtime) error {
	for name, funcs := range map[string][]hostFunc{"mica": micaFuncs, wasiModule: wasiFuncs} {
		b := rt.NewHostModuleBuilder(name)
		for _, f := range funcs {
			fn := f.fn
			if !pureHostFuncs[name+"."+f.name] {
				fn = markImpure(fn)
			}
			b.NewFunctionBuilder().WithGoModuleFunction(fn, f.params, f.results).Export(f.name)
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
