package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/rpc/pb"
)

// Chunked requests.
//
// A public server refuses every message over UnaryLimit from its length prefix (see the
// budget comment in limits.go). A request that may legitimately be larger (a proposal
// or certificate carrying blobs, a blob upload) goes over a chunked method instead
// (HandleBlockProposalChunks, HandleCertificateChunks, UploadBlobChunks): a stream of
// pb.Chunk messages, each under UnaryLimit. The first declares the payload's total size,
// which the server checks against the method's budget before it receives more; the
// server appends the chunks' data as it arrives, refusing the stream as soon as it
// breaks a rule, and then runs the same handler as the unary method. The stream holds a
// heavy in-flight slot from its headers to its end, and its method's ReceiveTimeout
// (Method) bounds how long its chunks may take. Node uses a chunked method only for a
// request over UnaryLimit, so the hot path (small proposals and certificates) stays
// unary.

const (
	// maxChunkData is the most data a chunk carries, and the size of the client's
	// chunks: with a query (at most smallRequestBudget) and the framing, a chunk stays
	// under UnaryLimit.
	maxChunkData = UnaryLimit - 2*smallRequestBudget
	// minChunkData is the least data a chunk but the last carries: it bounds a
	// request's chunks to total/minChunkData + 1 messages.
	minChunkData = 64 << 10
	// firstChunkBuffer bounds the buffer allocated from a declared total: the buffer
	// grows (doubling, up to the total) as data arrives, so a stream holds about what
	// it sent rather than what it declared.
	firstChunkBuffer = 4 << 20
)

// ErrChunksUnsupported: the validator does not know the chunked methods (it predates
// them), so it cannot take a request over the unary limit. Class base.ErrInvalid, like
// ErrWrongNetwork: sending again does not help, and a client that gets it from at
// least f+1 of the committee's weight stops with it rather than waiting for a round
// to time out; fewer old validators leave the quorum to the others.
var ErrChunksUnsupported = fmt.Errorf("%w: validator does not accept large requests in chunks", base.ErrInvalid)

// assembler reassembles a chunked request's payload under a byte budget. add returns
// errors of class base.ErrInvalid; one over the budget is also marked for
// codes.ResourceExhausted (overBudget).
type assembler struct {
	budget  int
	queries bool // the method's first chunk may carry a query
	minData int  // minChunkData (smaller in fuzzing)
	maxData int  // maxChunkData (smaller in fuzzing)
	total   int  // declared by the first chunk; 0 before it
	payload []byte
	query   []byte
	chunks  int
}

func newAssembler(budget int, queries bool) *assembler {
	return &assembler{budget: budget, queries: queries, minData: minChunkData, maxData: maxChunkData}
}

// errOverBudget marks a chunked request refused for its size.
var errOverBudget = errors.New("over budget")

// add appends c; done reports that the payload is complete (no chunk may follow).
func (a *assembler) add(c *pb.Chunk) (done bool, err error) {
	data := c.GetData()
	first := a.chunks == 0
	a.chunks++
	switch {
	case first && c.GetTotal() == 0:
		return false, base.Invalidf("chunk 0 declares no total size")
	case first && c.GetTotal() > uint64(a.budget):
		return false, fmt.Errorf("%w: %w", errOverBudget, base.Invalidf("request of %d bytes exceeds the limit of %d bytes", c.GetTotal(), a.budget))
	case !first && c.GetTotal() != 0:
		return false, base.Invalidf("chunk %d declares a total size; only the first may", a.chunks-1)
	case !first && len(a.payload) == a.total:
		return false, base.Invalidf("chunk %d after the declared %d bytes", a.chunks-1, a.total)
	case len(c.GetQuery()) > 0 && (!first || !a.queries):
		return false, base.Invalidf("chunk %d carries a query; only the first chunk of a certificate may", a.chunks-1)
	case len(c.GetQuery()) > smallRequestBudget:
		return false, base.Invalidf("query of %d bytes exceeds the limit of %d bytes", len(c.GetQuery()), smallRequestBudget)
	case len(data) > a.maxData:
		return false, base.Invalidf("chunk %d of %d bytes exceeds the chunk limit of %d bytes", a.chunks-1, len(data), a.maxData)
	}
	if first {
		a.total = int(c.GetTotal())
		a.payload = make([]byte, 0, min(a.total, firstChunkBuffer))
		a.query = c.GetQuery()
	}
	remaining := a.total - len(a.payload)
	switch {
	case len(data) > remaining:
		return false, base.Invalidf("chunk %d carries %d bytes, %d remain of the declared %d", a.chunks-1, len(data), remaining, a.total)
	case len(data) < remaining && len(data) < a.minData:
		return false, base.Invalidf("chunk %d of %d bytes is under the chunk minimum of %d bytes and not the last", a.chunks-1, len(data), a.minData)
	}
	if need := len(a.payload) + len(data); need > cap(a.payload) {
		grown := make([]byte, len(a.payload), min(a.total, max(need, 2*cap(a.payload))))
		copy(grown, a.payload)
		a.payload = grown
	}
	a.payload = append(a.payload, data...)
	return len(a.payload) == a.total, nil
}

// chunkStream is the server's side of a chunked method.
type chunkStream interface {
	Context() context.Context
	Recv() (*pb.Chunk, error)
}

// receiveChunks reads a chunked request off s under the method's budget (the one the
// server's limits give the stream's context; MaxMessageSize without limits). It
// returns the payload and the first chunk's query once the client closed its side
// after the last chunk; the receive deadline of the stream's in-flight slot stops
// then. Errors are gRPC statuses.
func receiveChunks(s chunkStream, queries bool) (payload, query []byte, err error) {
	ctx := s.Context()
	a := newAssembler(streamBudget(ctx), queries)
	for done := false; !done; {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil, nil, toStatus(base.Invalidf("chunked request ended after %d of %d bytes", len(a.payload), a.total))
		}
		if err != nil {
			return nil, nil, err
		}
		if done, err = a.add(c); err != nil {
			if errors.Is(err, errOverBudget) {
				return nil, nil, refusal(codes.ResourceExhausted, err)
			}
			return nil, nil, toStatus(err)
		}
	}
	// The receive deadline runs until the client has closed its side: a client that
	// sends every chunk and never closes holds its slot no longer than one that stops
	// halfway.
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, nil, err
		}
		return nil, nil, toStatus(base.Invalidf("chunk %d after the declared %d bytes", a.chunks, a.total))
	}
	received(ctx)
	return a.payload, a.query, nil
}

// serveChunks receives a chunked request on s, makes the unary method's request of it
// (req) and answers with the unary method's handler (handle).
func serveChunks[Req, Resp any](s grpc.ClientStreamingServer[pb.Chunk, Resp], queries bool, req func(payload, query []byte) *Req, handle func(context.Context, *Req) (*Resp, error)) error {
	payload, query, err := receiveChunks(s, queries)
	if err != nil {
		return err
	}
	resp, err := handle(s.Context(), req(payload, query))
	if err != nil {
		return err
	}
	return s.SendAndClose(resp)
}

// HandleBlockProposalChunks implements pb.ValidatorNodeServer: HandleBlockProposal for
// a proposal over the unary limit.
func (p *Proxy) HandleBlockProposalChunks(s grpc.ClientStreamingServer[pb.Chunk, pb.ChainInfoResponse]) error {
	return serveChunks(s, false, func(payload, _ []byte) *pb.BlockProposal { return &pb.BlockProposal{Payload: payload} }, p.HandleBlockProposal)
}

// HandleCertificateChunks implements pb.ValidatorNodeServer: HandleCertificate for a
// certificate over the unary limit.
func (p *Proxy) HandleCertificateChunks(s grpc.ClientStreamingServer[pb.Chunk, pb.ChainInfoResponse]) error {
	return serveChunks(s, true, func(payload, query []byte) *pb.Certificate { return &pb.Certificate{Payload: payload, Query: query} }, p.HandleCertificate)
}

// UploadBlobChunks implements pb.ValidatorNodeServer: UploadBlob for a blob over the
// unary limit.
func (p *Proxy) UploadBlobChunks(s grpc.ClientStreamingServer[pb.Chunk, pb.Empty]) error {
	return serveChunks(s, false, func(payload, _ []byte) *pb.Blob { return &pb.Blob{Payload: payload} }, p.UploadBlob)
}

// splitChunks cuts payload into the chunks of a request: maxChunkData bytes each but
// the last, the first declaring the total and carrying query.
func splitChunks(payload, query []byte) []*pb.Chunk {
	out := make([]*pb.Chunk, 0, len(payload)/maxChunkData+1)
	for off := 0; off < len(payload) || off == 0; off += maxChunkData {
		out = append(out, &pb.Chunk{Data: payload[off:min(off+maxChunkData, len(payload))]})
		if len(payload) == 0 {
			break
		}
	}
	out[0].Total = uint64(len(payload))
	out[0].Query = query
	return out
}

// overUnaryLimit reports whether a request message of one or two bytes fields of these
// lengths may be too large for a unary call to a validator: the fields' lengths plus
// the most their tags and length prefixes take (1 + 10 bytes each), without encoding
// anything on the hot path.
func overUnaryLimit(payload, query []byte) bool {
	return len(payload)+len(query)+2*11 > UnaryLimit
}

// chunked makes a chunked call: it sends payload (and query, for a certificate) over
// the stream open opens, with the connection's deadline as unary has, and returns the
// answer. A call refused as busy is made again as unary does; a validator without the
// chunked method fails with ErrChunksUnsupported.
func chunked[Resp any](ctx context.Context, c *conn, method string, open func(context.Context, ...grpc.CallOption) (grpc.ClientStreamingClient[pb.Chunk, Resp], error), payload, query []byte) (*Resp, error) {
	if d := c.timeout + client.ExtraCallTime(ctx); !deadlineWithin(ctx, d) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	chunks := splitChunks(payload, query)
	pause := busyPause
	for {
		resp, err := sendChunked(ctx, open, chunks)
		if err == nil {
			return resp, nil
		}
		if status.Code(err) == codes.Unimplemented {
			return nil, fmt.Errorf("%w: %s has no %s (it runs an older version); it cannot take this request of %d bytes, over the unary limit of %d bytes",
				ErrChunksUnsupported, c.addr, method, len(payload), UnaryLimit)
		}
		busy := status.Code(err) == codes.ResourceExhausted
		err = fromStatus(err)
		if !busy || !errors.Is(err, ErrBusy) {
			return nil, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		pause = min(2*pause, maxBusyPause)
	}
}

// sendChunked sends chunks on a new stream and returns the server's answer (a status
// error as gRPC returns it).
func sendChunked[Resp any](ctx context.Context, open func(context.Context, ...grpc.CallOption) (grpc.ClientStreamingClient[pb.Chunk, Resp], error), chunks []*pb.Chunk) (*Resp, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := open(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range chunks {
		// A failed send means the server ended the stream: CloseAndRecv returns why.
		if s.Send(c) != nil {
			break
		}
	}
	return s.CloseAndRecv()
}
