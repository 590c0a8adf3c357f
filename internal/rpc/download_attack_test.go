package rpc

import (
	"context"
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
)

// TestAttackDownloadReadsOnlyWhatItAnswers: a stranger's chain holds large blocks (up to
// MaxBlockSize, 16 MiB, each) and anyone downloads its certificates 500 at a time. The
// validator read and decoded all 500 (8 GiB for blocks of 16 MiB) before the answer's
// byte bound (maxDownloadBytes) kept the first few: the work before the bound grew with
// what the stranger stored. It now reads a certificate only while the answer has room:
// at most the bound plus one certificate.
func TestAttackDownloadReadsOnlyWhatItAnswers(t *testing.T) {
	ctx := context.Background()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	g := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{alice}, base.Tokens(1))
	id := g.ChainIDs()[0]
	db := &kvtest.ReadCounter{Store: memkv.New()}
	t.Cleanup(func() { _ = db.Close() })
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, g)
	const heights = 60
	var prev *base.Hash
	certSize := 0
	for h := range heights {
		block := prototest.TransferBlock(id, base.BlockHeight(h), prev, alice.Public().Owner(), base.Account{Chain: id}, 100)
		cert := prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, keys)
		certSize = len(codec.Marshal(cert))
		storage.PutCertificate(&b, cert)
		hash := block.Hash()
		prev = &hash
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(ProxyConfig{Shards: []Shard{fakeShard{t}}, Storage: st})
	if err != nil {
		t.Fatal(err)
	}
	p.downloadBytes = 10 * certSize
	db.Reset()
	out, err := p.DownloadCertificates(ctx, &pb.CertificatesRequest{ChainId: id[:], From: 0, To: maxDownloadCertificates})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Payloads) != 10 {
		t.Fatalf("%d certificates answered, want the 10 that fit", len(out.Payloads))
	}
	for i, pl := range out.Payloads {
		c, err := decodePayload[protocol.Certificate]("certificate", pl)
		if err != nil || c.Height() != base.BlockHeight(i) {
			t.Fatalf("certificate %d: %v", i, err)
		}
	}
	if read, bound := db.Bytes(), int64(12*certSize); read > bound {
		t.Errorf("read %d bytes from the store for an answer of 10 certificates of %d bytes, want at most %d", read, certSize, bound)
	}
	// The rest comes from where the answer stopped; the last answer is short.
	out, err = p.DownloadCertificates(ctx, &pb.CertificatesRequest{ChainId: id[:], From: 55, To: maxDownloadCertificates})
	if err != nil || len(out.Payloads) != heights-55 {
		t.Fatalf("from height 55: %d certificates (%v), want %d", len(out.Payloads), err, heights-55)
	}
}
