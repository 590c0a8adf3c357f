package rpc

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
)

// TestCertificateQuery: over gRPC, through a proxy over an in-process worker and through
// a proxy over gRPC shards, a confirmed certificate's query is answered with what the
// query itself answers after the block, and the response says it answered it.
func TestCertificateQuery(t *testing.T) {
	for _, shards := range []int{1, 2} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
			n := newTestNet(t, keys, shards)
			ctx := callCtx(t)
			cert, err := n.client(0).Chain(n.chains[0], keys[0], nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1))
			if err != nil {
				t.Fatal(err)
			}
			n.waitHeight(n.chains[0], 1, all(4))
			q := &protocol.ChainInfoQuery{ChainID: n.chains[0], RequestPendingBundles: true, RequestManagerValues: true}
			got, err := n.vals[1].node.HandleCertificateQuery(ctx, cert, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := n.info(1, q)
			if err != nil {
				t.Fatal(err)
			}
			if string(codec.Marshal(got)) != string(codec.Marshal(want)) {
				t.Fatalf("the certificate's answer differs from the query's")
			}
			api := pb.NewValidatorNodeClient(rawConn(t, n.vals[1].addr))
			resp, err := api.HandleCertificate(ctx, &pb.Certificate{Payload: codec.Marshal(cert), Query: codec.Marshal(q)})
			if err != nil || !resp.GetQueryAnswered() {
				t.Fatalf("certificate with a query: answered %v, err %v", resp.GetQueryAnswered(), err)
			}
			resp, err = api.HandleCertificate(ctx, &pb.Certificate{Payload: codec.Marshal(cert)})
			if err != nil || resp.GetQueryAnswered() {
				t.Fatalf("certificate without a query: answered %v, err %v", resp.GetQueryAnswered(), err)
			}
		})
	}
}

// TestAttackCertificateQuery: a certificate's query about another chain, one that would
// sign a timeout vote, a malformed one, or one with a validated certificate is refused
// before the certificate is handled; the validator keeps serving.
func TestAttackCertificateQuery(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 2)
	owner := keys[0].Public().Owner()
	block := prototest.TransferBlock(n.chains[0], 0, nil, owner, base.Account{Chain: n.chains[1]}, 1)
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, n.keys)
	validated := prototest.Certify(protocol.KindValidated, block, nil, base.Round{}, n.keys)
	before := n.snapshot()
	api := pb.NewValidatorNodeClient(rawConn(t, n.vals[0].addr))
	for name, tc := range map[string]struct {
		c *protocol.Certificate
		q []byte
	}{
		"another chain":         {cert, codec.Marshal(&protocol.ChainInfoQuery{ChainID: n.chains[1], RequestPendingBundles: true})},
		"timeout vote":          {cert, codec.Marshal(&protocol.ChainInfoQuery{ChainID: n.chains[0], RequestLeaderTimeout: &protocol.LeaderTimeoutRequest{Height: 0}})},
		"malformed":             {cert, []byte{1, 2, 3}},
		"trailing bytes":        {cert, append(codec.Marshal(&protocol.ChainInfoQuery{ChainID: n.chains[0]}), 0)},
		"validated certificate": {validated, codec.Marshal(&protocol.ChainInfoQuery{ChainID: n.chains[0]})},
	} {
		_, err := api.HandleCertificate(callCtx(t), &pb.Certificate{Payload: codec.Marshal(tc.c), Query: tc.q})
		wantCode(t, name, err, codes.InvalidArgument)
		lite := &protocol.LiteCertificate{Value: tc.c.LiteValue(), Round: tc.c.Round, Signatures: tc.c.Signatures}
		_, err = api.HandleLiteCertificate(callCtx(t), &pb.LiteCertificate{Payload: codec.Marshal(lite), Query: tc.q})
		wantCode(t, name+" (lite)", err, codes.InvalidArgument, codes.NotFound)
	}
	n.assertUnchanged(t, "after refused certificate queries", before)
	transferAndReceive(t, n, keys, 0, 1, all(4))
}

// oldProxy is a validator that predates queries on certificates: it drops the query
// field (as an older decoder does) and counts the chain-info queries it receives.
type oldProxy struct {
	*Proxy
	queries atomic.Int64
}

func (o *oldProxy) HandleCertificate(ctx context.Context, m *pb.Certificate) (*pb.ChainInfoResponse, error) {
	return o.Proxy.HandleCertificate(ctx, &pb.Certificate{Payload: m.GetPayload()})
}

func (o *oldProxy) HandleChainInfoQuery(ctx context.Context, m *pb.ChainInfoQuery) (*pb.ChainInfoResponse, error) {
	o.queries.Add(1)
	return o.Proxy.HandleChainInfoQuery(ctx, m)
}

// TestCertificateQueryOldValidator: a validator that ignores the query is asked it
// separately, so what Node.HandleCertificateQuery returns always answers the query
// (an old validator's plain answer would otherwise read as "no locks, no bundles").
func TestCertificateQueryOldValidator(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	ctx := callCtx(t)
	cert, err := n.client(0).Chain(n.chains[0], keys[0], nil).Transfer(ctx, base.ChainOwner, base.Account{Chain: n.chains[1]}, base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	n.waitHeight(n.chains[0], 1, all(4))
	proxy, err := NewValidatorServer(n.vals[1].workers[0], ProxyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	old := &oldProxy{Proxy: proxy}
	srv := grpc.NewServer()
	pb.RegisterValidatorNodeServer(srv, old)
	lis := listen(t)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	node, err := Dial(ctx, lis.Addr().String(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	q := &protocol.ChainInfoQuery{ChainID: n.chains[0], RequestPendingBundles: true, RequestManagerValues: true}
	got, err := node.HandleCertificateQuery(ctx, cert, q)
	if err != nil {
		t.Fatal(err)
	}
	if old.queries.Load() != 1 {
		t.Fatalf("%d separate queries to a validator that ignores the certificate's query, want 1", old.queries.Load())
	}
	want, err := n.info(1, q)
	if err != nil {
		t.Fatal(err)
	}
	if string(codec.Marshal(got)) != string(codec.Marshal(want)) {
		t.Fatalf("the answer differs from the query's")
	}
}
