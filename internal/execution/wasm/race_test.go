//go:build race

package wasm

// raceEnabled: the test binary runs under the race detector (skipUnderRace).
const raceEnabled = true
