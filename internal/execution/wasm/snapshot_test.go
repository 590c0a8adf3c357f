package wasm

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/execution/wasm/wasmtest"
	"github.com/micachain/mica/internal/kv"
)

// recordingRuntime is a fakeRuntime that authenticates an owner and records every
// write batch.
type recordingRuntime struct {
	*fakeRuntime
	owner  *base.Owner
	writes []string
}

func (r *recordingRuntime) AuthenticatedOwner() *base.Owner { return r.owner }

func (r *recordingRuntime) WriteBatch(ctx context.Context, b *kv.Batch) error {
	var w bytes.Buffer
	for _, op := range b.Ops() {
		fmt.Fprintf(&w, "%d %x=%x;", op.Kind, op.Key, op.Value)
	}
	r.writes = append(r.writes, w.String())
	return r.fakeRuntime.WriteBatch(ctx, b)
}

// runResult is everything a run shows to the outside.
type runResult struct {
	out    string
	fuel   uint64
	err    string
	writes []string
}

// TestSnapshotMatchesFreshInstance runs real Go guests (the ABI counter and the
// fungible example) hundreds of times with varied inputs and fuel budgets, once in
// instances restored from the module's snapshot and once in fresh instances that run
// _initialize themselves, and requires bit-identical outputs, errors, fuel and storage
// writes.
func TestSnapshotMatchesFreshInstance(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("builds Go guests")
	}
	alice := base.Address32Owner(base.Hash{0xaa, 1})
	bob := base.Address32Owner(base.Hash{0xbb, 2})
	hexOwner := func(o base.Owner) string {
		h := base.Hash{0xaa, 1}
		if o == bob {
			h = base.Hash{0xbb, 2}
		}
		return "0x" + hex.EncodeToString(h[:])
	}
	chain := base.ChainID{1}
	guests := []struct {
		name, dir, pkg string
		init           string
		op             func(r *rand.Rand) string
	}{
		{"counter", "testdata/counter", ".", "0", func(r *rand.Rand) string {
			switch r.IntN(8) {
			case 0:
				return `{"decrement":1}`
			case 1:
				return `{"increment":x}`
			}
			return fmt.Sprintf(`{"increment":%d}`, r.IntN(1000))
		}},
		{"fungible", "../../../examples", "./fungible/contract",
			fmt.Sprintf(`{"accounts":{%q:"1000000000"}}`, hexOwner(alice)),
			func(r *rand.Rand) string {
				from, to := alice, bob
				if r.IntN(6) == 0 {
					from, to = bob, alice
				}
				amount := r.IntN(20_000)
				if r.IntN(10) == 0 {
					amount = 2_000_000_000
				}
				if r.IntN(15) == 0 {
					return `{"transfer":{"owner":"nope"}}`
				}
				return fmt.Sprintf(`{"transfer":{"owner":%q,"amount":"%d","target_chain":"%s","target_owner":%q}}`,
					hexOwner(from), amount, hex.EncodeToString(chain[:]), hexOwner(to))
			}},
	}
	ctx := context.Background()
	for _, g := range guests {
		t.Run(g.name, func(t *testing.T) {
			code := wasmtest.BuildGoGuest(t, g.dir, g.pkg)
			snapEngine, freshEngine := newEngine(t, EngineConfig{}), newEngine(t, EngineConfig{})
			freshEngine.freshInstances = true
			var mods [2]*Module
			var rts [2]*recordingRuntime
			for i, e := range []*Engine{snapEngine, freshEngine} {
				m, err := e.Compile(ctx, code)
				if err != nil {
					t.Fatal(err)
				}
				if m.noSnapshot != "" {
					t.Fatalf("the %s guest cannot be snapshotted: %s", g.name, m.noSnapshot)
				}
				mods[i] = m
				rts[i] = &recordingRuntime{fakeRuntime: newFake(), owner: &alice}
			}
			run := func(i int, fuel uint64, entry string, input []byte) runResult {
				rt := rts[i]
				rt.writes = nil
				c := NewContract(mods[i], fuel)
				var out []byte
				var err error
				switch entry {
				case EntryInstantiate:
					err = c.Instantiate(ctx, rt, input)
				default:
					out, err = c.ExecuteOperation(ctx, rt, input)
				}
				res := runResult{out: string(out), fuel: c.FuelUsed(), writes: rt.writes}
				if err != nil {
					res.err = err.Error()
				}
				return res
			}
			compare := func(step int, entry string, fuel uint64, input []byte) runResult {
				a, b := run(0, fuel, entry, input), run(1, fuel, entry, input)
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("step %d (%s %q, fuel %d):\nsnapshot: %+v\nfresh:    %+v", step, entry, input, fuel, a, b)
				}
				return a
			}
			if res := compare(0, EntryInstantiate, DefaultFuelPerTransaction, []byte(g.init)); res.err != "" {
				t.Fatalf("instantiate: %s", res.err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			var ok, failed, outOfFuel int
			var typical uint64
			for step := 1; step <= 300; step++ {
				fuel := uint64(DefaultFuelPerTransaction)
				if step%7 == 0 && typical > 0 {
					// Budgets around what a run needs, to cut runs short at varied points.
					fuel = typical/2 + r.Uint64N(typical)
				}
				res := compare(step, EntryExecuteOperation, fuel, []byte(g.op(r)))
				switch {
				case res.err == "":
					ok++
					typical = res.fuel
				case fuel < DefaultFuelPerTransaction && res.fuel == fuel:
					outOfFuel++
				default:
					failed++
				}
			}
			if !bytes.Equal([]byte(fmt.Sprint(rts[0].store)), []byte(fmt.Sprint(rts[1].store))) {
				t.Fatal("the stores differ")
			}
			if ok < 100 || failed == 0 || outOfFuel == 0 {
				t.Fatalf("runs: %d ok, %d failed, %d out of fuel: the inputs do not cover enough cases", ok, failed, outOfFuel)
			}
			t.Logf("%d runs ok, %d refused, %d out of fuel; snapshot: %d bytes; typical fuel %d",
				ok, failed, outOfFuel, mods[0].snap.size(), typical)
		})
	}
}

// TestSnapshotRestoresExactState compares, right after start-up, an instance restored
// from the snapshot, and one reset after a run, with one that ran _initialize: same
// memory size and bytes, same value in every global, same clock.
func TestSnapshotRestoresExactState(t *testing.T) {
	skipUnderRace(t)
	ctx, m := context.Background(), counterGuest(t)
	if len(m.globals) == 0 {
		t.Fatal("the Go guest has no mutable global exported for the snapshot")
	}
	cm, err := m.acquire(ctx, contractRuntime)
	if err != nil {
		t.Fatal(err)
	}
	defer m.release(ctx)
	snap, err := m.snapshot(ctx, contractRuntime, cm)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		freshInst, err := m.instantiate(ctx, contractRuntime, cm)
		if err != nil {
			t.Fatal(err)
		}
		fresh := freshInst.mod
		clock, err := m.initialize(ctx, freshInst, execution.NewFuelTank(InitializeFuel))
		if err != nil {
			t.Fatal(err)
		}
		var restored api.Module
		if i%2 == 0 {
			// A new instance, restored.
			in, err := m.instantiate(ctx, contractRuntime, cm)
			if err != nil {
				t.Fatal(err)
			}
			restored = in.mod
			if err := snap.restore(restored, m.globals); err != nil {
				t.Fatal(err)
			}
		} else {
			// An instance used by a run, reset.
			rt := newFake()
			if err := NewContract(m, DefaultFuelPerTransaction).Instantiate(ctx, rt, []byte("5")); err != nil {
				t.Fatal(err)
			}
			if _, err := NewContract(m, DefaultFuelPerTransaction).ExecuteOperation(ctx, rt, []byte(fmt.Sprintf(`{"increment":%d}`, i))); err != nil {
				t.Fatal(err)
			}
			p, ok := m.takeInstance(contractRuntime)
			if !ok {
				t.Fatal("no instance was kept after a successful run")
			}
			if err := snap.reset(p.inst.mod, m.globals); err != nil {
				t.Fatal(err)
			}
			restored = p.inst.mod
		}
		if clock != snap.clock {
			t.Fatalf("clock readings: fresh %d, snapshot %d", clock, snap.clock)
		}
		a, _ := fresh.Memory().Read(0, fresh.Memory().Size())
		b, _ := restored.Memory().Read(0, restored.Memory().Size())
		if !bytes.Equal(a, b) {
			t.Fatalf("memories differ: %d and %d bytes", len(a), len(b))
		}
		for _, name := range m.globals {
			if x, y := fresh.ExportedGlobal(name).Get(), restored.ExportedGlobal(name).Get(); x != y {
				t.Fatalf("global %s: fresh %d, restored %d", name, x, y)
			}
		}
		_ = fresh.Close(ctx)
		_ = restored.Close(ctx)
	}
	t.Logf("memory %d pages, %d chunks, %d bytes kept, %d globals", snap.pages, len(snap.chunks), snap.size(), len(snap.globals))
}

// TestResetRestoresScatteredWrites: runs that write bytes all over the memory of an
// instance (a 3 MiB array zero in the snapshot, a table _initialize filled, the Go
// heap) leave it for the next run, which is reset to the snapshot by rewriting only the
// chunks that differ from it; a run that then reads all of it must see exactly the
// snapshot's bytes, with the fuel of a run in a fresh instance; then the same with a few
// writes per run, where the dirty pages and chunks are sparse.
func TestResetRestoresScatteredWrites(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	ctx := context.Background()
	snapEngine, mods := snapshotAndFresh(t, "testdata/scatter", ".")
	run := func(i int, op string) (string, uint64) {
		t.Helper()
		c := NewContract(mods[i], DefaultFuelPerTransaction)
		out, err := c.ExecuteOperation(ctx, newFake(), []byte(op))
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		return string(out), c.FuelUsed()
	}
	want, wantFuel := run(1, "r")
	for step := 1; step <= 40; step++ {
		if _, err := NewContract(mods[0], DefaultFuelPerTransaction).ExecuteOperation(ctx, newFake(), []byte(fmt.Sprintf("w %d", step))); err != nil {
			t.Fatal(err)
		}
		before := snapEngine.instantiations.Load()
		got, fuel := run(0, "r")
		if got != want || fuel != wantFuel {
			t.Fatalf("step %d: a run after writes reads checksum %s with %d fuel; a fresh instance reads %s with %d", step, got, fuel, want, wantFuel)
		}
		if snapEngine.instantiations.Load() != before {
			t.Fatalf("step %d: the run made a new instance instead of resetting the one the writes left", step)
		}
	}
	// A few writes per run: the dirty chunks' bits are sparse, so the reset compares
	// only where pages and chunks intersect. A write it missed would stay for "r" to
	// read.
	for step := 1; step <= 200; step++ {
		if _, err := NewContract(mods[0], DefaultFuelPerTransaction).ExecuteOperation(ctx, newFake(), []byte(fmt.Sprintf("w %d %d", 1000+step, 1+step%4))); err != nil {
			t.Fatal(err)
		}
		if got, fuel := run(0, "r"); got != want || fuel != wantFuel {
			t.Fatalf("sparse step %d: a run after writes reads checksum %s with %d fuel; a fresh instance reads %s with %d", step, got, fuel, want, wantFuel)
		}
	}
	if n := snapEngine.instantiations.Load(); n > 3 {
		t.Fatalf("%d instances made for 480 runs in sequence: instances are not reused", n)
	}
}

// TestResetRewritesEveryDirtyChunk scribbles directly over an idle instance's memory
// (the first and last byte, both sides of every chunk boundary, and a pseudo-random
// spray) and its globals, marks every page dirty, then resets it: memory and globals must be those of an
// instance that ran _initialize.
func TestResetRewritesEveryDirtyChunk(t *testing.T) {
	skipUnderRace(t)
	ctx, m := context.Background(), counterGuest(t)
	rt := newFake()
	if err := NewContract(m, DefaultFuelPerTransaction).Instantiate(ctx, rt, []byte("5")); err != nil {
		t.Fatal(err)
	}
	cm, err := m.acquire(ctx, contractRuntime)
	if err != nil {
		t.Fatal(err)
	}
	defer m.release(ctx)
	freshInst, err := m.instantiate(ctx, contractRuntime, cm)
	if err != nil {
		t.Fatal(err)
	}
	fresh := freshInst.mod
	defer fresh.Close(ctx)
	if _, err := m.initialize(ctx, freshInst, execution.NewFuelTank(InitializeFuel)); err != nil {
		t.Fatal(err)
	}
	want, _ := fresh.Memory().Read(0, fresh.Memory().Size())
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 3; round++ {
		p, ok := m.takeInstance(contractRuntime)
		if !ok {
			t.Fatal("no idle instance after a successful run")
		}
		mem, _ := p.inst.mod.Memory().Read(0, p.inst.mod.Memory().Size())
		if len(mem) != len(want) {
			t.Fatalf("memory of %d bytes, fresh %d", len(mem), len(want))
		}
		mem[0]++
		mem[len(mem)-1]++
		for off := resetChunk; off < len(mem); off += resetChunk * (1 + round) {
			mem[off-1]++
			mem[off]++
		}
		for i := 0; i < 1000; i++ {
			mem[r.IntN(len(mem))] = byte(r.Uint32())
		}
		for _, name := range m.globals {
			p.inst.mod.ExportedGlobal(name).(api.MutableGlobal).Set(r.Uint64())
		}
		// The scribbles bypass the marking of dirty pages: mark them all, as a run
		// that wrote everywhere would have.
		p.inst.mod.ExportedGlobal(DirtyExport).(api.MutableGlobal).Set(math.MaxUint64)
		p.inst.mod.ExportedGlobal(DirtyChunksExport).(api.MutableGlobal).Set(math.MaxUint64)
		if err := m.snap.reset(p.inst.mod, m.globals); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mem, want) {
			for off := range mem {
				if mem[off] != want[off] {
					t.Fatalf("round %d: byte %d is %d after the reset, %d after _initialize", round, off, mem[off], want[off])
				}
			}
		}
		for _, name := range m.globals {
			if x, y := fresh.ExportedGlobal(name).Get(), p.inst.mod.ExportedGlobal(name).Get(); x != y {
				t.Fatalf("global %s: fresh %d, reset %d", name, x, y)
			}
		}
		m.putInstance(ctx, contractRuntime, p)
	}
}

// timedRuntime is a fakeRuntime at a given block time.
type timedRuntime struct {
	*fakeRuntime
	time base.Timestamp
}

func (r timedRuntime) Timestamp() base.Timestamp { return r.time }

// TestPureRunReplayed: the SDK's mica_finalize of a contract without a Finalizer calls
// no host function, so after its first run the module replays its outcome: the same
// fuel and errors as running it in a fresh instance, with no instance used; with less
// fuel left than it needs, it runs out of fuel as a real run does. A finalize that
// reads the clock (the scatter guest's) is run every time.
func TestPureRunReplayed(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("builds Go guests")
	}
	ctx := context.Background()
	snapEngine, mods := snapshotAndFresh(t, "../../../examples", "./counter/contract")
	finalize := func(i int, fuel uint64) (uint64, string) {
		c := NewContract(mods[i], fuel)
		err := c.Finalize(ctx, newFake())
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		return c.FuelUsed(), msg
	}
	want, wantErr := finalize(1, DefaultFuelPerTransaction)
	if wantErr != "" || want == 0 {
		t.Fatalf("finalize in a fresh instance: fuel %d, error %q", want, wantErr)
	}
	for i := 0; i < 5; i++ {
		before := snapEngine.instantiations.Load()
		pooled := len(mods[0].pool[contractRuntime])
		fuel, err := finalize(0, DefaultFuelPerTransaction)
		if fuel != want || err != "" {
			t.Fatalf("run %d: fuel %d, error %q; fresh instance: %d, no error", i, fuel, err, want)
		}
		if _, ok := mods[0].pureOutcome(EntryFinalize); !ok {
			t.Fatalf("run %d: the finalize run was not recorded as pure", i)
		}
		if i > 0 && (snapEngine.instantiations.Load() != before || len(mods[0].pool[contractRuntime]) != pooled) {
			t.Fatalf("run %d: a replayed finalize used an instance", i)
		}
	}
	for _, fuel := range []uint64{want - 1, want / 2} {
		a, errA := finalize(0, fuel)
		b, errB := finalize(1, fuel)
		if a != b || errA != errB || !strings.Contains(errA, "out of fuel") {
			t.Fatalf("with %d fuel: replayed %d %q, fresh %d %q", fuel, a, errA, b, errB)
		}
	}

	m, err := snapEngine.Compile(ctx, wasmtest.BuildGoGuest(t, "testdata/scatter", "."))
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, ts := range []base.Timestamp{1_000_000, 2_000_000, 2_000_000} {
		out, _, err := m.Run(ctx, DefaultFuelPerTransaction, EntryFinalize, nil, NewContractHost(timedRuntime{newFake(), ts}))
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(out))
	}
	if outs[0] == outs[1] || outs[1] != outs[2] {
		t.Fatalf("a finalize reading the clock at times 1 s, 2 s, 2 s answered %q", outs)
	}
	if _, ok := m.pureOutcome(EntryFinalize); ok {
		t.Fatal("a finalize that read the clock was recorded as pure")
	}
}

func snapshotAndFresh(t *testing.T, dir, pkg string) (*Engine, [2]*Module) {
	t.Helper()
	code := wasmtest.BuildGoGuest(t, dir, pkg)
	snapEngine, freshEngine := newEngine(t, EngineConfig{}), newEngine(t, EngineConfig{})
	freshEngine.freshInstances = true
	var mods [2]*Module
	for i, e := range []*Engine{snapEngine, freshEngine} {
		m, err := e.Compile(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		mods[i] = m
	}
	return snapEngine, mods
}

// counterGuest compiles the ABI counter guest (skipped with -short).
func counterGuest(t *testing.T) *Module {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	m, err := newEngine(t, EngineConfig{}).Compile(context.Background(), wasmtest.BuildGoGuest(t, "testdata/counter", "."))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPureHostFuncsExist: every host function listed as pure is one the host provides
// (a misspelt entry would leave its function impure, and the list would mislead).
func TestPureHostFuncsExist(t *testing.T) {
	for name := range pureHostFuncs {
		mod, fn, _ := strings.Cut(name, ".")
		if _, ok := allowed[mod][fn]; !ok {
			t.Errorf("pureHostFuncs lists %s, which the host does not provide", name)
		}
	}
}

// barrierRuntime holds each storage read until n runs are inside one, so that n runs
// of a module overlap.
type barrierRuntime struct {
	*fakeRuntime
	arrived *atomic.Int32
	n       int32
	all     chan struct{}
}

func (r barrierRuntime) ReadValue(ctx context.Context, key []byte) ([]byte, bool, error) {
	if r.arrived.Add(1) == r.n {
		close(r.all)
	}
	select {
	case <-r.all:
	case <-time.After(time.Minute): // a broken run never arrives: fail, do not hang
		return nil, false, errors.New("the other runs did not arrive")
	}
	return r.fakeRuntime.ReadValue(ctx, key)
}

// TestPoolKeepsOverlappingRuns: a module's pool keeps as many idle instances as its
// runs overlapped (16 here, as a validator running 16 chains' blocks at once), so the
// next 16 overlapping runs reuse them all instead of instantiating.
func TestPoolKeepsOverlappingRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go guests")
	}
	ctx := context.Background()
	e := newEngine(t, EngineConfig{})
	m, err := e.Compile(ctx, wasmtest.BuildGoGuest(t, "../../../examples", "./counter/contract"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewContract(m, DefaultFuelPerTransaction).ExecuteOperation(ctx, newFake(), []byte(`{"increment":1}`)); err != nil {
		t.Fatal(err) // takes the snapshot
	}
	const n = 16
	round := func() {
		var arrived atomic.Int32
		all := make(chan struct{})
		errs := make(chan error, n)
		for range n {
			go func() {
				rt := barrierRuntime{newFake(), &arrived, n, all}
				_, err := NewContract(m, DefaultFuelPerTransaction).ExecuteOperation(ctx, rt, []byte(`{"increment":1}`))
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	round()
	if got := len(m.pool[contractRuntime]); got != n {
		t.Fatalf("%d idle instances after %d overlapping runs, want %d", got, n, n)
	}
	before := e.instantiations.Load()
	round()
	if got := e.instantiations.Load() - before; got != 0 {
		t.Fatalf("%d instantiations for %d overlapping runs with %d idle instances", got, n, n)
	}
}
