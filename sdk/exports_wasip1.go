//go:build wasip1

package sdk

import (
	"runtime"
	"unsafe"

	"github.com/micachain/mica/sdk/internal/abi"
)

//go:wasmimport mica call
func hostCall(kind uint32, ptr uint32, n uint32) int64

//go:wasmimport mica result
func hostResult(ptr uint32)

//go:wasmimport mica set_output
func hostSetOutput(ptr uint32, n uint32)

//go:wasmimport mica set_error
func hostSetError(ptr uint32, n uint32)

//go:wasmimport mica log
func hostLog(level int32, ptr uint32, n uint32)

func ptrOf(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

// wasmHost is the real host: the "mica" imports.
type wasmHost struct{}

func (wasmHost) Call(kind uint32, req []byte) ([]byte, int64) {
	n := hostCall(kind, ptrOf(req), uint32(len(req)))
	runtime.KeepAlive(req)
	if n < 0 {
		return nil, n
	}
	resp := make([]byte, n)
	hostResult(ptrOf(resp))
	return resp, n
}

func (wasmHost) SetOutput(b []byte) {
	hostSetOutput(ptrOf(b), uint32(len(b)))
	runtime.KeepAlive(b)
}

func (wasmHost) SetError(msg string) {
	b := []byte(msg)
	hostSetError(ptrOf(b), uint32(len(b)))
	runtime.KeepAlive(b)
}

func (wasmHost) Log(level int32, msg string) {
	b := []byte(msg)
	hostLog(level, ptrOf(b), uint32(len(b)))
	runtime.KeepAlive(b)
}

// input is the buffer the host fills before an entry point; kept reachable here.
var input []byte

// inputBuf takes the first small input of an instance instead of an allocation: runs
// start from the module's snapshot, where it is unused, and their one input is most
// often an operation of a few bytes. Once handed out it stays the caller's (an
// application may keep its input), so a second input in the same instance is
// allocated.
var (
	inputBuf     [256]byte
	inputBufUsed bool
)

//go:wasmexport mica_alloc
func micaAlloc(n uint32) uint32 {
	if !inputBufUsed && n > 0 && int(n) <= len(inputBuf) {
		inputBufUsed = true
		input = inputBuf[:n:n]
		return ptrOf(input)
	}
	input = make([]byte, n)
	return ptrOf(input)
}

func export(entry string, ptr, n uint32) uint32 {
	// The host wrote the input into the buffer mica_alloc returned.
	if n > 0 && (ptr != ptrOf(input) || int(n) > len(input)) {
		wasmHost{}.SetError("sdk: entry point input is not the mica_alloc buffer")
		return 1
	}
	in := input[:n:n]
	status := dispatch(wasmHost{}, registered(entry), entry, in)
	input = nil
	return status
}

//go:wasmexport mica_instantiate
func micaInstantiate(ptr, n uint32) uint32 { return export(abi.EntryInstantiate, ptr, n) }

//go:wasmexport mica_execute_operation
func micaExecuteOperation(ptr, n uint32) uint32 {
	return export(abi.EntryExecuteOperation, ptr, n)
}

//go:wasmexport mica_execute_message
func micaExecuteMessage(ptr, n uint32) uint32 { return export(abi.EntryExecuteMessage, ptr, n) }

//go:wasmexport mica_finalize
func micaFinalize(ptr, n uint32) uint32 { return export(abi.EntryFinalize, ptr, n) }

//go:wasmexport mica_handle_query
func micaHandleQuery(ptr, n uint32) uint32 { return export(abi.EntryHandleQuery, ptr, n) }

//go:wasmexport mica_process_streams
func micaProcessStreams(ptr, n uint32) uint32 { return export(abi.EntryProcessStreams, ptr, n) }
