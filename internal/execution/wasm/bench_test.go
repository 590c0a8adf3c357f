package wasm

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/micachain/mica/internal/execution/wasm/wasmtest"
)

// BenchmarkInstanceStart: a run of an empty-ish entry point, dominated by instantiation.
func BenchmarkInstanceStart(b *testing.B) {
	m := compile(b, newEngine(b, EngineConfig{}), "loop")
	ctx, h := context.Background(), NewContractHost(newFake())
	for b.Loop() {
		if _, _, err := m.Run(ctx, 1_000_000, EntryFinalize, le32(0), h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCounter: a run with two host calls (read value, write batch), a log and an
// output.
func BenchmarkCounter(b *testing.B) {
	m := compile(b, newEngine(b, EngineConfig{}), "counter")
	ctx, rt := context.Background(), newFake()
	h := NewContractHost(rt)
	for b.Loop() {
		if _, _, err := m.Run(ctx, 1_000_000, EntryExecuteOperation, le64(1), h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoop1M: one million loop iterations, instrumented (through Run) and not
// (the raw module on plain wazero), to show the fuel overhead.
func BenchmarkLoop1M(b *testing.B) {
	ctx := context.Background()
	b.Run("instrumented", func(b *testing.B) {
		m := compile(b, newEngine(b, EngineConfig{}), "loop")
		h := NewContractHost(newFake())
		for b.Loop() {
			if _, _, err := m.Run(ctx, 1<<40, EntryFinalize, le32(1_000_000), h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		cm, err := rt.CompileModule(ctx, guest(b, "loop"))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			inst, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				b.Fatal(err)
			}
			inst.Memory().Write(2048, le32(1_000_000))
			if _, err := inst.ExportedFunction(EntryFinalize).Call(ctx, 2048, 4); err != nil {
				b.Fatal(err)
			}
			inst.Close(ctx)
		}
	})
}

func BenchmarkInstrument(b *testing.B) {
	in := guest(b, "counter")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Instrument(in, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFuelRate calibrates fuel against wall time (the numbers behind
// bulkByteShift and protocol.NoFeesPolicy's MaxFuelPerBlock): "loop" burns 10M fuel in
// the endless loop (one unit per iteration, the slowest code per unit); "fill" and
// "copy" move 16 MiB 64 times in one run with memory.fill and memory.copy (reported as
// bytes per second).
func BenchmarkFuelRate(b *testing.B) {
	ctx := context.Background()
	e := newEngine(b, EngineConfig{})
	b.Run("loop", func(b *testing.B) {
		m := compile(b, e, "loop")
		h := NewContractHost(newFake())
		const fuel = 10_000_000
		for b.Loop() {
			if _, _, err := m.Run(ctx, fuel, EntryExecuteOperation, nil, h); !errors.Is(err, ErrOutOfFuel) {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(fuel)*float64(b.N)/b.Elapsed().Seconds(), "fuel/s")
	})
	for _, op := range []struct {
		name string
		code []byte
	}{
		{"fill", []byte{0xFC, 0x0B, 0x00}},
		{"copy", []byte{0xFC, 0x0A, 0x00, 0x00}},
	} {
		b.Run(op.name, func(b *testing.B) {
			const n = 16 << 20
			// for i := 64; i != 0; i-- { op(0, 0, n) }
			body := cat(i32c(64), []byte{0x21, 0x02, 0x03, 0x40}, i32c(0), i32c(0), i32c(n), op.code,
				[]byte{0x20, 0x02}, i32c(1), []byte{0x6B, 0x22, 0x02, 0x0D, 0x00, 0x0B}, i32c(0))
			m, err := e.Compile(ctx, wmod{memPages: 512, funcs: []wfunc{entry(EntryExecuteOperation, []byte{0x7F}, body...)}}.bytes())
			if err != nil {
				b.Fatal(err)
			}
			h := NewContractHost(newFake())
			b.SetBytes(64 * n)
			for b.Loop() {
				if _, _, err := m.Run(ctx, 1<<40, EntryExecuteOperation, nil, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// processCPU returns the CPU time (user + system) the process has used so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per operation since start (cpu-ns/op): on
// a shared machine wall time per operation counts the waits for a core, CPU time does
// not.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkGoCounter: an increment of the ABI counter, a Go guest, in an instance
// restored from the module's snapshot and in a fresh instance that runs the Go
// runtime's _initialize (what every run did before snapshots).
func BenchmarkGoCounter(b *testing.B) {
	code := wasmtest.BuildGoGuest(b, "testdata/counter", ".")
	for _, mode := range []struct {
		name  string
		fresh bool
	}{{"snapshot", false}, {"fresh", true}} {
		b.Run(mode.name, func(b *testing.B) {
			e := newEngine(b, EngineConfig{})
			e.freshInstances = mode.fresh
			m, err := e.Compile(context.Background(), code)
			if err != nil {
				b.Fatal(err)
			}
			ctx, rt := context.Background(), newFake()
			c := NewContract(m, DefaultFuelPerTransaction)
			if err := c.Instantiate(ctx, rt, []byte("0")); err != nil {
				b.Fatal(err)
			}
			var cpu time.Duration
			for b.Loop() {
				if cpu == 0 {
					cpu = processCPU(b)
				}
				if _, err := NewContract(m, DefaultFuelPerTransaction).ExecuteOperation(ctx, rt, []byte(`{"increment":1}`)); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkSDKCounter: an increment of examples/counter (the SDK's typed contract:
// JSON operation and response, a register read and written through the host) and the
// finalize the runtime calls after it, in instances reset to the module's snapshot.
func BenchmarkSDKCounter(b *testing.B) {
	code := wasmtest.BuildGoGuest(b, "../../../examples", "./counter/contract")
	m, err := newEngine(b, EngineConfig{}).Compile(context.Background(), code)
	if err != nil {
		b.Fatal(err)
	}
	ctx, rt := context.Background(), newFake()
	if err := NewContract(m, DefaultFuelPerTransaction).Instantiate(ctx, rt, []byte("0")); err != nil {
		b.Fatal(err)
	}
	var fuel uint64
	var cpu time.Duration
	for b.Loop() {
		if cpu == 0 {
			cpu = processCPU(b)
		}
		c := NewContract(m, DefaultFuelPerTransaction)
		if _, err := c.ExecuteOperation(ctx, rt, []byte(`{"increment":1}`)); err != nil {
			b.Fatal(err)
		}
		if err := c.Finalize(ctx, rt); err != nil {
			b.Fatal(err)
		}
		fuel = c.FuelUsed()
	}
	b.ReportMetric(float64(fuel), "fuel/op")
	reportCPU(b, cpu)
}
