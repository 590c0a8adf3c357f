package main

import (
	"encoding/binary"
	"unsafe"
)

//go:wasmimport mica call
func hostCall(kind uint32, ptr uint32, n uint32) int64

//go:wasmimport mica result
func hostResult(ptr uint32)

//go:wasmimport mica set_output
func setOutput(ptr uint32, n uint32)

var buffers [][]byte

//go:wasmexport mica_alloc
func alloc(n uint32) uint32 {
	b := make([]byte, n)
	buffers = append(buffers, b)
	if n == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

func ptrOf(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

//go:wasmexport mica_execute_operation
func executeOperation(ptr, n uint32) uint32 {
	// Ask the host for the block height (kind 3, empty request) and return it + the input length.
	l := hostCall(3, 0, 0)
	if l < 0 {
		return 1
	}
	resp := make([]byte, l)
	hostResult(ptrOf(resp))
	out := make([]byte, 16)
	copy(out, resp)
	binary.LittleEndian.PutUint64(out[8:], uint64(n))
	setOutput(ptrOf(out), uint32(len(out)))
	return 0
}

func main() {}
