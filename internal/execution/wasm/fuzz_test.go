package wasm

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzInstrument checks Instrument never panics, and that whenever wazero accepts the
// input, it accepts the instrumented output too.
func FuzzInstrument(f *testing.F) {
	for _, name := range []string{"loop", "counter", "badimport", "fuelexport", "bigmem"} {
		f.Add(guest(f, name))
	}
	f.Add(manyFunctions(3))
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	f.Cleanup(func() { _ = rt.Close(ctx) })
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Instrument(in, Limits{MaxModuleBytes: 1 << 16})
		if err != nil {
			return
		}
		orig, err := rt.CompileModule(ctx, in)
		if err != nil {
			return
		}
		_ = orig.Close(ctx)
		cm, err := rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("input compiles, instrumented output does not: %v", err)
		}
		_ = cm.Close(ctx)
	})
}
