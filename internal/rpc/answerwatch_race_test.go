//go:build race

package rpc

// raceEnabled: the race detector makes sync.Pool drop items, so allocation counts differ.
const raceEnabled = true
