package rpc

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc/pb"
)

// TestLargeAnswersReserveBeforeTheirHandler: which requests count against the answer
// bounds, what they reserve while handled, and that an encoded small answer gives its
// reservation back at once; over the address's bound a request is refused with ErrBusy
// before its handler runs.
func TestLargeAnswersReserveBeforeTheirHandler(t *testing.T) {
	l := DefaultLimits(protocol.NoFeesPolicy())
	a := newAnswers(&l)
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}})
	blob := l.method(pb.ValidatorNode_DownloadBlob_FullMethodName).Answer
	// The default policy: 16 MiB blocks and outcomes (an ownership that large), and 1 MiB.
	smallInfoAnswer := int64(17 << 20)
	largeQuery := codec.Marshal(&protocol.ChainInfoQuery{RequestPendingBundles: true})
	managerQuery := codec.Marshal(&protocol.ChainInfoQuery{RequestManagerValues: true})
	smallQuery := codec.Marshal(&protocol.ChainInfoQuery{})
	for _, c := range []struct {
		name    string
		method  string
		req     any
		reserve int64 // while handled; -1: not counted
	}{
		{"blob download", pb.ValidatorNode_DownloadBlob_FullMethodName, &pb.BlobId{}, int64(blob)},
		{"chain-info query for pending bundles", pb.ValidatorNode_HandleChainInfoQuery_FullMethodName, &pb.ChainInfoQuery{Payload: largeQuery}, MaxMessageSize},
		{"chain-info query for manager values", pb.ValidatorNode_HandleChainInfoQuery_FullMethodName, &pb.ChainInfoQuery{Payload: managerQuery}, MaxMessageSize},
		{"chain-info query for neither", pb.ValidatorNode_HandleChainInfoQuery_FullMethodName, &pb.ChainInfoQuery{Payload: smallQuery}, smallInfoAnswer},
		{"malformed chain-info query", pb.ValidatorNode_HandleChainInfoQuery_FullMethodName, &pb.ChainInfoQuery{Payload: []byte{1}}, smallInfoAnswer},
		{"lite certificate with a query for pending bundles", pb.ValidatorNode_HandleLiteCertificate_FullMethodName, &pb.LiteCertificate{Query: largeQuery}, MaxMessageSize},
		{"lite certificate with a small query", pb.ValidatorNode_HandleLiteCertificate_FullMethodName, &pb.LiteCertificate{Query: smallQuery}, smallInfoAnswer},
		{"lite certificate", pb.ValidatorNode_HandleLiteCertificate_FullMethodName, &pb.LiteCertificate{}, -1},
		{"certificate with a query (heavy: its slot bounds it)", pb.ValidatorNode_HandleCertificate_FullMethodName, &pb.Certificate{Query: []byte{1}}, 0},
		{"certificate", pb.ValidatorNode_HandleCertificate_FullMethodName, &pb.Certificate{}, -1},
		{"proposal (heavy; its chain info counted)", pb.ValidatorNode_HandleBlockProposal_FullMethodName, &pb.BlockProposal{}, 0},
		{"batch of proposals (heavy; its results counted)", pb.ValidatorNode_HandleBlockProposals_FullMethodName, &pb.Batch{}, 0},
		{"batch of certificates (heavy; its results counted)", pb.ValidatorNode_HandleCertificates_FullMethodName, &pb.Batch{}, 0},
		{"blob upload", pb.ValidatorNode_UploadBlob_FullMethodName, &pb.Blob{}, -1},
	} {
		var during int64
		handler := func(context.Context, any) (any, error) { during = a.backlog(); return &pb.ChainInfoResponse{}, nil }
		resp, err := l.checkUnary(ctx, c.req, &grpc.UnaryServerInfo{FullMethod: c.method}, handler, a)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tracked, ok := resp.(*trackedAnswer)
		if ok != (c.reserve >= 0) || c.reserve >= 0 && during != c.reserve {
			t.Errorf("%s: counted %v with %d bytes reserved while handled, want %d (-1: not counted)", c.name, ok, during, c.reserve)
		}
		if ok {
			if _, err := (wireCodec{pool: wireBuffers}).Marshal(tracked); err != nil {
				t.Fatal(err)
			}
		}
		if held := a.backlog(); held != 0 {
			t.Errorf("%s: %d bytes held after a small answer was encoded", c.name, held)
		}
	}
	// An address holding reservations up to its bound is refused; a handler that fails
	// gives its reservation back.
	hold := make(chan struct{})
	started := make(chan struct{}, 64)
	done := make(chan error)
	n := int(l.MaxAnswerBytesPerAddr / MaxMessageSize)
	for range n {
		go func() {
			_, err := l.checkUnary(ctx, &pb.ChainInfoQuery{Payload: largeQuery}, &grpc.UnaryServerInfo{FullMethod: pb.ValidatorNode_HandleChainInfoQuery_FullMethodName},
				func(context.Context, any) (any, error) {
					started <- struct{}{}
					<-hold
					return nil, errors.New("test: failed")
				}, a)
			done <- err
		}()
	}
	for range n {
		<-started
	}
	_, err := l.checkUnary(ctx, &pb.ChainInfoQuery{Payload: largeQuery}, &grpc.UnaryServerInfo{FullMethod: pb.ValidatorNode_HandleChainInfoQuery_FullMethodName},
		func(context.Context, any) (any, error) { t.Error("handler of a refused request ran"); return nil, nil }, a)
	if !errors.Is(fromStatus(err), ErrBusy) {
		t.Errorf("request over the address's bound: %v, want ErrBusy", err)
	}
	close(hold)
	for range n {
		if err := <-done; err == nil || err.Error() != "test: failed" {
			t.Errorf("a failing handler's call: %v, want its error", err)
		}
	}
	if held := a.backlog(); held != 0 {
		t.Errorf("%d bytes held after the handlers failed", held)
	}
}

// sentStream is a chunked request's server stream: it records what the handler sends.
type sentStream struct {
	grpc.ServerStream
	ctx  context.Context
	sent []any
}

func (s *sentStream) Context() context.Context { return s.ctx }
func (s *sentStream) SendMsg(m any) error      { s.sent = append(s.sent, m); return nil }

// TestChunkedAnswersCounted: the answer of a chunked request (a client stream) whose
// method's answer may be large carries its ticket to the codec, which holds its bytes
// until gRPC frees them; over the address's bound the stream is refused before its
// handler runs; other streams are left alone.
func TestChunkedAnswersCounted(t *testing.T) {
	l := DefaultLimits(protocol.NoFeesPolicy())
	a := newAnswers(&l)
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 1}})
	intercept := a.trackStream(&l)
	chunked := &grpc.StreamServerInfo{FullMethod: pb.ValidatorNode_HandleCertificateChunks_FullMethodName, IsClientStream: true}
	ss := &sentStream{ctx: ctx}
	answer := &pb.ChainInfoResponse{}
	if err := intercept(nil, ss, chunked, func(_ any, s grpc.ServerStream) error { return s.SendMsg(answer) }); err != nil {
		t.Fatal(err)
	}
	if len(ss.sent) != 1 {
		t.Fatalf("sent %d messages", len(ss.sent))
	}
	tracked, ok := ss.sent[0].(*trackedAnswer)
	if !ok || tracked.msg != answer {
		t.Fatalf("the chunked request's answer went out as %T, not counted", ss.sent[0])
	}
	if _, err := (wireCodec{pool: wireBuffers}).Marshal(tracked); err != nil {
		t.Fatal(err)
	}
	if held := a.backlog(); held != 0 {
		t.Errorf("%d bytes held after a small answer was encoded", held)
	}
	// A handler that sends nothing gives its ticket back.
	if err := intercept(nil, &sentStream{ctx: ctx}, chunked, func(any, grpc.ServerStream) error { return errors.New("test: failed") }); err == nil {
		t.Fatal("the handler's error was lost")
	}
	if held := a.backlog(); held != 0 {
		t.Errorf("%d bytes held after a failed handler", held)
	}
	// Over the address's bound: refused before the handler.
	hold, err := a.reserve(ctx, l.MaxAnswerBytesPerAddr+1)
	if err != nil {
		t.Fatal(err)
	}
	err = intercept(nil, &sentStream{ctx: ctx}, chunked, func(any, grpc.ServerStream) error { t.Error("handler of a refused stream ran"); return nil })
	if !errors.Is(fromStatus(err), ErrBusy) {
		t.Errorf("a chunked request over the address's bound: %v, want ErrBusy", err)
	}
	// A subscription (server stream) is not counted.
	sub := &grpc.StreamServerInfo{FullMethod: pb.ValidatorNode_Subscribe_FullMethodName, IsServerStream: true}
	ss = &sentStream{ctx: ctx}
	if err := intercept(nil, ss, sub, func(_ any, s grpc.ServerStream) error { return s.SendMsg(answer) }); err != nil || ss.sent[0] != any(answer) {
		t.Errorf("a subscription's message: %v, %T", err, ss.sent)
	}
	hold.release()
}
