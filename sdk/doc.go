// Package sdk is Mica's application SDK for Go: contracts and services written
// against it compile to Wasm with the standard toolchain
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o app.wasm .
//
// and speak the host ABI version 1 (host module "mica": call, result, set_output,
// set_error, log). A module registers its handlers once, from init:
//
//	func init() { sdk.Contract(MyContract{}) } // or sdk.Service(MyService{})
//	func main() {}
//
// The SDK exports mica_alloc and the entry points (mica_instantiate,
// mica_execute_operation, mica_execute_message, mica_finalize, mica_process_streams,
// mica_handle_query),
// dispatches them to the registered handlers, reports errors (and recovered panics)
// with set_error and status 1, and flushes a contract's staged storage writes as one
// write batch when an entry point succeeds.
//
// Event streams (streams.go): a contract emits events with Runtime.Emit, subscribes
// with Runtime.SubscribeToEvents and receives new events in StreamProcessor's
// ProcessStreams, reading them with Runtime.ReadEvent (examples/social).
//
// Data blobs: Runtime.ReadDataBlob returns the bytes of a blob published with `mica
// publish-data-blob` (from a file, or from an external store checked against its
// hash), by the hash that command prints (examples/auction).
//
// Contracts reach the outside world through oracles whose answers every validator
// records in the block: Runtime.HTTPRequest (hosts on the committee's allow-list),
// Runtime.QueryService (an application's service as oracle) and Runtime.AssertBefore
// (a deadline on the validators' clocks). Services may also make HTTP requests, which
// are not recorded. Blocks that use oracles commit only when a quorum of validators
// got the same answers.
//
// Package sdktest runs the same handlers natively against an in-memory chain (with a
// fake HTTP endpoint: Chain.HTTP).
package sdk
