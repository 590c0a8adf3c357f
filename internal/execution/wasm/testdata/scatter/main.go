// Command scatter is a test guest for the reuse of instances (written against Mica's
// ABI, no SDK). The operation "w SEED" writes 300 bytes ("w SEED N": N bytes) at
// pseudo-random places all over
// a 3 MiB array that is zero after start-up and a 64 KiB table that start-up fills,
// and keeps a few new heap allocations; "r" returns a checksum of both arrays and of
// the heap allocations kept. A run from the state after start-up therefore answers "r"
// with the same checksum whatever ran before in the same instance. mica_finalize
// answers the time it reads.
package main

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

//go:wasmimport mica set_output
func setOutput(ptr uint32, n uint32)

//go:wasmimport mica set_error
func setError(ptr uint32, n uint32)

var (
	big   [3 << 20]byte
	table [1 << 16]byte
	keep  [][]byte
	input []byte
)

func init() {
	for i := range table {
		table[i] = byte(i*7 + 1)
	}
}

func ptr(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

//go:wasmexport mica_alloc
func alloc(n uint32) uint32 {
	input = make([]byte, n+1)
	return ptr(input)
}

func fail(msg string) uint32 {
	b := []byte(msg)
	setError(ptr(b), uint32(len(b)))
	return 1
}

//go:wasmexport mica_execute_operation
func executeOperation(p, n uint32) uint32 {
	op := string(input[:n])
	switch {
	case op == "r":
		var sum uint64
		for _, a := range [][]byte{big[:], table[:]} {
			for i := 0; i+8 <= len(a); i += 8 {
				sum = (sum ^ binary.LittleEndian.Uint64(a[i:])) * 0x100000001b3
			}
		}
		for _, k := range keep {
			sum = sum*31 + uint64(len(k))
		}
		out := []byte(strconv.FormatUint(sum, 16))
		setOutput(ptr(out), uint32(len(out)))
		return 0
	case strings.HasPrefix(op, "w "):
		seed, count, sparse := strings.Cut(op[2:], " ")
		x, err := strconv.ParseUint(seed, 10, 64)
		if err != nil {
			return fail(err.Error())
		}
		writes := uint64(300)
		if sparse {
			if writes, err = strconv.ParseUint(count, 10, 64); err != nil {
				return fail(err.Error())
			}
		}
		for i := 0; i < int(writes); i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			if i%4 == 0 {
				table[x%uint64(len(table))] ^= byte(x>>32) | 1
			} else {
				big[x%uint64(len(big))] = byte(x>>40) | 1
			}
			if i%50 == 0 {
				keep = append(keep, make([]byte, 16+x%2000))
			}
		}
		return 0
	}
	return fail("want r or w SEED")
}

// mica_finalize answers the time it reads: its outcome depends on the run's
// environment, so the host may never replay an earlier one.
//
//go:wasmexport mica_finalize
func finalize(p, n uint32) uint32 {
	out := []byte(strconv.FormatInt(time.Now().UnixNano(), 10))
	setOutput(ptr(out), uint32(len(out)))
	return 0
}

func main() {}
