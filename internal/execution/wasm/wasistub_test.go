package wasm

import (
	"context"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"
)

// wasiImportModule returns a module importing wasi_snapshot_preview1.name with the
// given signature, exporting memory and mica_alloc (the shape of testdata/wasifs.wat).
func wasiImportModule(name string, params, results []api.ValueType) []byte {
	vec := func(b []byte) []byte { return append([]byte{byte(len(b))}, b...) }
	section := func(id byte, body []byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	sig := append([]byte{0x60}, vec(params)...)
	sig = append(sig, vec(results)...)
	types := append([]byte{2}, sig...)
	types = append(types, 0x60, 1, api.ValueTypeI32, 1, api.ValueTypeI32) // mica_alloc
	imp := append([]byte{1}, vec([]byte("wasi_snapshot_preview1"))...)
	imp = append(imp, vec([]byte(name))...)
	imp = append(imp, 0x00, 0x00) // func, type 0
	mod := []byte{0x00, 'a', 's', 'm', 1, 0, 0, 0}
	mod = append(mod, section(1, types)...)
	mod = append(mod, section(2, imp)...)
	mod = append(mod, section(3, []byte{1, 1})...)
	mod = append(mod, section(5, []byte{1, 0, 1})...)
	exp := append([]byte{2}, vec([]byte("memory"))...)
	exp = append(exp, 0x02, 0x00)
	exp = append(exp, vec([]byte("mica_alloc"))...)
	exp = append(exp, 0x00, 0x01)
	mod = append(mod, section(7, exp)...)
	mod = append(mod, section(10, []byte{1, 4, 0, 0x41, 0, 0x0b})...)
	return mod
}

// TestWASIStubs: the file and socket calls Go links into reflection-heavy guests (the
// SDK's GraphQL engine) compile, with their WASI signatures only; opening a file or a
// socket is still refused.
func TestWASIStubs(t *testing.T) {
	const i32, i64 = api.ValueTypeI32, api.ValueTypeI64
	e := newEngine(t, EngineConfig{})
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		params  []api.ValueType
		allowed bool
	}{
		{"fd_filestat_get", []api.ValueType{i32, i32}, true},
		{"fd_filestat_set_size", []api.ValueType{i32, i64}, true},
		{"fd_pread", []api.ValueType{i32, i32, i32, i64, i32}, true},
		{"fd_pwrite", []api.ValueType{i32, i32, i32, i64, i32}, true},
		{"fd_readdir", []api.ValueType{i32, i32, i32, i64, i32}, true},
		{"fd_sync", []api.ValueType{i32}, true},
		{"path_filestat_get", []api.ValueType{i32, i32, i32, i32, i32}, true},
		{"sock_accept", []api.ValueType{i32, i32, i32}, true},
		{"sock_shutdown", []api.ValueType{i32, i32}, true},
		{"fd_pread", []api.ValueType{i32, i32, i32, i32, i32}, false}, // wrong signature
		{"path_open", []api.ValueType{i32, i32, i32, i32, i32, i64, i64, i32, i32}, false},
		{"sock_open", []api.ValueType{i32, i32, i32}, false},
		{"sock_recv", []api.ValueType{i32, i32, i32, i32, i32, i32}, false},
	} {
		_, err := e.Compile(ctx, wasiImportModule(c.name, c.params, []api.ValueType{i32}))
		if c.allowed && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.allowed && (err == nil || !strings.Contains(err.Error(), c.name)) {
			t.Errorf("%s%v accepted (%v)", c.name, c.params, err)
		}
	}
}
