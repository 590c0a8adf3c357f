package main

import (
	"path/filepath"
	"testing"
)

// TestWasmCacheDir: wallets share the user's cache of compiled modules unless
// MICA_WASM_CACHE names another, and keep one of their own only when the user has no
// cache directory.
func TestWasmCacheDir(t *testing.T) {
	wallet := t.TempDir()
	cache := t.TempDir()
	t.Setenv("MICA_WASM_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", cache)
	if got, want := wasmCacheDir(wallet), filepath.Join(cache, "mica", "wasm"); got != want {
		t.Errorf("with XDG_CACHE_HOME: %s, want %s", got, want)
	}
	t.Setenv("MICA_WASM_CACHE", "/elsewhere")
	if got := wasmCacheDir(wallet); got != "/elsewhere" {
		t.Errorf("with MICA_WASM_CACHE: %s", got)
	}
	t.Setenv("MICA_WASM_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if got, want := wasmCacheDir(wallet), filepath.Join(wallet, "wasm-cache"); got != want {
		t.Errorf("without a cache directory: %s, want %s", got, want)
	}
}
