package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// declaredStatus starts a call of method on a raw HTTP/2 connection to addr whose gRPC
// length prefix declares size bytes, sends only the prefix and 1 KiB of the message,
// and returns the grpc-status and message of the answer. It fails the test if no answer
// arrives within 5 s: a server that waits for the rest of the message before refusing
// it holds what it received meanwhile.
func declaredStatus(t *testing.T, addr, method string, size uint32) (codes.Code, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":path", method}, {":scheme", "http"}, {":authority", "x"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5+1024)
	binary.BigEndian.PutUint32(data[1:5], size)
	if err := fr.WriteData(1, false, data); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("%s declaring %d bytes: no answer before the rest of the message: %v", method, size, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := fr.WritePing(true, f.Data); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.MetaHeadersFrame:
			if v := f.PseudoValue("status"); v != "" && v != "200" {
				t.Fatalf("%s: HTTP status %s", method, v)
			}
			fields := map[string]string{}
			for _, h := range f.RegularFields() {
				fields[h.Name] = h.Value
			}
			if s, ok := fields["grpc-status"]; ok {
				code, err := strconv.Atoi(s)
				if err != nil {
					t.Fatalf("grpc-status %q", s)
				}
				return codes.Code(code), fields["grpc-message"]
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("%s: stream reset (%v) instead of a status", method, f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("%s: connection closed (%v)", method, f.ErrCode)
		}
	}
}

// TestAttackDeclaredOversizeRefusedFromPrefix: a chain-info query, a blob download, a
// lite certificate and a unary proposal whose gRPC length prefix declares 2 MiB or
// 64 MiB are refused with ResourceExhausted from the prefix, before their payload is
// read (the attacker sends 1 KiB and gets the refusal), on the public server of a
// one-process validator and on the proxy of a sharded one.
func TestAttackDeclaredOversizeRefusedFromPrefix(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(1)), keys, base.Tokens(10))
	for _, v := range []struct {
		name string
		val  *testValidator
	}{
		{"public server", startValidator(t, prototest.Validators(1)[0], g)},
		{"proxy of a sharded validator", startShardedValidator(t, prototest.Validators(1)[0], g, 2)},
	} {
		for _, m := range []string{
			pb.ValidatorNode_HandleChainInfoQuery_FullMethodName, pb.ValidatorNode_DownloadBlob_FullMethodName,
			pb.ValidatorNode_DownloadCertificates_FullMethodName, pb.ValidatorNode_HandleLiteCertificate_FullMethodName,
			pb.ValidatorNode_HandleBlockProposal_FullMethodName, pb.ValidatorNode_HandleCertificate_FullMethodName,
			pb.ValidatorNode_UploadBlob_FullMethodName,
		} {
			for _, size := range []uint32{UnaryLimit + 1, 2 << 20, MaxMessageSize} {
				if code, msg := declaredStatus(t, v.val.addr, m, size); code != codes.ResourceExhausted {
					t.Errorf("%s: %s declaring %d bytes: %s %q, want ResourceExhausted", v.name, m, size, code, msg)
				}
			}
		}
		// Still serving.
		if _, err := pb.NewValidatorNodeClient(rawConn(t, v.val.addr)).GetGenesisHash(callCtx(t), &pb.Empty{}); err != nil {
			t.Errorf("%s after the attack: %v", v.name, err)
		}
	}
}

// TestAttackSmallRequestStall: a small request (a query) whose length prefix declares
// less than the unary limit but whose message never finishes arriving is ended by the
// small requests' receive deadline, so a stranger cannot keep a small stream's partial
// message in the validator's memory for longer than that.
func TestAttackSmallRequestStall(t *testing.T) {
	addr, _ := limitedServer(t, 4, 2)
	for _, m := range []string{pb.ValidatorNode_HandleChainInfoQuery_FullMethodName, pb.ValidatorNode_HandleLiteCertificate_FullMethodName} {
		start := time.Now()
		code, msg := declaredStatus(t, addr, m, UnaryLimit/2)
		if code != codes.Canceled && code != codes.DeadlineExceeded {
			t.Errorf("%s stalled: %s %q, want Canceled or DeadlineExceeded", m, code, msg)
		}
		t.Logf("%s stalled: ended after %v", m, time.Since(start))
	}
}

// limitedServer starts a one-process validator and a second public server over its
// worker with small in-flight bounds and a 1 s receive deadline (a second server on
// the same worker is the simplest way to get one), and a Node connected to it.
func limitedServer(t *testing.T, maxInFlight, perAddr int) (string, *Node) {
	t.Helper()
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(1)), keys, base.Tokens(10))
	v := startValidator(t, prototest.Validators(1)[0], g)
	l := DefaultLimits(protocol.NoFeesPolicy())
	l.MaxInFlight, l.MaxInFlightPerAddr = maxInFlight, perAddr
	l.setReceiveTimeouts(time.Second, time.Second)
	srv := NewServer(listen(t), ServerConfig{Limits: &l})
	p, err := NewValidatorServer(v.workers[0], ProxyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p.Register(srv.Registrar())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = srv.Run(ctx) }()
	node, err := Dial(ctx, srv.Addr().String(), DialOptions{CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	return srv.Addr().String(), node
}

// sendChunks opens method on cc, sends chunks without closing its side, and returns
// the server's answer: a refusal arrives while the stream is still open.
func sendChunks(t *testing.T, cc *grpc.ClientConn, method string, closeSend bool, chunks ...*pb.Chunk) error {
	t.Helper()
	desc := &grpc.StreamDesc{ClientStreams: true}
	st, err := cc.NewStream(callCtx(t), desc, method)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if err := st.SendMsg(c); err != nil {
			break // the server answered; RecvMsg returns its status
		}
	}
	if closeSend {
		if err := st.CloseSend(); err != nil {
			t.Fatal(err)
		}
	}
	var resp pb.Empty
	return st.RecvMsg(&resp)
}

// TestAttackChunkedOverBudget: a chunked request whose first chunk declares more than
// its method's budget is refused with ResourceExhausted (class invalid) after that
// chunk, while the stream is still open.
func TestAttackChunkedOverBudget(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(1)), keys, base.Tokens(10))
	v := startValidator(t, prototest.Validators(1)[0], g)
	limits := DefaultLimits(protocol.NoFeesPolicy())
	cc := rawConn(t, v.addr)
	for _, m := range []string{pb.ValidatorNode_HandleBlockProposalChunks_FullMethodName, pb.ValidatorNode_HandleCertificateChunks_FullMethodName, pb.ValidatorNode_UploadBlobChunks_FullMethodName} {
		total := uint64(limits.budget(m)) + 1
		err := sendChunks(t, cc, m, false, &pb.Chunk{Total: total, Data: make([]byte, minChunkData)})
		wantCode(t, m+" over its budget", err, codes.ResourceExhausted)
		if err != nil && !errors.Is(fromStatus(err), base.ErrInvalid) {
			t.Errorf("%s over its budget: %v, want class invalid", m, fromStatus(err))
		}
	}
}

// TestAttackChunkRules: chunk streams that break the rules (no total, a total in a
// later chunk, chunks over the maximum size or, but for the last, under the minimum
// (which bounds their number), more data than declared, a stream that ends early, a
// query in a later chunk or on a method without one) are refused as invalid, and
// nothing reaches the worker.
func TestAttackChunkRules(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(1)), keys, base.Tokens(10))
	v := startValidator(t, prototest.Validators(1)[0], g)
	cc := rawConn(t, v.addr)
	full := func(n int) []byte { return make([]byte, n) }
	prop := pb.ValidatorNode_HandleBlockProposalChunks_FullMethodName
	for _, c := range []struct {
		name   string
		method string
		chunks []*pb.Chunk
	}{
		{"no total", prop, []*pb.Chunk{{Data: full(10)}}},
		{"total in a later chunk", prop, []*pb.Chunk{{Total: 2 * minChunkData, Data: full(minChunkData)}, {Total: 5, Data: full(minChunkData)}}},
		{"chunk over the maximum", prop, []*pb.Chunk{{Total: 2 * maxChunkData, Data: full(maxChunkData + 1)}}},
		{"small chunk before the last", prop, []*pb.Chunk{{Total: 4 << 20, Data: full(100)}, {Data: full(100)}}},
		{"empty chunk", prop, []*pb.Chunk{{Total: 4 << 20, Data: full(minChunkData)}, {}}},
		{"more data than declared", prop, []*pb.Chunk{{Total: minChunkData + 10, Data: full(minChunkData)}, {Data: full(minChunkData)}}},
		{"query in a later chunk", pb.ValidatorNode_HandleCertificateChunks_FullMethodName, []*pb.Chunk{{Total: 2 * minChunkData, Data: full(minChunkData)}, {Data: full(minChunkData), Query: []byte{1}}}},
		{"query on a proposal", prop, []*pb.Chunk{{Total: 10, Data: full(10), Query: []byte{1}}}},
		{"query too large", pb.ValidatorNode_HandleCertificateChunks_FullMethodName, []*pb.Chunk{{Total: 10, Data: full(10), Query: full(smallRequestBudget + 1)}}},
	} {
		err := sendChunks(t, cc, c.method, false, c.chunks...)
		wantCode(t, c.name, err, codes.InvalidArgument)
	}
	// A stream that ends before its declared total.
	err := sendChunks(t, cc, prop, true, &pb.Chunk{Total: 3 * minChunkData, Data: full(minChunkData)})
	wantCode(t, "stream ending early", err, codes.InvalidArgument)
	// The server still serves, and the chunked path reaches the worker: garbage of the
	// declared size is refused as a malformed proposal.
	err = sendChunks(t, cc, prop, true, &pb.Chunk{Total: minChunkData + 1, Data: full(minChunkData)}, &pb.Chunk{Data: []byte{0xff}})
	if wantCode(t, "garbage proposal in chunks", err, codes.InvalidArgument); err != nil && !bytes.Contains([]byte(err.Error()), []byte("malformed block proposal")) {
		t.Errorf("garbage proposal in chunks: %v, want a malformed block proposal", err)
	}
}

// TestAttackChunkedStall: a stranger opens chunked streams and stops sending, halfway
// or after the last chunk without closing. Its streams hold heavy slots (the next
// heavy call from its address is refused as busy) until ReceiveTimeout ends them; then
// a heavy call goes through again.
func TestAttackChunkedStall(t *testing.T) {
	addr, _ := limitedServer(t, 4, 2)
	cc := rawConn(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// One stream stops halfway; the other sends its whole payload and never closes.
	var stalled []grpc.ClientStream
	for _, total := range []uint64{4 << 20, maxChunkData} {
		st, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, pb.ValidatorNode_UploadBlobChunks_FullMethodName)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SendMsg(&pb.Chunk{Total: total, Data: make([]byte, maxChunkData)}); err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, st)
	}
	api := pb.NewValidatorNodeClient(cc)
	var refused error
	waitFor(t, "the stalled streams to hold the address's slots", func() bool {
		_, refused = api.HandleBlockProposal(ctx, &pb.BlockProposal{Payload: []byte{1}})
		return status.Code(refused) == codes.ResourceExhausted
	})
	if !errors.Is(fromStatus(refused), ErrBusy) {
		t.Errorf("refusal %v, want ErrBusy", refused)
	}
	start := time.Now()
	for i, st := range stalled {
		var resp pb.Empty
		err := st.RecvMsg(&resp)
		if err == nil {
			t.Fatalf("stalled stream %d accepted", i)
		}
		if code := status.Code(err); code != codes.Canceled && code != codes.DeadlineExceeded {
			t.Errorf("stalled stream %d ended with %v, want Canceled or DeadlineExceeded", i, err)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("stalled streams ended after %v", d)
	}
	waitFor(t, "the receive deadline to give the slots back", func() bool {
		_, err := api.HandleBlockProposal(ctx, &pb.BlockProposal{Payload: []byte{1}})
		return err != nil && status.Code(err) != codes.ResourceExhausted
	})
}

// TestLargeRequestsGoInChunks: requests over the unary limit go over the chunked
// methods and are served like the unary ones, on a one-process validator and on a
// sharded one: a 1.5 MiB data blob is published (its proposal carries it, so the unary
// method would refuse it from its length prefix) and certified at every validator; a
// certificate over the limit reaches the worker, which answers its next height; a
// 3 MiB blob nobody asked for reaches the worker, which refuses it as unwanted (not the
// limits, as the unary method would).
func TestLargeRequestsGoInChunks(t *testing.T) {
	for _, shards := range []int{1, 2} {
		t.Run(strconv.Itoa(shards)+" shards", func(t *testing.T) {
			keys := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
			n := newTestNet(t, keys, shards)
			// A block of 1.5 MiB takes seconds to execute under the race detector on a
			// loaded machine (with the unary path as well): give the calls time.
			n.requestTimeout = time.Minute
			for _, v := range n.vals {
				node, err := Dial(context.Background(), v.addr, DialOptions{GenesisHash: n.genesis.Hash(), CallTimeout: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = node.Close() })
				v.node = node
			}
			content := bytes.Repeat([]byte("large data blob "), 3<<20/32)
			cc := n.client(0).Chain(n.chains[0], keys[0], nil)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, cert, err := cc.PublishDataBlob(ctx, content)
			if err != nil {
				t.Fatalf("publish a 1.5 MiB data blob: %v", err)
			}
			if cert.Block.Header().Height != 0 {
				t.Fatalf("data blob published at height %d", cert.Block.Header().Height)
			}
			n.waitHeight(n.chains[0], 1, all(4))
			// A certificate over the unary limit reaches the worker, which refuses it
			// for its height, with the chain's next height, with and without a query.
			owner := keys[0].Public().Owner()
			prev := base.Hash{7}
			big := prototest.Certify(protocol.KindConfirmed, prototest.TransferBlock(n.chains[0], 5, &prev, owner, base.Account{Chain: n.chains[1]}, 10000), nil, base.Round{}, n.keys)
			if size := len(codec.Marshal(big)); size <= UnaryLimit {
				t.Fatalf("certificate of %d bytes, want one over the unary limit", size)
			}
			_, err = n.vals[0].node.HandleCertificate(ctx, big)
			if h, ok := NextHeight(err); !ok || h != 1 {
				t.Errorf("large certificate at height 5: %v (next height %d, %v), want a refusal naming height 1", err, h, ok)
			}
			_, err = n.vals[0].node.HandleCertificateQuery(ctx, big, &protocol.ChainInfoQuery{ChainID: n.chains[0]})
			if h, ok := NextHeight(err); !ok || h != 1 {
				t.Errorf("large certificate with a query at height 5: %v (next height %d, %v), want a refusal naming height 1", err, h, ok)
			}
			blob := protocol.Blob{Type: base.BlobData, Content: bytes.Repeat([]byte("unwanted "), 3<<20/9)}
			err = n.vals[0].node.HandleBlob(ctx, blob)
			if err == nil || errors.Is(err, ErrChunksUnsupported) {
				t.Fatalf("unwanted 3 MiB blob: %v, want the worker's refusal", err)
			}
			if msg := err.Error(); bytes.Contains([]byte(msg), []byte("exceeds the limit")) || bytes.Contains([]byte(msg), []byte("larger than max")) {
				t.Fatalf("unwanted 3 MiB blob refused by the limits: %v", err)
			}
			transferAndReceive(t, n, keys, 0, 1, all(4))
		})
	}
}

// oldValidator is the public service of a validator that predates the chunked methods.
type oldValidator struct{ *Proxy }

func (oldValidator) HandleBlockProposalChunks(grpc.ClientStreamingServer[pb.Chunk, pb.ChainInfoResponse]) error {
	return status.Error(codes.Unimplemented, "method HandleBlockProposalChunks not implemented")
}

func (oldValidator) UploadBlobChunks(grpc.ClientStreamingServer[pb.Chunk, pb.Empty]) error {
	return status.Error(codes.Unimplemented, "method UploadBlobChunks not implemented")
}

// TestChunksUnsupported: a request over the unary limit to a validator without the
// chunked methods fails with ErrChunksUnsupported, naming the validator; it is not
// sent over the unary method, which the validator would refuse or not.
func TestChunksUnsupported(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(1)), keys, base.Tokens(10))
	v := startValidator(t, prototest.Validators(1)[0], g)
	p, err := NewValidatorServer(v.workers[0], ProxyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(listen(t), ServerConfig{})
	pb.RegisterValidatorNodeServer(srv.Registrar(), oldValidator{p})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	node, err := Dial(ctx, srv.Addr().String(), DialOptions{CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	err = node.HandleBlob(ctx, protocol.Blob{Type: base.BlobData, Content: make([]byte, 2<<20)})
	if !errors.Is(err, ErrChunksUnsupported) || !bytes.Contains([]byte(err.Error()), []byte(srv.Addr().String())) {
		t.Errorf("large blob to an old validator: %v, want ErrChunksUnsupported naming it", err)
	}
	// Small requests still go over the unary methods.
	err = node.HandleBlob(ctx, protocol.Blob{Type: base.BlobData, Content: []byte("small")})
	if err == nil || errors.Is(err, ErrChunksUnsupported) {
		t.Errorf("small unwanted blob: %v, want the worker's refusal", err)
	}
	// A user publishing a large blob through the client is told why it failed.
	local := worker.New(worker.Config{Storage: newStore(t, g), Clock: sysClock{}})
	cl := client.New(client.Config{Local: local, Committee: &g.Committee, Clock: sysClock{}, RequestTimeout: 5 * time.Second,
		Validators: []client.Validator{{PublicKey: prototest.Validators(1)[0].Public(), Node: node}}})
	_, _, err = cl.Chain(g.ChainIDs()[0], keys[0], nil).PublishDataBlob(ctx, make([]byte, 3<<19))
	t.Logf("the user sees: %v", err)
	if err == nil || !strings.Contains(err.Error(), "older version") {
		t.Errorf("publishing a 1.5 MiB data blob through an old validator: %v, want the reason", err)
	}
}

// TestOverUnaryLimit: a request Node sends unary is never over the server's receive
// limit, whatever the lengths of its fields.
func TestOverUnaryLimit(t *testing.T) {
	for n := UnaryLimit - 64; n <= UnaryLimit; n++ {
		for _, q := range []int{0, 1, 200} {
			payload, query := make([]byte, n-q), make([]byte, q)
			if size := proto.Size(&pb.Certificate{Payload: payload, Query: query}); !overUnaryLimit(payload, query) && size > UnaryLimit {
				t.Fatalf("payload %d, query %d: a message of %d bytes goes unary", len(payload), q, size)
			}
		}
	}
	if overUnaryLimit(make([]byte, 100<<10), nil) {
		t.Error("a 100 KiB proposal goes in chunks")
	}
}

// TestChunkSizes: the client's chunks of payloads of every size around the chunk
// boundaries obey the server's rules and reassemble to the payload.
func TestChunkSizes(t *testing.T) {
	for _, n := range []int{1, minChunkData - 1, minChunkData, maxChunkData - 1, maxChunkData, maxChunkData + 1, 2*maxChunkData + minChunkData/2, 5 << 20} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		chunks := splitChunks(payload, []byte{9})
		a := newAssembler(MaxMessageSize, true)
		for i, c := range chunks {
			if size := proto.Size(c); size > UnaryLimit {
				t.Fatalf("%d bytes: chunk %d is a message of %d bytes, over the unary limit", n, i, size)
			}
			done, err := a.add(c)
			if err != nil {
				t.Fatalf("%d bytes: chunk %d: %v", n, i, err)
			}
			if done != (i == len(chunks)-1) {
				t.Fatalf("%d bytes: chunk %d of %d: done %v", n, i, len(chunks), done)
			}
		}
		if !bytes.Equal(a.payload, payload) || !bytes.Equal(a.query, []byte{9}) {
			t.Fatalf("%d bytes: reassembled %d bytes, query %v", n, len(a.payload), a.query)
		}
	}
}

// FuzzChunkAssembler feeds the assembler chunks decoded from the input (each a
// protobuf pb.Chunk after a one-byte length; chunk bounds scaled down so that inputs
// stay small). It never panics, never holds more than the declared total, which never
// exceeds the budget, completes only with exactly the declared bytes, and takes no
// chunk after that.
func FuzzChunkAssembler(f *testing.F) {
	seed := func(chunks ...*pb.Chunk) []byte {
		var out []byte
		for _, c := range chunks {
			b, err := proto.Marshal(c)
			if err != nil || len(b) > 255 {
				f.Fatalf("seed chunk: %d bytes, %v", len(b), err)
			}
			out = append(append(out, byte(len(b))), b...)
		}
		return out
	}
	f.Add(seed(&pb.Chunk{Total: 20, Data: make([]byte, 16), Query: []byte{1}}, &pb.Chunk{Data: make([]byte, 4)}))
	f.Add(seed(&pb.Chunk{Total: 5, Data: make([]byte, 5)}, &pb.Chunk{Data: []byte{1}}))
	f.Add(seed(&pb.Chunk{Total: 1000, Data: make([]byte, 2)}))
	f.Add(seed(&pb.Chunk{Data: make([]byte, 2)}, &pb.Chunk{Total: 3}))
	const budget = 200
	f.Fuzz(func(t *testing.T, in []byte) {
		a := newAssembler(budget, len(in)%2 == 0)
		a.minData, a.maxData = 4, 32
		done := false
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			if n > len(in) {
				return
			}
			var c pb.Chunk
			if proto.Unmarshal(in[:n], &c) != nil {
				return
			}
			in = in[n:]
			d, err := a.add(&c)
			if done && err == nil {
				t.Fatal("a chunk after the declared total was accepted")
			}
			if err != nil {
				if !errors.Is(err, base.ErrInvalid) {
					t.Fatalf("error of no class: %v", err)
				}
				return
			}
			done = d
			if a.total > budget || len(a.payload) > a.total || cap(a.payload) > a.total {
				t.Fatalf("total %d (budget %d), holding %d bytes of capacity %d", a.total, budget, len(a.payload), cap(a.payload))
			}
			if done && len(a.payload) != a.total {
				t.Fatalf("done with %d of %d bytes", len(a.payload), a.total)
			}
		}
	})
}

// slowShard takes a while to accept a blob.
type slowShard struct {
	echoShard
	delay time.Duration
}

func (s slowShard) HandleBlob(ctx context.Context, _ protocol.Blob) error {
	select {
	case <-time.After(s.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestChunkedHandlingOutlastsReceiveTimeout: ReceiveTimeout bounds the receipt of a
// chunked request, not its handling: a request whose chunks are all in is handled
// however long that takes (compiling a module takes longer than receiving it).
//
// The receive deadline must leave room to send 2 MiB on a loaded machine (300 ms did not
// at a load average of 30), and the handling outlasts it by 2.5×.
func TestChunkedHandlingOutlastsReceiveTimeout(t *testing.T) {
	keys := []*crypto.PrivateKey{prototest.Key("alice")}
	g := prototest.Genesis(prototest.Committee(prototest.Validators(1)), keys, base.Tokens(10))
	proxy, err := NewProxy(ProxyConfig{Shards: []Shard{slowShard{delay: 2500 * time.Millisecond}}, Storage: newStore(t, g)})
	if err != nil {
		t.Fatal(err)
	}
	limits := DefaultLimits(protocol.NoFeesPolicy())
	limits.setReceiveTimeouts(time.Second, smallReceiveTimeout)
	node := serveProxy(t, proxy, ServerConfig{Limits: &limits}, DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.HandleBlob(ctx, protocol.Blob{Type: base.BlobData, Content: make([]byte, 2<<20)}); err != nil {
		t.Fatalf("2 MiB blob handled for longer than the receive deadline: %v", err)
	}
}
