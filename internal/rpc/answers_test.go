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
		{"proposal", pb.ValidatorNode_HandleBlockProposal_FullMethodName, &pb.BlockProposal{}, -1},
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
