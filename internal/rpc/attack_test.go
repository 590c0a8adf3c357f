package rpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
)

// Hostile input against real validator servers on loopback (the harness's proxies and
// shard servers). Each attack gets a clear error code, changes no state (balances,
// next heights and inboxes are checked), and the validator keeps serving: a normal
// transfer commits afterwards.

// chainState is what an attack must not change.
type chainState struct {
	next    base.BlockHeight
	balance base.Amount
	pending int
}

func (n *testNet) state(i int, id base.ChainID) chainState {
	n.tb.Helper()
	info, err := n.info(i, &protocol.ChainInfoQuery{ChainID: id, RequestPendingBundles: true})
	if err != nil {
		n.tb.Fatalf("validator %d: query %s: %v", i, id.Short(), err)
	}
	return chainState{next: info.NextBlockHeight, balance: info.ChainBalance, pending: len(info.RequestedPendingBundles)}
}

// snapshot records every chain's state at every validator.
func (n *testNet) snapshot() [][]chainState {
	out := make([][]chainState, len(n.vals))
	for i := range n.vals {
		for _, id := range n.chains {
			out[i] = append(out[i], n.state(i, id))
		}
	}
	return out
}

func (n *testNet) assertUnchanged(t *testing.T, what string, before [][]chainState) {
	t.Helper()
	for i := range n.vals {
		for j, id := range n.chains {
			if got := n.state(i, id); got != before[i][j] {
				t.Errorf("%s: validator %d, chain %s: state %+v, was %+v", what, i, id.Short(), got, before[i][j])
			}
		}
	}
}

// rawConn is a plaintext gRPC connection to addr for hand-made requests.
func rawConn(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(256 << 20))}, opts...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func wantCode(t *testing.T, what string, err error, want ...codes.Code) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted, want %v", what, want)
		return
	}
	got := status.Code(err)
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Errorf("%s: %v (code %s), want %v", what, err, got, want)
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// forgedBundle is a cross-chain update crediting `to` with tokens no block sent.
func forgedBundle(from, to base.ChainID) *protocol.CrossChainRequest {
	return &protocol.CrossChainRequest{Sender: from, Recipient: to, Bundles: []protocol.EpochBundle{{Bundle: protocol.MessageBundle{
		Height: 0, Timestamp: 1, CertificateHash: base.Hash{1},
		Messages: []protocol.PostedMessage{{Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Target: base.ChainOwner, Amount: base.Tokens(1_000_000)}}}},
	}}}}
}

// TestAttackShardPortWithoutCertificate: a stranger reaching a shard's internal port
// tries to inject a cross-chain bundle (credits from nowhere) and a confirmation,
// over plaintext, over TLS without a client certificate, and over TLS with the
// certificate of another validator's internal CA. Every attempt fails (handshake or
// transport failure), nothing reaches storage, and the validator keeps serving.
func TestAttackShardPortWithoutCertificate(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 2)
	before := n.snapshot()
	victim := n.vals[0]
	// The other validator's PKI: a valid certificate, of the wrong CA.
	dir := t.TempDir()
	other := InternalTLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "c.pem"), Key: filepath.Join(dir, "k.pem")}
	if err := GenerateInternalTLS(other, rand.Reader, time.Now()); err != nil {
		t.Fatal(err)
	}
	attackers := map[string]credentials.TransportCredentials{
		"plaintext":                 insecure.NewCredentials(),
		"TLS without a certificate": credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}), //nolint:gosec // the attacker does not care who it talks to
		"another validator's CA":    credentials.NewTLS(otherTLSConfig(t, other)),
	}
	for name, creds := range attackers {
		for s, srv := range victim.shards {
			cc := rawConn(t, srv.Addr().String(), grpc.WithTransportCredentials(creds))
			api := pb.NewValidatorWorkerClient(cc)
			for _, req := range []*protocol.CrossChainRequest{
				forgedBundle(n.chains[0], n.chains[1]),
				{Confirm: true, Sender: n.chains[0], Recipient: n.chains[1], LatestHeight: 100},
			} {
				_, err := api.HandleCrossChainRequest(callCtx(t), &pb.CrossChainRequest{Payload: codec.Marshal(req)})
				wantCode(t, fmt.Sprintf("%s to shard %d", name, s), err, codes.Unavailable)
			}
			_, err := api.HandleChainInfoQuery(callCtx(t), &pb.ChainInfoQuery{Payload: codec.Marshal(&protocol.ChainInfoQuery{ChainID: n.chains[0]})})
			wantCode(t, name+": query", err, codes.Unavailable)
		}
	}
	n.assertUnchanged(t, "after injection attempts", before)
	transferAndReceive(t, n, keys, 0, 1, all(4))
}

// otherTLSConfig is a client presenting a certificate of another internal CA and not
// checking the server (the attacker only wants in).
func otherTLSConfig(t *testing.T, f InternalTLSFiles) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}} //nolint:gosec // attacker
}

// TestAttackGarbageOnPublicPort: garbage bytes, a truncated HTTP/2 preface, a truncated
// frame and a frame of garbage after a valid preface. The validator drops those
// connections and keeps serving.
func TestAttackGarbageOnPublicPort(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	before := n.snapshot()
	var hdr bytes.Buffer
	fr := http2.NewFramer(&hdr, nil)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":path", pb.ValidatorNode_HandleBlockProposal_FullMethodName}, {":scheme", "http"}, {":authority", "x"}, {"content-type", "application/grpc"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	_ = fr.WriteSettings()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	// A gRPC message header announcing 1 MiB, then 3 bytes and a hang-up.
	_ = fr.WriteData(1, false, []byte{0, 0, 0x10, 0, 0, 1, 2, 3})
	frames := hdr.Bytes()
	inputs := map[string][]byte{
		"garbage":                bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096),
		"truncated preface":      []byte(http2.ClientPreface[:10]),
		"preface then garbage":   append([]byte(http2.ClientPreface), bytes.Repeat([]byte{0xff}, 1000)...),
		"truncated frame":        append([]byte(http2.ClientPreface), frames[:len(frames)-5]...),
		"truncated gRPC message": append([]byte(http2.ClientPreface), frames...),
		"oversized frame header": append([]byte(http2.ClientPreface), 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1),
	}
	for name, in := range inputs {
		for _, v := range n.vals {
			c, err := net.Dial("tcp", v.addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(in); err != nil {
				t.Errorf("%s: write: %v", name, err)
			}
			_ = c.Close()
		}
	}
	n.assertUnchanged(t, "after garbage", before)
	transferAndReceive(t, n, keys, 0, 1, all(4))
}

// rawCodec sends bytes as they are, so that a request can be anything.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)   { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error { *(v.(*[]byte)) = b; return nil }
func (rawCodec) Name() string                    { return "proto" }

// TestAttackGarbagePayloads sends, to every public RPC, bytes that are not protobuf,
// protobuf with garbage where canonical bytes belong, and truncated canonical bytes. Each
// is refused with a clear code and changes nothing.
func TestAttackGarbagePayloads(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	before := n.snapshot()
	cc := rawConn(t, n.vals[0].addr)
	api := pb.NewValidatorNodeClient(cc)
	garbage := bytes.Repeat([]byte{0xa5, 0x00, 0xff}, 100)
	// Not protobuf at all, on every method of both services' public one.
	for _, m := range []string{
		pb.ValidatorNode_HandleBlockProposal_FullMethodName, pb.ValidatorNode_HandleCertificate_FullMethodName,
		pb.ValidatorNode_HandleLiteCertificate_FullMethodName, pb.ValidatorNode_HandleChainInfoQuery_FullMethodName,
		pb.ValidatorNode_UploadBlob_FullMethodName, pb.ValidatorNode_DownloadBlob_FullMethodName,
		pb.ValidatorNode_DownloadCertificates_FullMethodName, pb.ValidatorNode_DownloadCertificate_FullMethodName,
		pb.ValidatorNode_GetVersionInfo_FullMethodName, pb.ValidatorNode_GetGenesisHash_FullMethodName,
	} {
		var out []byte
		err := cc.Invoke(callCtx(t), m, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, &out, grpc.ForceCodec(rawCodec{}))
		wantCode(t, m+": not protobuf", err, codes.Internal, codes.InvalidArgument)
	}
	// Valid protobuf, garbage or truncated canonical bytes.
	block := prototest.TransferBlock(n.chains[0], 0, nil, keys[0].Public().Owner(), base.Account{Chain: n.chains[1]}, 1)
	prop, err := protocol.SignProposal(keys[0], block.Proposed, base.Round{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	propBytes := codec.Marshal(prop)
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, n.keys)
	certBytes := codec.Marshal(cert)
	liteBytes := codec.Marshal(&protocol.LiteCertificate{Value: cert.LiteValue(), Round: cert.Round, Signatures: cert.Signatures})
	queryBytes := codec.Marshal(&protocol.ChainInfoQuery{ChainID: n.chains[0]})
	blobBytes := codec.Marshal(&protocol.Blob{Type: base.BlobData, Content: []byte("hello")})
	for _, payload := range [][]byte{garbage, propBytes[:len(propBytes)/2], certBytes[:len(certBytes)-1], liteBytes[:7], queryBytes[:20], blobBytes[:3], append(bytes.Clone(queryBytes), 0)} {
		ctx := callCtx(t)
		_, err := api.HandleBlockProposal(ctx, &pb.BlockProposal{Payload: payload})
		wantCode(t, "proposal", err, codes.InvalidArgument)
		_, err = api.HandleCertificate(ctx, &pb.Certificate{Payload: payload})
		wantCode(t, "certificate", err, codes.InvalidArgument)
		_, err = api.HandleLiteCertificate(ctx, &pb.LiteCertificate{Payload: payload})
		wantCode(t, "lite certificate", err, codes.InvalidArgument)
		_, err = api.HandleChainInfoQuery(ctx, &pb.ChainInfoQuery{Payload: payload})
		wantCode(t, "query", err, codes.InvalidArgument)
		_, err = api.UploadBlob(ctx, &pb.Blob{Payload: payload})
		wantCode(t, "blob", err, codes.InvalidArgument)
		_, err = api.DownloadBlob(ctx, &pb.BlobId{Id: payload})
		wantCode(t, "blob id", err, codes.InvalidArgument)
		_, err = api.DownloadCertificates(ctx, &pb.CertificatesRequest{ChainId: payload, From: 0, To: 10})
		wantCode(t, "certificates", err, codes.InvalidArgument)
		_, err = api.DownloadCertificate(ctx, &pb.CertificateHash{Hash: payload})
		wantCode(t, "certificate by hash", err, codes.InvalidArgument)
		st, err := api.Subscribe(ctx, &pb.SubscriptionRequest{ChainIds: [][]byte{payload}})
		if err == nil {
			_, err = st.Recv()
		}
		wantCode(t, "subscribe", err, codes.InvalidArgument)
	}
	_, err = api.DownloadCertificates(callCtx(t), &pb.CertificatesRequest{ChainId: n.chains[0][:], From: 10, To: 2})
	wantCode(t, "inverted range", err, codes.InvalidArgument)
	n.assertUnchanged(t, "after garbage payloads", before)
	transferAndReceive(t, n, keys, 0, 1, all(4))
}

// TestAttackOversizeMessages: a chain info query, a subscription and a blob upload
// over their methods' budgets, and a query and a proposal over the server's receive
// limit, are refused with ResourceExhausted before reaching a worker.
func TestAttackOversizeMessages(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 1)
	before := n.snapshot()
	cc := rawConn(t, n.vals[0].addr)
	api := pb.NewValidatorNodeClient(cc)
	limits := DefaultLimits(protocol.NoFeesPolicy())
	// Over the method's budget, under the server's receive limit: refused by the
	// interceptor, as invalid.
	_, err := api.HandleChainInfoQuery(callCtx(t), &pb.ChainInfoQuery{Payload: make([]byte, UnaryLimit/2)})
	wantCode(t, "512 KiB chain info query", err, codes.ResourceExhausted)
	if err != nil && !errors.Is(fromStatus(err), base.ErrInvalid) {
		t.Errorf("oversize query: %v, want class invalid (not retryable)", fromStatus(err))
	}
	// Over the receive limit: refused by gRPC from its length prefix
	// (TestAttackDeclaredOversizeRefusedFromPrefix).
	_, err = api.HandleChainInfoQuery(callCtx(t), &pb.ChainInfoQuery{Payload: make([]byte, 2<<20)})
	wantCode(t, "2 MiB chain info query", err, codes.ResourceExhausted)
	ids := make([][]byte, 20_000)
	for i := range ids {
		ids[i] = n.chains[0][:]
	}
	st, err := api.Subscribe(callCtx(t), &pb.SubscriptionRequest{ChainIds: ids})
	if err == nil {
		_, err = st.Recv()
	}
	wantCode(t, "subscription to 20000 chains", err, codes.ResourceExhausted)
	_, err = api.UploadBlob(callCtx(t), &pb.Blob{Payload: make([]byte, limits.budget(pb.ValidatorNode_UploadBlob_FullMethodName)+1)})
	wantCode(t, "blob over its budget", err, codes.ResourceExhausted)
	bigCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = api.HandleBlockProposal(bigCtx, &pb.BlockProposal{Payload: make([]byte, limits.MaxRecvMsgSize()+1)})
	wantCode(t, "proposal over the receive limit", err, codes.ResourceExhausted)
	n.assertUnchanged(t, "after oversize messages", before)
	transferAndReceive(t, n, keys, 0, 1, all(4))
}

// TestAttackInFlightBound: a stranger opens proposal streams and never sends their
// messages. It holds at most MaxInFlightPerAddr heavy slots; the next heavy request is
// refused at once with ResourceExhausted (ErrBusy, retryable), small requests are still
// served, and the slots come back after ReceiveTimeout although the stranger stays
// connected.
func TestAttackInFlightBound(t *testing.T) {
	addr, node := limitedServer(t, 8, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := node.GenesisHash(ctx); err != nil {
		t.Fatal(err)
	}
	// The stranger: HEADERS of 3 proposals and no DATA.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fr := http2.NewFramer(c, c)
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for _, f := range [][2]string{{":method", "POST"}, {":path", pb.ValidatorNode_HandleBlockProposal_FullMethodName}, {":scheme", "http"}, {":authority", "x"}, {"content-type", "application/grpc"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	// Once the stranger's streams are admitted, a heavy call from the same address is
	// refused before being read; a small one is served.
	api := pb.NewValidatorNodeClient(rawConn(t, addr))
	var refused error
	waitFor(t, "the in-flight bound to refuse a proposal", func() bool {
		_, err := api.HandleBlockProposal(ctx, &pb.BlockProposal{Payload: []byte{1}})
		refused = err
		return status.Code(err) == codes.ResourceExhausted
	})
	if !errors.Is(fromStatus(refused), ErrBusy) {
		t.Errorf("refusal %v, want ResourceExhausted carrying ErrBusy", refused)
	}
	if _, err := api.GetGenesisHash(ctx, &pb.Empty{}); err != nil {
		t.Errorf("small request while the heavy slots are taken: %v", err)
	}
	// The receive deadline ends the stranger's streams: a heavy call goes through
	// again (it is read, and refused as malformed) while the stranger is still
	// connected.
	waitFor(t, "the receive deadline to free the slots", func() bool {
		_, err := api.HandleBlockProposal(ctx, &pb.BlockProposal{Payload: []byte{1}})
		return err != nil && status.Code(err) != codes.ResourceExhausted
	})
}

// TestAttackForgedCertificates: certificates whose signatures are forged (signed over
// another value), duplicated, by non-members, below quorum, or for a chain that does not
// exist or a height the chain is not at. Each is refused with a clear error and
// changes nothing.
func TestAttackForgedCertificates(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 2)
	before := n.snapshot()
	owner := keys[0].Public().Owner()
	block := prototest.TransferBlock(n.chains[0], 0, nil, owner, base.Account{Chain: n.chains[1]}, 1)
	other := prototest.TransferBlock(n.chains[0], 0, nil, owner, base.Account{Chain: n.chains[1]}, 2)
	good := func() *protocol.Certificate {
		return prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, n.keys)
	}
	forged := good()
	forged.Signatures = prototest.Certify(protocol.KindConfirmed, other, nil, base.Round{}, n.keys).Signatures
	dup := good()
	dup.Signatures = append([]protocol.ValidatorSignature{dup.Signatures[0]}, dup.Signatures[:3]...)
	strangers := []*crypto.PrivateKey{prototest.Key("m1"), prototest.Key("m2"), prototest.Key("m3"), prototest.Key("m4")}
	nonMembers := prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, strangers)
	mixed := prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, append([]*crypto.PrivateKey{n.keys[0], n.keys[1]}, strangers[:2]...))
	belowQuorum := prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, n.keys[:2])
	var nowhere base.ChainID
	nowhere[0] = 0x42
	wrongChain := prototest.Certify(protocol.KindConfirmed, prototest.TransferBlock(nowhere, 0, nil, owner, base.Account{Chain: n.chains[1]}, 1), nil, base.Round{}, n.keys)
	prev := base.Hash{7}
	wrongHeight := prototest.Certify(protocol.KindConfirmed, prototest.TransferBlock(n.chains[0], 5, &prev, owner, base.Account{Chain: n.chains[1]}, 1), nil, base.Round{}, n.keys)
	cc := rawConn(t, n.vals[0].addr)
	api := pb.NewValidatorNodeClient(cc)
	for name, c := range map[string]*protocol.Certificate{
		"forged signatures": forged, "duplicate signers": dup, "non-member signers": nonMembers,
		"half non-members": mixed, "below quorum": belowQuorum, "unknown chain": wrongChain,
	} {
		_, err := api.HandleCertificate(callCtx(t), &pb.Certificate{Payload: codec.Marshal(c)})
		wantCode(t, name, err, codes.InvalidArgument, codes.NotFound)
		lite := &protocol.LiteCertificate{Value: c.LiteValue(), Round: c.Round, Signatures: c.Signatures}
		_, err = api.HandleLiteCertificate(callCtx(t), &pb.LiteCertificate{Payload: codec.Marshal(lite)})
		wantCode(t, name+" (lite)", err, codes.InvalidArgument, codes.NotFound)
	}
	// A genuine quorum for a height the chain is not at: refused, with its next height.
	_, err := n.vals[0].node.HandleCertificate(callCtx(t), wrongHeight)
	if h, ok := NextHeight(err); err == nil || !ok || h != 0 {
		t.Errorf("certificate at height 5: %v (next height %d, %v), want a refusal naming height 0", err, h, ok)
	}
	n.assertUnchanged(t, "after forged certificates", before)
	transferAndReceive(t, n, keys, 0, 1, all(4))
}

// TestAttackProposalFromNonOwner: a stranger signs a proposal for someone else's chain
// moving its tokens to itself; a proposal by the owner's key for a chain it does not
// own; and one with a signature that does not match its content. All are refused as
// invalid; nothing changes.
func TestAttackProposalFromNonOwner(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
	n := newTestNet(t, keys, 2)
	before := n.snapshot()
	mallory := prototest.Key("mallory")
	mo := mallory.Public().Owner()
	steal := func(chain base.ChainID, signer base.Owner) protocol.ProposedBlock {
		return protocol.ProposedBlock{ChainID: chain, Height: 0, Timestamp: base.TimestampFromTime(time.Now()), AuthenticatedOwner: &signer,
			Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: n.chains[1], Owner: mo}, Amount: base.Tokens(500)})}}
	}
	props := map[string]*protocol.BlockProposal{}
	var err error
	if props["stranger, claiming to be the stranger"], err = protocol.SignProposal(mallory, steal(n.chains[0], mo), base.Round{}, nil); err != nil {
		t.Fatal(err)
	}
	if props["stranger, claiming to be the owner"], err = protocol.SignProposal(mallory, steal(n.chains[0], keys[0].Public().Owner()), base.Round{}, nil); err != nil {
		t.Fatal(err)
	}
	if props["owner of another chain"], err = protocol.SignProposal(keys[1], steal(n.chains[0], keys[1].Public().Owner()), base.Round{}, nil); err != nil {
		t.Fatal(err)
	}
	tampered, err := protocol.SignProposal(keys[0], steal(n.chains[0], keys[0].Public().Owner()), base.Round{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tampered.Content.Block.Transactions[0] = protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: n.chains[1], Owner: mo}, Amount: base.Tokens(999)})
	props["owner's signature on other content"] = tampered
	for name, p := range props {
		for i, v := range n.vals {
			_, err := v.node.HandleBlockProposal(callCtx(t), p)
			if !errors.Is(err, base.ErrInvalid) {
				t.Errorf("%s at validator %d: %v, want an invalid-class refusal", name, i, err)
			}
		}
	}
	n.assertUnchanged(t, "after proposals from non-owners", before)
	transferAndReceive(t, n, keys, 0, 1, all(4))
}
