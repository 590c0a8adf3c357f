// Command counter is a test application written directly against Mica's ABI (no SDK):
// the instantiation argument is the initial value as a JSON number, an operation
// {"increment": N} adds N and returns the new value, and the service answers "{ value }"
// with {"data":{"value":N}}. The value is stored under key "value" as a u64 (LE).
package main

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unsafe"
)

//go:wasmimport mica call
func hostCall(kind uint32, ptr uint32, n uint32) int64

//go:wasmimport mica result
func hostResult(ptr uint32)

//go:wasmimport mica set_output
func setOutput(ptr uint32, n uint32)

//go:wasmimport mica set_error
func setError(ptr uint32, n uint32)

var keep [][]byte

func ptr(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

//go:wasmexport mica_alloc
func alloc(n uint32) uint32 {
	b := make([]byte, n+1)
	keep = append(keep, b)
	return ptr(b)
}

func input(p, n uint32) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(p))), n) }

func fail(msg string) uint32 {
	b := []byte(msg)
	setError(ptr(b), uint32(len(b)))
	return 1
}

func uleb(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }

func call(kind uint32, req []byte) ([]byte, bool) {
	n := hostCall(kind, ptr(req), uint32(len(req)))
	if n < 0 {
		return nil, false
	}
	resp := make([]byte, n)
	if n > 0 {
		hostResult(ptr(resp))
	}
	return resp, true
}

var key = []byte("value")

func read() (uint64, bool) {
	req := append(uleb(nil, uint64(len(key))), key...)
	resp, ok := call(6, req)
	if !ok || len(resp) == 0 {
		return 0, false
	}
	if resp[0] == 0 {
		return 0, true // absent
	}
	l, k := binary.Uvarint(resp[1:])
	v := resp[1+k:]
	if l != 8 || len(v) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(v), true
}

func write(v uint64) bool {
	req := uleb(nil, 1)
	req = append(req, 0)
	req = append(uleb(req, uint64(len(key))), key...)
	var val [8]byte
	binary.LittleEndian.PutUint64(val[:], v)
	req = append(uleb(req, 8), val[:]...)
	_, ok := call(9, req)
	return ok
}

func output(s string) {
	b := []byte(s)
	setOutput(ptr(b), uint32(len(b)))
}

//go:wasmexport mica_instantiate
func instantiate(p, n uint32) uint32 {
	v, err := strconv.ParseUint(strings.TrimSpace(string(input(p, n))), 10, 64)
	if err != nil {
		return fail("the argument must be a JSON number: " + err.Error())
	}
	if !write(v) {
		return fail("write failed")
	}
	return 0
}

//go:wasmexport mica_execute_operation
func executeOperation(p, n uint32) uint32 {
	op := strings.TrimSpace(string(input(p, n)))
	const prefix = `{"increment":`
	if !strings.HasPrefix(op, prefix) || !strings.HasSuffix(op, "}") {
		return fail(`want {"increment": N}`)
	}
	inc, err := strconv.ParseUint(strings.TrimSpace(op[len(prefix):len(op)-1]), 10, 64)
	if err != nil {
		return fail("bad increment: " + err.Error())
	}
	v, ok := read()
	if !ok {
		return fail("read failed")
	}
	if !write(v + inc) {
		return fail("write failed")
	}
	output(strconv.FormatUint(v+inc, 10))
	return 0
}

//go:wasmexport mica_execute_message
func executeMessage(p, n uint32) uint32 { return 0 }

//go:wasmexport mica_handle_query
func handleQuery(p, n uint32) uint32 {
	if q := strings.Join(strings.Fields(string(input(p, n))), " "); q != "{ value }" {
		return fail("unsupported query: " + q)
	}
	v, ok := read()
	if !ok {
		return fail("read failed")
	}
	output(`{"data":{"value":` + strconv.FormatUint(v, 10) + `}}`)
	return 0
}

func main() {}
