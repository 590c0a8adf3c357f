package worker

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
)

// TestPreverifyCertificateBatch: the certificates of a batch of several chains whose
// signatures all verify are remembered as verified; a batch with one forged signature
// leaves every certificate to its own check (the forged one is then refused); a
// certificate of a chain the worker does not know is left out.
func TestPreverifyCertificateBatch(t *testing.T) {
	ctx := context.Background()
	keys := prototest.Validators(4)
	committee := prototest.Committee(keys)
	owners := []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob"), prototest.Key("carol")}
	g := prototest.Genesis(committee, owners, base.Tokens(100))
	chains := g.ChainIDs()
	newWorker := func() *Worker {
		db := memkv.New()
		t.Cleanup(func() { _ = db.Close() })
		st := storage.New(db)
		var b kv.Batch
		storage.PutGenesis(&b, g)
		if err := st.Write(ctx, &b); err != nil {
			t.Fatal(err)
		}
		return New(Config{Storage: st, Signer: keys[0], Clock: stillClock{}})
	}
	certOf := func(i int) *protocol.Certificate {
		block := prototest.TransferBlock(chains[i], 0, nil, owners[i].Public().Owner(), base.Account{Chain: chains[(i+1)%3]}, 1)
		return prototest.Certify(protocol.KindConfirmed, block, nil, base.Round{}, keys[:3])
	}
	verified := func(w *Worker, c *protocol.Certificate) bool {
		lite := c.Lite()
		return w.verified.Has(verifiedKey(&lite, committee))
	}
	good := []*protocol.Certificate{certOf(0), certOf(1), certOf(2)}
	var unknown base.ChainID
	unknown[0] = 0x42
	stranger := prototest.Certify(protocol.KindConfirmed, prototest.TransferBlock(unknown, 0, nil, owners[0].Public().Owner(), base.Account{Chain: chains[1]}, 1), nil, base.Round{}, keys[:3])

	w := newWorker()
	w.PreverifyCertificateBatch(ctx, append(append([]*protocol.Certificate{}, good...), stranger, nil))
	for i, c := range good {
		if !verified(w, c) {
			t.Errorf("certificate %d of a batch that verifies is not remembered", i)
		}
	}

	var bad protocol.Certificate
	if err := codec.Unmarshal(codec.Marshal(good[1]), &bad); err != nil {
		t.Fatal(err)
	}
	bad.Signatures[0].Signature = bad.Signatures[1].Signature
	w = newWorker()
	w.PreverifyCertificateBatch(ctx, []*protocol.Certificate{good[0], &bad, good[2]})
	for i, c := range []*protocol.Certificate{good[0], &bad, good[2]} {
		if verified(w, c) {
			t.Errorf("certificate %d of a batch that does not verify is remembered", i)
		}
	}
	if _, err := w.HandleCertificate(ctx, &bad); !base.IsInvalid(err) {
		t.Errorf("forged certificate: %v, want an invalid-input refusal", err)
	}
}
