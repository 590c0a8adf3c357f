package rpc

import (
	"bytes"
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/micachain/mica/internal/rpc/pb"
)

// The gRPC codec and buffers of every Mica connection and server.
//
// grpc-go's own proto codec marshals each message into a buffer of mem.DefaultBufferPool,
// whose tiers jump from 32 KiB to 1 MiB and which clears a buffer's whole capacity on
// every Get: a 40 KB batch of proposals cost a 1 MiB memclr per validator, and the same
// on receipt (the message materialized from its frames). Most of our messages are an
// envelope around canonical bytes the client already encoded once for every validator.
//
// wireCodec, registered on both ends (grpc.ForceCodecV2, grpc.ForceServerCodecV2) under
// the name "proto" (the wire format is unchanged: any protobuf peer reads it), does:
//   - Envelopes of the hot path (BlockProposal, Certificate, Batch and their answers,
//     ChainInfoResponse and BatchResults) are written by hand: every bytes field of
//     2 KiB or more is referenced as it is (mem.SliceBuffer, never returned to a pool),
//     not copied, and the field headers and smaller fields go in one small buffer (a
//     message without a large field goes in one buffer of wireBuffers). The
//     bytes are the caller's canonical encodings: the contract of every message sent
//     through the codec is that its byte fields are never modified afterwards (gRPC may
//     still be writing them to the socket after the call has returned).
//   - Other messages are marshalled by the protobuf library into a buffer of exactly
//     their size from wireBuffers.
//   - Received messages are decoded by the protobuf library, which copies every bytes
//     field: nothing decoded refers to a pooled buffer. The answers of the hot path
//     (ChainInfoResponse, BatchResults) are decoded by hand, which copies the payloads
//     as the library does, and allocates a batch's results in three slices rather
//     than two messages per result by reflection (unmarshalEnvelope); anything else
//     in them (an unknown field, a malformed one) goes to the library. A message that arrived in
//     several frames is first gathered into a buffer of wireBuffers; such an answer
//     into a new array instead, which its payloads keep rather than copy.
//
// wireBuffers is a tiered pool that does not clear buffers: every user of a buffer
// (this codec, gRPC's frame reader and receive buffer) writes all of [0:len) before
// reading it, and only [0:len) reaches the wire. gRPC returns a buffer to the pool when
// the last reference to it is freed (mem.Buffer's reference count), so a buffer is
// not handed out again while a message in flight refers to it.

// wireCodecName is the name of wireCodec: the content-subtype of the calls ("proto",
// as grpc-go's codec, since the bytes are the same).
const wireCodecName = "proto"

// aliasMin is the size from which a bytes field is sent by reference rather than
// copied into the envelope's header buffer.
const aliasMin = 2048

// wireCodec is the encoding.CodecV2 of Mica's connections and servers (see above).
type wireCodec struct {
	pool mem.BufferPool
}

var _ encoding.CodecV2 = wireCodec{}

// Name implements encoding.CodecV2.
func (wireCodec) Name() string { return wireCodecName }

// Marshal implements encoding.CodecV2.
func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if a, ok := v.(*trackedAnswer); ok {
		out, err := c.Marshal(a.msg)
		if err != nil {
			a.t.release()
			return nil, err
		}
		return a.t.settle(out), nil
	}
	if out, ok := marshalEnvelope(v, c.pool); ok {
		return out, nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("wire codec: cannot marshal %T, not a protobuf message", v)
	}
	size := proto.Size(m)
	// UseCachedSize reuses what proto.Size just computed; the message is not modified
	// concurrently (callers own their requests and responses).
	opts := proto.MarshalOptions{UseCachedSize: true}
	if size < aliasMin {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("wire codec: marshal %T: %w", v, err)
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := c.pool.Get(size)
	b, err := opts.MarshalAppend((*buf)[:0], m)
	if err != nil {
		c.pool.Put(buf)
		return nil, fmt.Errorf("wire codec: marshal %T: %w", v, err)
	}
	if len(b) != size || cap(b) != cap(*buf) {
		// The size changed under us (not our messages): send what was written, and
		// leave the buffer, whose array b may be, to the garbage collector.
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, c.pool)}, nil
}

// Unmarshal implements encoding.CodecV2. The protobuf library copies bytes fields, so
// v refers to none of data's buffers once it returns.
func (c wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("wire codec: cannot unmarshal into %T, not a protobuf message", v)
	}
	var b []byte
	owned := len(data) > 1 && isAnswer(v)
	if owned {
		// An answer in several frames is gathered into a new array that its payloads
		// keep (one copy), rather than into a pooled buffer they are copied out of.
		b = data.Materialize()
	} else {
		buf := data.MaterializeToBuffer(c.pool)
		defer buf.Free()
		b = buf.ReadOnlyData()
	}
	if unmarshalEnvelope(b, v, owned) {
		return nil
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("wire codec: unmarshal %T: %w", v, err)
	}
	return nil
}

// isAnswer reports whether v is one of the answers unmarshalEnvelope reads.
func isAnswer(v any) bool {
	switch v.(type) {
	case *pb.ChainInfoResponse, *pb.BatchResults:
		return true
	}
	return false
}

// marshalEnvelope writes the hot path's envelopes by hand (see the comment at the top).
// It reports false for other messages and for one that carries unknown fields (which
// the protobuf library writes back as they came).
func marshalEnvelope(v any, pool mem.BufferPool) (mem.BufferSlice, bool) {
	var w envelopeWriter
	switch m := v.(type) {
	case *pb.BlockProposal:
		if len(m.ProtoReflect().GetUnknown()) > 0 {
			return nil, false
		}
		w.begin(pool, sizeBytesField(m.Payload), referenced(m.Payload), 1)
		w.bytes(1, m.Payload)
	case *pb.Certificate:
		if len(m.ProtoReflect().GetUnknown()) > 0 {
			return nil, false
		}
		w.begin(pool, sizeBytesField(m.Payload)+sizeBytesField(m.Query), referenced(m.Payload, m.Query), 2)
		w.bytes(1, m.Payload)
		w.bytes(2, m.Query)
	case *pb.ChainInfoResponse:
		if len(m.ProtoReflect().GetUnknown()) > 0 {
			return nil, false
		}
		w.begin(pool, sizeChainInfoResponse(m), referenced(m.Payload), 1)
		w.chainInfoResponse(m)
	case *pb.Batch:
		n, ref := 0, 0
		for _, it := range m.Items {
			if it == nil || len(it.ProtoReflect().GetUnknown()) > 0 {
				return nil, false
			}
			n += sizeMessageField(sizeBatchItem(it))
			ref += referenced(it.Payload, it.Query)
		}
		if len(m.ProtoReflect().GetUnknown()) > 0 {
			return nil, false
		}
		w.begin(pool, n, ref, 2*len(m.Items))
		for _, it := range m.Items {
			w.header(1, protowire.BytesType)
			w.varint(uint64(sizeBatchItem(it)))
			w.bytes(1, it.Payload)
			w.bytes(2, it.Query)
			w.uint(3, it.TimeoutMicros)
		}
	case *pb.BatchResults:
		if len(m.ProtoReflect().GetUnknown()) > 0 {
			return nil, false
		}
		// Results with an error (rare, small) carry it marshalled by the library.
		var errs [][]byte // nil: no error
		encodedErr := func(i int) []byte {
			if errs == nil {
				return nil
			}
			return errs[i]
		}
		n, ref := 0, 0
		for i, r := range m.Results {
			if r == nil || len(r.ProtoReflect().GetUnknown()) > 0 || r.Response != nil && len(r.Response.ProtoReflect().GetUnknown()) > 0 {
				return nil, false
			}
			if r.Error != nil {
				b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r.Error)
				if err != nil {
					return nil, false
				}
				if errs == nil {
					errs = make([][]byte, len(m.Results))
				}
				errs[i] = b
				ref += referenced(b)
			}
			n += sizeMessageField(sizeBatchResult(r, encodedErr(i)))
			if r.Response != nil {
				ref += referenced(r.Response.Payload)
			}
		}
		w.begin(pool, n, ref, 2*len(m.Results))
		for i, r := range m.Results {
			w.header(1, protowire.BytesType)
			w.varint(uint64(sizeBatchResult(r, encodedErr(i))))
			if r.Response != nil {
				w.header(1, protowire.BytesType)
				w.varint(uint64(sizeChainInfoResponse(r.Response)))
				w.chainInfoResponse(r.Response)
			}
			if r.Error != nil {
				w.header(2, protowire.BytesType)
				w.varint(uint64(len(errs[i])))
				w.raw(errs[i])
			}
		}
	default:
		return nil, false
	}
	return w.finish(), true
}

// unmarshalEnvelope decodes the hot path's answers by hand into v, which it resets. It
// reports false, leaving v to the protobuf library, for other messages and for data
// that holds anything but the fields this version writes, each once per message, with
// their wire types: unknown fields (which the library keeps), a repeated message field
// (which the library merges), malformed data (which the library refuses). With owned
// (b is a new array nobody else holds), the payloads refer to b's bytes rather than
// copies: one batch's answers then share one array, kept as long as any of them is.
func unmarshalEnvelope(b []byte, v any, owned bool) bool {
	switch m := v.(type) {
	case *pb.ChainInfoResponse:
		payload, answered, ok := readChainInfoResponse(b, owned)
		if !ok {
			return false
		}
		m.Reset()
		m.Payload, m.QueryAnswered = payload, answered
		return true
	case *pb.BatchResults:
		return readBatchResults(b, m, owned)
	}
	return false
}

// readChainInfoResponse reads a ChainInfoResponse's fields, the payload copied unless
// owned (see unmarshalEnvelope).
func readChainInfoResponse(b []byte, owned bool) (payload []byte, answered, ok bool) {
	var raw []byte
	seen := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num < 1 || num > 2 || seen&(1<<num) != 0 {
			return nil, false, false
		}
		seen |= 1 << num
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			raw, n = protowire.ConsumeBytes(b)
		case num == 2 && typ == protowire.VarintType:
			var x uint64
			x, n = protowire.ConsumeVarint(b)
			answered = x != 0
		default:
			return nil, false, false
		}
		if n < 0 {
			return nil, false, false
		}
		b = b[n:]
	}
	switch {
	case raw == nil:
	case owned:
		payload = raw[:len(raw):len(raw)]
	default:
		payload = bytes.Clone(raw)
	}
	return payload, answered, true
}

// readBatchResults reads a BatchResults into m (see unmarshalEnvelope). An item's
// error, rare, is decoded by the library.
func readBatchResults(b []byte, m *pb.BatchResults, owned bool) bool {
	count := 0
	for rest := b; len(rest) > 0; count++ {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			return false
		}
		_, l := protowire.ConsumeBytes(rest[n:])
		if l < 0 {
			return false
		}
		rest = rest[n+l:]
	}
	results := make([]*pb.BatchResult, count)
	items := make([]pb.BatchResult, count)
	responses := make([]pb.ChainInfoResponse, count)
	for i := range results {
		_, _, n := protowire.ConsumeTag(b)
		item, l := protowire.ConsumeBytes(b[n:])
		b = b[n+l:]
		r := &items[i]
		seen := 0
		for len(item) > 0 {
			num, typ, n := protowire.ConsumeTag(item)
			if n < 0 || num < 1 || num > 2 || typ != protowire.BytesType || seen&(1<<num) != 0 {
				return false
			}
			seen |= 1 << num
			field, l := protowire.ConsumeBytes(item[n:])
			if l < 0 {
				return false
			}
			item = item[n+l:]
			if num == 1 {
				payload, answered, ok := readChainInfoResponse(field, owned)
				if !ok {
					return false
				}
				r.Response = &responses[i]
				r.Response.Payload, r.Response.QueryAnswered = payload, answered
				continue
			}
			r.Error = new(pb.Error)
			if err := proto.Unmarshal(field, r.Error); err != nil || len(r.Error.ProtoReflect().GetUnknown()) > 0 {
				return false
			}
		}
		results[i] = r
	}
	m.Reset()
	if count > 0 {
		m.Results = results
	}
	return true
}

// Sizes of fields and messages as protobuf writes them (proto3: empty bytes, zero
// integers and false are left out; a present message field is written even if empty).

func sizeBytesField(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	return 1 + protowire.SizeBytes(len(b))
}

func sizeUintField(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func sizeMessageField(n int) int { return 1 + protowire.SizeBytes(n) }

func sizeChainInfoResponse(m *pb.ChainInfoResponse) int {
	n := sizeBytesField(m.Payload)
	if m.QueryAnswered {
		n += 2
	}
	return n
}

func sizeBatchItem(it *pb.BatchItem) int {
	return sizeBytesField(it.Payload) + sizeBytesField(it.Query) + sizeUintField(it.TimeoutMicros)
}

func sizeBatchResult(r *pb.BatchResult, encodedErr []byte) int {
	n := 0
	if r.Response != nil {
		n += sizeMessageField(sizeChainInfoResponse(r.Response))
	}
	if r.Error != nil {
		n += sizeMessageField(len(encodedErr))
	}
	return n
}

// envelopeWriter builds a message as a mem.BufferSlice: field headers and small fields
// in one buffer (hdr), large bytes fields referenced in between.
type envelopeWriter struct {
	out mem.BufferSlice
	hdr []byte // the header buffer; hdr[flushed:] is not in out yet
	// flushed is the part of hdr already in out. Appending to hdr never writes below
	// len(hdr), so the slices in out stay as they were.
	flushed int
	// pooled, if not nil, is the buffer of pool that hdr was taken from: the message
	// has no large field and is all in it.
	pooled *[]byte
	pool   mem.BufferPool
}

// begin sizes the writer for a message of n bytes, of which referenced are in large
// fields, at most refs of them. A message without large fields is written into one
// buffer of pool (a single allocation for small ones).
func (w *envelopeWriter) begin(pool mem.BufferPool, n, referenced, refs int) {
	if referenced == 0 {
		w.out = make(mem.BufferSlice, 0, 1)
		if !mem.IsBelowBufferPoolingThreshold(n) {
			w.pool, w.pooled = pool, pool.Get(n)
			w.hdr = (*w.pooled)[:0:n]
			return
		}
		w.hdr = make([]byte, 0, n)
		return
	}
	w.out = make(mem.BufferSlice, 0, 2*refs+1)
	w.hdr = make([]byte, 0, n-referenced)
}

// referenced returns how many of the bytes of fields bs are sent by reference.
func referenced(bs ...[]byte) int {
	n := 0
	for _, b := range bs {
		if len(b) >= aliasMin {
			n += len(b)
		}
	}
	return n
}

func (w *envelopeWriter) header(num protowire.Number, typ protowire.Type) {
	w.hdr = protowire.AppendTag(w.hdr, num, typ)
}

func (w *envelopeWriter) varint(v uint64) { w.hdr = protowire.AppendVarint(w.hdr, v) }

// raw appends b to the message, copied if small, by reference otherwise.
func (w *envelopeWriter) raw(b []byte) {
	if len(b) < aliasMin {
		w.hdr = append(w.hdr, b...)
		return
	}
	w.flush()
	w.out = append(w.out, mem.SliceBuffer(b))
}

// bytes writes a bytes field (nothing if b is empty).
func (w *envelopeWriter) bytes(num protowire.Number, b []byte) {
	if len(b) == 0 {
		return
	}
	w.header(num, protowire.BytesType)
	w.varint(uint64(len(b)))
	w.raw(b)
}

// uint writes a uint64 field (nothing if v is 0).
func (w *envelopeWriter) uint(num protowire.Number, v uint64) {
	if v == 0 {
		return
	}
	w.header(num, protowire.VarintType)
	w.varint(v)
}

func (w *envelopeWriter) chainInfoResponse(m *pb.ChainInfoResponse) {
	w.bytes(1, m.Payload)
	if m.QueryAnswered {
		w.header(2, protowire.VarintType)
		w.varint(1)
	}
}

func (w *envelopeWriter) flush() {
	if len(w.hdr) > w.flushed {
		w.out = append(w.out, mem.SliceBuffer(w.hdr[w.flushed:len(w.hdr):len(w.hdr)]))
		w.flushed = len(w.hdr)
	}
}

func (w *envelopeWriter) finish() mem.BufferSlice {
	if w.pooled != nil {
		// hdr was the pooled buffer cut to the message's size: if the message filled it
		// exactly, it is still the buffer's array, which the pool gets back with its
		// whole capacity. (Otherwise a size was wrong: TestEnvelopeMatchesProto; the
		// bytes written go, and the buffer is left to the garbage collector.)
		if len(w.hdr) != cap(w.hdr) || len(w.hdr) == 0 || &w.hdr[0] != &(*w.pooled)[0] {
			return mem.BufferSlice{mem.SliceBuffer(w.hdr)}
		}
		*w.pooled = (*w.pooled)[:len(w.hdr)]
		return mem.BufferSlice{mem.NewBuffer(w.pooled, w.pool)}
	}
	w.flush()
	return w.out
}

// Tiers of wireBuffers: powers of two from 2 KiB to 4 MiB. Smaller and larger buffers
// are allocated for their use and left to the garbage collector (gRPC never gives back
// a buffer of 1 KiB or less: mem.NewBuffer does not pool them).
const (
	minBufferTier = 11
	maxBufferTier = 22
)

// bufferPool is a mem.BufferPool that does not clear its buffers (see the comment at
// the top): Get returns a buffer whose bytes are whatever its previous user left.
// Safe for concurrent use.
type bufferPool struct {
	tiers [maxBufferTier - minBufferTier + 1]sync.Pool
}

var _ mem.BufferPool = (*bufferPool)(nil)

// wireBuffers is the pool of every connection and server of the process (as gRPC's
// default pool is): buffers freed by one are reused by the others.
var wireBuffers = &bufferPool{}

// Get implements mem.BufferPool: a buffer of length n, not cleared.
func (p *bufferPool) Get(n int) *[]byte {
	if mem.IsBelowBufferPoolingThreshold(n) {
		b := make([]byte, n)
		return &b
	}
	tier := max(bits.Len(uint(n-1)), minBufferTier)
	if tier > maxBufferTier {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.tiers[tier-minBufferTier].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<tier)
	return &b
}

// Put implements mem.BufferPool. A buffer goes to the largest tier its capacity fills;
// one smaller than the smallest tier or larger than the largest is dropped.
func (p *bufferPool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minBufferTier || c > 1<<maxBufferTier {
		return
	}
	tier := bits.Len(uint(c)) - 1
	*b = (*b)[:0]
	p.tiers[tier-minBufferTier].Put(b)
}

// codecDialOptions are the dial options that make a connection use wireCodec and pool.
func codecDialOptions(pool mem.BufferPool) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(wireCodec{pool: pool})),
		experimental.WithBufferPool(pool),
	}
}

// codecServerOptions are the server options that make a server use wireCodec and pool.
func codecServerOptions(pool mem.BufferPool) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(wireCodec{pool: pool}),
		experimental.BufferPool(pool),
	}
}
