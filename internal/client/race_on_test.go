//go:build race

package client_test

// raceEnabled skips the Wasm application tests under the race detector: they build
// guests and run them through 4 validators (minutes when instrumented), and they run
// without -race in the unit stage.
const raceEnabled = true
