package rpc

import (
	"context"
	"errors"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/kvtest"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
	"google.golang.org/grpc/codes"
)

// TestAttackLiteCertificateReadsNoBlock: a stranger sends lite certificates (a small
// request, no in-flight slot) naming a large block the validator stored: with forged
// signatures (of another value, of strangers, below quorum), and the genuine
// certificate's replayed over and over. The proxy read and decoded the stored
// certificate (up to MaxBlockSize) for each before the worker checked the signatures.
// The worker now checks the height index and the signatures first and never reads the
// block: forged ones are refused, the genuine one answered, with no certificate read.
// The same holds when the proxy's shard is remote (ShardClient, the split validator):
// the proxy used to read the block from the shared store for it (fullCertificate); it
// now forwards the lite certificate to the shard's HandleLiteCertificate.
func TestAttackLiteCertificateReadsNoBlock(t *testing.T) {
	t.Run("local worker", func(t *testing.T) {
		testLiteCertificateReadsNoBlock(t, func(t *testing.T, w *worker.Worker, _ *protocol.GenesisConfig) Shard { return w })
	})
	t.Run("remote shard", func(t *testing.T) {
		testLiteCertificateReadsNoBlock(t, remoteShard)
	})
}

// remoteShard serves w's internal service (with a shard's internal limits) on a
// loopback port and returns a client of it.
func remoteShard(t *testing.T, w *worker.Worker, g *protocol.GenesisConfig) Shard {
	limits := InternalLimits(g.Committee.Policy)
	srv := NewServer(listen(t), ServerConfig{Logger: testLogger(), Limits: &limits})
	NewShardServer(w, nil, nil).Register(srv.Registrar())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	c, err := DialShard(srv.Addr().String(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testLiteCertificateReadsNoBlock(t *testing.T, shard func(*testing.T, *worker.Worker, *protocol.GenesisConfig) Shard) {
	ctx := context.Background()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{alice, prototest.Key("bob")}, base.Tokens(100))
	chains := g.ChainIDs()
	db := &kvtest.ReadCounter{Store: memkv.New(), Prefix: []byte{'K'}} // stored certificates
	t.Cleanup(func() { _ = db.Close() })
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, g)
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	w := worker.New(worker.Config{Storage: st, Signer: keys[0], Clock: sysClock{}})
	// A block of 2,000 transfers (about 200 KB; a stranger's may be MaxBlockSize).
	o := alice.Public().Owner()
	proposed := protocol.ProposedBlock{ChainID: chains[0], Height: 0, Timestamp: base.TimestampFromTime(sysClock{}.Now().Time()), AuthenticatedOwner: &o}
	for range 2000 {
		proposed.Transactions = append(proposed.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
			Recipient: base.Account{Chain: chains[1]}, Amount: base.AmountFromAttos(1)}))
	}
	block, err := w.StageBlock(ctx, &proposed, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys)
	if _, err := w.HandleCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(ProxyConfig{Shards: []Shard{shard(t, w, g)}, Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	other := prototest.TransferBlock(chains[0], 0, nil, o, base.Account{Chain: chains[1]}, 1)
	strangers := []*crypto.PrivateKey{prototest.Key("m1"), prototest.Key("m2"), prototest.Key("m3"), prototest.Key("m4")}
	lite := func(sigs []protocol.ValidatorSignature) *pb.LiteCertificate {
		l := protocol.LiteCertificate{Value: cert.LiteValue(), Round: cert.Round, Signatures: sigs}
		return &pb.LiteCertificate{Payload: codec.Marshal(&l)}
	}
	forged := []struct {
		name string
		sigs []protocol.ValidatorSignature
	}{
		{"signatures of another value", prototest.Certify(protocol.KindConfirmed, other, nil, base.FastRound, keys).Signatures},
		{"signatures of another round", prototest.Certify(protocol.KindConfirmed, block, nil, base.SingleLeader(0), keys).Signatures},
		{"signatures of strangers", prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, strangers).Signatures},
		{"below quorum", cert.Signatures[:2]},
	}
	db.Reset()
	for _, f := range forged {
		for range 10 {
			_, err := p.HandleLiteCertificate(ctx, lite(f.sigs))
			wantCode(t, f.name, err, codes.InvalidArgument)
		}
	}
	for range 10 {
		resp, err := p.HandleLiteCertificate(ctx, lite(cert.Signatures))
		if err != nil {
			t.Fatalf("genuine lite certificate: %v", err)
		}
		info, err := decodePayload[protocol.ChainInfo]("chain info", resp.GetPayload())
		if err != nil || info.NextBlockHeight != 1 {
			t.Fatalf("genuine lite certificate answered %v (%v), want the chain at height 1", info, err)
		}
	}
	if n := db.Reads(); n != 0 {
		t.Errorf("50 lite certificates read %d stored certificates (%d bytes of a %d-byte certificate), want none", n, db.Bytes(), len(codec.Marshal(cert)))
	}
	// With a query, the answer answers it; a lite certificate of a height the chain has
	// not executed, or of another block, still asks for the full certificate.
	q := codec.Marshal(&protocol.ChainInfoQuery{ChainID: chains[0], RequestPendingBundles: true})
	resp, err := p.HandleLiteCertificate(ctx, &pb.LiteCertificate{Payload: lite(cert.Signatures).Payload, Query: q})
	if err != nil || !resp.GetQueryAnswered() {
		t.Fatalf("lite certificate with a query: answered %v, %v", resp.GetQueryAnswered(), err)
	}
	for _, c := range []struct {
		name string
		v    protocol.LiteValue
	}{
		{"next height", protocol.LiteValue{ValueHash: base.Hash{1}, ChainID: chains[0], Height: 1, Kind: protocol.KindConfirmed}},
		{"another block", protocol.LiteValue{ValueHash: base.Hash{1}, ChainID: chains[0], Height: 0, Kind: protocol.KindConfirmed}},
	} {
		l := protocol.LiteCertificate{Value: c.v, Round: cert.Round, Signatures: cert.Signatures}
		_, err := p.HandleLiteCertificate(ctx, &pb.LiteCertificate{Payload: codec.Marshal(&l)})
		if !errors.Is(fromStatus(err), ErrMissingCertificateValue) {
			t.Errorf("%s: %v, want %v", c.name, err, ErrMissingCertificateValue)
		}
	}
	if n := db.Reads(); n != 0 {
		t.Errorf("%d stored certificates read in all, want none", n)
	}
}

// TestLiteCertificateToShardWithoutLiteMethod: a proxy upgraded before its shards sends
// lite certificates to a shard that predates HandleLiteCertificate. The shard answers
// Unimplemented; the proxy sends it the full certificate (read from the store, as
// before) and does not ask it again.
func TestLiteCertificateToShardWithoutLiteMethod(t *testing.T) {
	ctx := context.Background()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{alice, prototest.Key("bob")}, base.Tokens(100))
	chains := g.ChainIDs()
	st := newStore(t, g)
	w := worker.New(worker.Config{Storage: st, Signer: keys[0], Clock: sysClock{}})
	o := alice.Public().Owner()
	proposed := protocol.ProposedBlock{ChainID: chains[0], Height: 0, Timestamp: base.TimestampFromTime(sysClock{}.Now().Time()), AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: chains[1]}, Amount: base.AmountFromAttos(1)})}}
	block, err := w.StageBlock(ctx, &proposed, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys)
	if _, err := w.HandleCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	srv := NewServer(listen(t), ServerConfig{Logger: testLogger()})
	pb.RegisterValidatorWorkerServer(srv.Registrar(), legacyShard{s: NewShardServer(w, nil, nil)})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = srv.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	c, err := DialShard(srv.Addr().String(), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	p, err := NewProxy(ProxyConfig{Shards: []Shard{c}, Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	lite := func(sigs []protocol.ValidatorSignature) *pb.LiteCertificate {
		l := protocol.LiteCertificate{Value: cert.LiteValue(), Round: cert.Round, Signatures: sigs}
		return &pb.LiteCertificate{Payload: codec.Marshal(&l)}
	}
	for i := range 2 {
		resp, err := p.HandleLiteCertificate(ctx, lite(cert.Signatures))
		if err != nil {
			t.Fatalf("lite certificate %d: %v", i, err)
		}
		info, err := decodePayload[protocol.ChainInfo]("chain info", resp.GetPayload())
		if err != nil || info.NextBlockHeight != 1 {
			t.Fatalf("lite certificate %d answered %v (%v), want the chain at height 1", i, info, err)
		}
		if c.TakesLite() {
			t.Fatalf("lite certificate %d: the shard without the method is still sent lite certificates", i)
		}
	}
	_, err = p.HandleLiteCertificate(ctx, lite(cert.Signatures[:2]))
	wantCode(t, "below quorum", err, codes.InvalidArgument)
}

// TestShardLiteCertificateBudget: the shard's internal HandleLiteCertificate has the
// public lite certificate's budget (liteCertificateBudget), not a block's: a larger
// request is refused before it reaches the handler.
func TestShardLiteCertificateBudget(t *testing.T) {
	keys := prototest.Validators(4)
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{prototest.Key("alice")}, base.Tokens(1))
	w := worker.New(worker.Config{Storage: newStore(t, g), Signer: keys[0], Clock: sysClock{}})
	c := remoteShard(t, w, g).(*ShardClient)
	_, err := c.api.HandleLiteCertificate(context.Background(), &pb.LiteCertificate{Payload: make([]byte, liteCertificateBudget+1)})
	wantCode(t, "a lite certificate over its budget", err, codes.ResourceExhausted)
	_, err = c.api.HandleLiteCertificate(context.Background(), &pb.LiteCertificate{Payload: make([]byte, liteCertificateBudget-16)})
	wantCode(t, "a malformed lite certificate within its budget", err, codes.InvalidArgument)
}
