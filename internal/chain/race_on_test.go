//go:build race

package chain_test

// raceEnabled skips the Wasm block tests under the race detector: compiling and
// running Go guests instrumented takes about a minute, and they run without -race in
// the unit stage.
const raceEnabled = true
