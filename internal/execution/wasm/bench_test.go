package wasm

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
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
