package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// Attack: a stranger sends a certificate for the sender's next height with signatures
// that do not verify, and keeps it "being handled" (here: held before it may look at
// the chain). A proposal receiving the bundle of that height must not wait for it: only
// a certificate whose signatures verified counts as on its way, so the proposal is
// refused at once, and the forged certificate is refused as invalid.
func TestForgedCertificateDoesNotDelayProposals(t *testing.T) {
	bf := newBundleFixture(t, 2*time.Second) // a wait shows as a delay, then a refusal
	close(bf.release)
	forged := prototest.Certify(protocol.KindConfirmed, bf.cert.Block, nil, base.FastRound, []*crypto.PrivateKey{prototest.Key("mallory")})
	var holding atomic.Bool
	entered, letGo := make(chan struct{}), make(chan struct{})
	worker.SetAfterEntry(bf.w, func(id base.ChainID) {
		if id == bf.f.chains[0] && holding.CompareAndSwap(true, false) {
			close(entered)
			<-letGo
		}
	})
	holding.Store(true)
	certDone := make(chan error, 1)
	go func() {
		_, err := bf.w.HandleCertificate(context.Background(), forged)
		certDone <- err
	}()
	<-entered
	_, err := bf.w.HandleBlockProposal(context.Background(), bf.receive(t, 0))
	close(letGo)
	if !chain.IsMissing(err) {
		t.Fatalf("proposal during the forged certificate: got %v, want a missing bundle", err)
	}
	if n := bf.waits.Load(); n != 0 {
		t.Errorf("the proposal waited %d times for a forged certificate", n)
	}
	if err := <-certDone; !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("forged certificate: got %v, want an invalid-input refusal", err)
	}
	// Its handling ended: nothing is left marked.
	if _, err := bf.w.HandleBlockProposal(context.Background(), bf.receive(t, 0)); !chain.IsMissing(err) || bf.waits.Load() != 0 {
		t.Fatalf("after the forged certificate: got %v after %d waits, want a missing bundle at once", err, bf.waits.Load())
	}
}
