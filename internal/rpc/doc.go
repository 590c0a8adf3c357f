// Package rpc is Mica's network layer: the gRPC services of a validator, the wire
// envelopes, the server adapters over internal/worker and the client adapter that
// implements client.ValidatorNode.
//
// # Wire format
//
// Messages (proto/mica.proto, package mica.rpc.v1, generated into pb/) carry the
// canonical bytes of protocol objects in bytes fields, never protobuf re-encodings of
// them, so that hashes and signatures never depend on protobuf. Every payload is decoded
// strictly (codec.Unmarshal) before it reaches a worker; a payload that does not decode
// is refused with a base.ErrInvalid error. A refusal travels as a gRPC status whose
// details hold one pb.Error: a class (invalid, not found, corrupt, retryable), the kind
// of the sentinel or typed error (kinds.go has the one table of kinds), the message, and
// the data typed errors need. The caller rebuilds a *RemoteError that satisfies
// errors.Is and errors.As for the same sentinels and typed errors as an in-process call.
// A failure without details (the validator is unreachable, a deadline passed) is of
// class base.ErrRetryable.
//
// # Topology
//
// A validator is a proxy (the public ValidatorNode service: NewProxy, or
// NewValidatorServer for a proxy and one in-process worker) and N shards, each a worker
// behind the internal ValidatorWorker service (NewShardServer), all over one shared
// database. The proxy routes every chain-specific request to ShardOf(chain, N), serves
// blob and certificate downloads from the storage directly, and fans the shards'
// notifications out to subscribers through a Notifier (bounded per-subscriber buffers: a
// slow subscriber loses notifications and is told how many, and never blocks a worker).
// Router implements worker.Router: it sends cross-chain requests to the shard that owns
// the target chain, in process or over gRPC (ShardClient).
//
// # Client
//
// Dial returns a *Node: one gRPC connection reused by every call, a per-call deadline,
// 64 MiB messages both ways, an optional check that the validator belongs to the
// expected network (genesis hash), and Subscribe for notifications. A request over the
// validator's 1 MiB unary limit (a block with blobs, a large blob) goes over a chunked
// method (chunks.go).
//
// Panics in handlers are recovered by the server's interceptor, logged at error level,
// and answered as errors.
//
// # Transport
//
// Servers and connections use static HTTP/2 flow-control windows (a server grants
// 256 KiB, a connection 4 MiB): gRPC's dynamic windows cost two pings and their
// acknowledgements per call. Servers run calls on reused stream workers, and one unary
// interceptor times, recovers and checks each call (server.go).
package rpc

//go:generate sh gen.sh
