package wasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

func guest(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// skipUnderRace skips a test that computes in its one goroutine (compiles modules, runs
// them many times) when the race detector is on: it has no concurrency for the
// detector to check and is many times slower under it. The unit tests still run it.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("single-goroutine computation: nothing for the race detector to check")
	}
}

func newEngine(t testing.TB, cfg EngineConfig) *Engine {
	t.Helper()
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func compile(t testing.TB, e *Engine, name string) *Module {
	t.Helper()
	m, err := e.Compile(context.Background(), guest(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeRuntime is an in-memory execution.ContractRuntime and ServiceRuntime.
type fakeRuntime struct {
	opened    []string
	claims    []string
	scheduled [][]byte
	store     map[string][]byte
	logs      []string
	params    []byte
}

var (
	_ execution.ContractRuntime = (*fakeRuntime)(nil)
	_ execution.ServiceRuntime  = (*fakeRuntime)(nil)
)

func newFake() *fakeRuntime { return &fakeRuntime{store: map[string][]byte{}} }

func (f *fakeRuntime) ChainID() base.ChainID             { return base.ChainID{1} }
func (f *fakeRuntime) ApplicationID() base.ApplicationID { return base.ApplicationID{2} }
func (f *fakeRuntime) ChainBalance(context.Context) (base.Amount, error) {
	return base.AmountFromAttos(7), nil
}
func (f *fakeRuntime) OwnerBalance(context.Context, base.Owner) (base.Amount, error) {
	return base.Amount{}, nil
}
func (f *fakeRuntime) ChainOwnership(context.Context) (protocol.ChainOwnership, error) {
	return protocol.ChainOwnership{}, nil
}
func (f *fakeRuntime) ApplicationPermissions(context.Context) (protocol.ApplicationPermissions, error) {
	return protocol.ApplicationPermissions{}, nil
}
func (f *fakeRuntime) ReadValue(_ context.Context, key []byte) ([]byte, bool, error) {
	v, ok := f.store[string(key)]
	return bytes.Clone(v), ok, nil
}
func (f *fakeRuntime) ReadMultiValues(ctx context.Context, keys [][]byte) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i], _, _ = f.ReadValue(ctx, k)
	}
	return out, nil
}
func (f *fakeRuntime) FindKeyValues(_ context.Context, prefix []byte) ([]execution.KeyValue, error) {
	var out []execution.KeyValue
	for k, v := range f.store {
		if strings.HasPrefix(k, string(prefix)) {
			out = append(out, execution.KeyValue{Key: []byte(k), Value: bytes.Clone(v)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key, out[j].Key) < 0 })
	return out, nil
}
func (f *fakeRuntime) ReadDataBlob(_ context.Context, h base.Hash) ([]byte, error) {
	return nil, &execution.MissingBlobError{ID: base.BlobID{Type: base.BlobData, Hash: h}}
}
func (f *fakeRuntime) ApplicationParameters(context.Context) ([]byte, error) {
	return bytes.Clone(f.params), nil
}
func (f *fakeRuntime) Log(level slog.Level, msg string)         { f.logs = append(f.logs, msg) }
func (f *fakeRuntime) BlockHeight() base.BlockHeight            { return 5 }
func (f *fakeRuntime) NextBlockHeight() base.BlockHeight        { return 6 }
func (f *fakeRuntime) Timestamp() base.Timestamp                { return 1_000_000 }
func (f *fakeRuntime) LocalTime() base.Timestamp                { return 2_000_000 }
func (f *fakeRuntime) ScheduleOperation(op []byte)              { f.scheduled = append(f.scheduled, op) }
func (f *fakeRuntime) AuthenticatedOwner() *base.Owner          { return nil }
func (f *fakeRuntime) AuthenticatedCaller() *base.ApplicationID { return nil }
func (f *fakeRuntime) Message() *execution.MessageInfo          { return nil }
func (f *fakeRuntime) Transfer(context.Context, base.Owner, base.Account, base.Amount) error {
	return nil
}
func (f *fakeRuntime) OpenChain(_ context.Context, own protocol.ChainOwnership, balance base.Amount) (base.ChainID, error) {
	f.opened = append(f.opened, fmt.Sprintf("%d super owners:%s", len(own.SuperOwners), balance))
	return base.ChainID{9}, nil
}

func (f *fakeRuntime) Claim(_ context.Context, src, dst base.Account, amount base.Amount) error {
	f.claims = append(f.claims, fmt.Sprintf("%s->%s:%s", src, dst, amount))
	return nil
}
func (f *fakeRuntime) WriteBatch(_ context.Context, b *kv.Batch) error {
	for _, op := range b.Ops() {
		switch op.Kind {
		case kv.OpPut:
			f.store[string(op.Key)] = bytes.Clone(op.Value)
		case kv.OpDelete:
			delete(f.store, string(op.Key))
		default:
			return errors.New("unexpected op")
		}
	}
	return nil
}
func (f *fakeRuntime) SendMessage(context.Context, execution.SendMessageRequest) error { return nil }
func (f *fakeRuntime) CallApplication(context.Context, bool, base.ApplicationID, []byte) ([]byte, error) {
	return nil, nil
}

func le64(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
func le32(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }

func TestEndlessLoopRunsOutOfFuelDeterministically(t *testing.T) {
	ctx := context.Background()
	const fuel = 1_000_000
	var want uint64
	shared := newEngine(t, EngineConfig{})
	for i := 0; i < 20; i++ {
		e := shared
		if i%2 == 1 {
			e = newEngine(t, EngineConfig{}) // a fresh engine must agree with a reused one
		}
		m := compile(t, e, "loop")
		_, used, err := m.Run(ctx, fuel, EntryExecuteOperation, nil, NewContractHost(newFake()))
		var oof *OutOfFuelError
		if !errors.As(err, &oof) || !errors.Is(err, ErrOutOfFuel) || !base.IsInvalid(err) {
			t.Fatalf("run %d: err = %v, want out of fuel of class invalid", i, err)
		}
		if err.Error() != "out of fuel after 1000000 units" {
			t.Fatalf("message %q", err)
		}
		if i == 0 {
			want = used
		}
		if used != want || used != fuel {
			t.Fatalf("run %d used %d fuel, want %d", i, used, want)
		}
	}
}

func TestLoopFuelIsExact(t *testing.T) {
	ctx := context.Background()
	m := compile(t, newEngine(t, EngineConfig{}), "loop")
	used := func(n uint32) uint64 {
		_, u, err := m.Run(ctx, 1<<40, EntryFinalize, le32(n), NewContractHost(newFake()))
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	u0, u10, u1000 := used(0), used(10), used(1000)
	per := (u10 - u0) / 10
	if per == 0 || u1000-u0 != 1000*per {
		t.Fatalf("fuel not linear in iterations: %d, %d, %d", u0, u10, u1000)
	}
	t.Logf("fixed cost %d, %d per iteration", u0, per)
	// Running with exactly the fuel needed succeeds; one unit less fails.
	if _, _, err := m.Run(ctx, u10, EntryFinalize, le32(10), NewContractHost(newFake())); err != nil {
		t.Fatalf("exact fuel: %v", err)
	}
	if _, _, err := m.Run(ctx, u10-1, EntryFinalize, le32(10), NewContractHost(newFake())); !errors.Is(err, ErrOutOfFuel) {
		t.Fatalf("one unit short: %v", err)
	}
}

func TestCounterThroughContractHost(t *testing.T) {
	ctx := context.Background()
	m := compile(t, newEngine(t, EngineConfig{}), "counter")
	rt := newFake()
	c := NewContract(m, 1_000_000)
	var want uint64
	for _, n := range []uint64{5, 7, 100} {
		want += n
		out, err := c.ExecuteOperation(ctx, rt, le64(n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, le64(want)) || !bytes.Equal(rt.store["n"], le64(want)) {
			t.Fatalf("output %x, stored %x, want %d", out, rt.store["n"], want)
		}
	}
	if len(rt.logs) != 3 || rt.logs[0] != "counter updated" {
		t.Fatalf("logs %q", rt.logs)
	}
	if c.FuelUsed() == 0 {
		t.Fatal("no fuel used")
	}
	// A refused input reports the guest's message.
	if _, err := c.ExecuteOperation(ctx, rt, []byte{1}); !errors.Is(err, execution.ErrApplication) || !strings.Contains(err.Error(), "short operation") {
		t.Fatalf("short operation: %v", err)
	}
	// Fuel runs out across calls of one transaction.
	small := NewContract(m, 300)
	if _, err := small.ExecuteOperation(ctx, rt, le64(1)); !errors.Is(err, ErrOutOfFuel) {
		t.Fatalf("small budget: %v", err)
	}
}

func TestHostCallCodes(t *testing.T) {
	ctx := context.Background()
	m := compile(t, newEngine(t, EngineConfig{}), "counter")
	code := func(h Host, kind uint32) (int64, error) {
		out, _, err := m.Run(ctx, 1_000_000, EntryExecuteMessage, le32(kind), h)
		if err != nil {
			return 0, err
		}
		return int64(binary.LittleEndian.Uint64(out)), nil
	}
	cases := []struct {
		host Host
		kind uint32
		want int64
	}{
		{NewContractHost(newFake()), uint32(KindChainID), 32},
		{NewContractHost(newFake()), uint32(KindBlockHeight), 8},
		{NewContractHost(newFake()), uint32(KindAuthenticatedOwner), 1},
		{NewContractHost(newFake()), uint32(KindChainBalance), 16},
		{NewContractHost(newFake()), uint32(KindHTTPRequest), CodeMalformed}, // empty request
		{NewContractHost(newFake()), uint32(KindAssertBefore), CodeNotSupported},
		{NewServiceHost(newFake()), uint32(KindQueryService), CodeNotSupported},
		{NewContractHost(newFake()), uint32(KindReadEvent), CodeMalformed}, // an empty request
		{NewServiceHost(newFake()), uint32(KindEmitEvent), CodeNotSupported},
		{NewServiceHost(newFake()), uint32(KindSubscribeToEvents), CodeNotSupported},
		{NewContractHost(newFake()), 999, CodeUnknownKind},
		{NewContractHost(newFake()), uint32(KindReadValue), CodeMalformed},
		{NewServiceHost(newFake()), uint32(KindWriteBatch), CodeNotSupported},
		{NewServiceHost(newFake()), uint32(KindTimestamp), 8},
	}
	for _, c := range cases {
		got, err := code(c.host, c.kind)
		if err != nil || got != c.want {
			t.Errorf("kind %d: got %d, %v; want %d", c.kind, got, err, c.want)
		}
	}
}

func TestHostErrorsKeepTheirClass(t *testing.T) {
	// A missing blob aborts the run with the runtime's error, so that the worker can
	// ask for the blob.
	h := &errHost{Host: NewContractHost(newFake()), err: &execution.MissingBlobError{}}
	m := compile(t, newEngine(t, EngineConfig{}), "counter")
	_, _, err := m.Run(context.Background(), 1_000_000, EntryExecuteOperation, le64(1), h)
	var mb *execution.MissingBlobError
	if !errors.As(err, &mb) || !base.IsNotFound(err) {
		t.Fatalf("err = %v, want the missing blob error", err)
	}
}

type errHost struct {
	Host
	err error
}

func (h *errHost) Call(context.Context, Kind, []byte) ([]byte, error) { return nil, h.err }

func TestServiceRun(t *testing.T) {
	m := compile(t, newEngine(t, EngineConfig{}), "counter")
	rt := newFake()
	rt.store["n"] = le64(41)
	// Services may read storage but not write it: the host answers the counter's
	// write batch with CodeNotSupported, and the guest traps on the negative code.
	_, err := m.RunService(context.Background(), EntryExecuteOperation, le64(1), NewServiceHost(rt))
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("service writing storage: %v", err)
	}
	// An endless loop in a service is stopped by the deadline.
	e := newEngine(t, EngineConfig{ServiceTimeout: 50 * time.Millisecond})
	loop := compile(t, e, "loop")
	if _, err := loop.RunService(context.Background(), EntryExecuteOperation, nil, NewServiceHost(rt)); !errors.Is(err, execution.ErrApplication) || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("endless service: %v", err)
	}
}

func TestMemoryLimit(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, EngineConfig{MemoryLimitPages: 16})
	m := compile(t, e, "loop")
	if _, _, err := m.Run(ctx, 1_000_000, EntryInstantiate, le32(10), NewContractHost(newFake())); err != nil {
		t.Fatalf("grow within the limit: %v", err)
	}
	if _, _, err := m.Run(ctx, 1_000_000, EntryInstantiate, le32(100), NewContractHost(newFake())); !errors.Is(err, execution.ErrApplication) {
		t.Fatalf("grow over the limit: %v", err)
	}
	if _, err := e.Compile(ctx, guest(t, "bigmem")); !base.IsInvalid(err) {
		t.Fatalf("module declaring memory over the limit: %v", err)
	}
}

func TestRefusedModules(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, EngineConfig{Limits: Limits{MaxModuleBytes: 1000, MaxFunctions: 10}})
	loop := guest(t, "loop")
	many := manyFunctions(20)
	cases := []struct {
		name string
		code []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"garbage", []byte("hello world, not wasm"), "bad magic"},
		{"version", append([]byte("\x00asm\x02\x00\x00\x00"), loop[8:]...), "version"},
		{"truncated", loop[:len(loop)-3], "exceeds the remaining"},
		{"oversized", append(bytes.Clone(loop), make([]byte, 1000)...), "over the limit of 1000"},
		{"too many functions", many, "20 functions, over the limit of 10"},
		{"bad import", guest(t, "badimport"), `function "env"."open" is not provided by the host`},
		{"bad signature", guest(t, "badsig"), `"mica"."call" has type (i32 i32) -> (i64)`},
		{"filesystem", guest(t, "wasifs"), `"wasi_snapshot_preview1"."path_open" is not provided`},
		{"own fuel export", guest(t, "fuelexport"), `declares its own export "mica_fuel"`},
	}
	for _, c := range cases {
		_, err := e.Compile(ctx, c.code)
		if err == nil || !base.IsInvalid(err) || !errors.Is(err, ErrMalformedModule) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

// manyFunctions builds a module with n empty functions.
func manyFunctions(n int) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = appendSection(b, secType, []byte{1, 0x60, 0, 0})
	fs := appendU32(nil, uint32(n))
	code := appendU32(nil, uint32(n))
	for i := 0; i < n; i++ {
		fs = append(fs, 0)
		code = append(code, 2, 0, 0x0B)
	}
	b = appendSection(b, secFunction, fs)
	return appendSection(b, secCode, code)
}

func TestInstrumentIsDeterministic(t *testing.T) {
	for _, name := range []string{"loop", "counter"} {
		in := guest(t, name)
		a, err := Instrument(in, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Instrument(bytes.Clone(in), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: instrumenting twice gives different bytes", name)
		}
		// Instrumented output carries mica_fuel, so instrumenting it again is refused.
		if _, err := Instrument(a, Limits{}); !errors.Is(err, ErrMalformedModule) {
			t.Fatalf("%s: re-instrumenting: %v", name, err)
		}
	}
}

func TestCompileCachesByHash(t *testing.T) {
	e := newEngine(t, EngineConfig{CacheDir: t.TempDir()})
	a, b := compile(t, e, "loop"), compile(t, e, "loop")
	if a != b {
		t.Fatal("same bytes compiled twice")
	}
}
