package chain

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestAttackPendingBundlesReadWithinTheAnswersBytes: 100 bundles of 1 MiB wait in a
// chain's inbox, each sent by a block of the origin (one large message, or 10,000
// transfers) and held by reference to its certificate, as validators hold them. A
// chain-info query (anyone may send one) lists at most 16 MiB of them; it used to read
// every bundle up to the count's 10,000 first, resolving each from its certificate
// (100 certificates here, 10,000 with 10 GB of bundles), and trim the answer afterwards.
// Now it reads the certificates of what it lists and one more.
func TestAttackPendingBundlesReadWithinTheAnswersBytes(t *testing.T) {
	const n, size, limit, maxBytes = 100, 1 << 20, 10_000, 16 << 20
	ctx := context.Background()
	ss := newStateStore(t)
	certs := &certMap{m: map[base.Hash]*protocol.Certificate{}}
	s := ss.load()
	s.UseCertificates(certs)
	origin := base.ChainID{2}
	for h := range base.BlockHeight(n) {
		p := protocol.ProposedBlock{ChainID: origin, Height: h, Timestamp: base.Timestamp(1000 + h),
			Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Amount: base.AmountFromAttos(1)})}}
		o := protocol.BlockExecutionOutcome{
			Messages: [][]protocol.OutgoingMessage{{{Destination: ss.id, Kind: protocol.Tracked,
				Message: protocol.Message{App: base.ApplicationID{1}, Bytes: make([]byte, size)}}}},
			OracleResponses: [][]protocol.OracleResponse{nil}, Events: [][]protocol.Event{nil},
			Blobs: [][]protocol.Blob{nil}, OperationResults: [][]byte{{}},
		}
		cert := &protocol.Certificate{Kind: protocol.KindConfirmed, Block: protocol.NewBlock(p, o)}
		certs.m[cert.Block.Hash()] = cert
		var ebs []protocol.EpochBundle
		for _, b := range cert.Block.OutgoingBundlesTo(ss.id) {
			ebs = append(ebs, protocol.EpochBundle{Bundle: b})
		}
		if _, err := s.ReceiveBundles(ctx, origin, ebs); err != nil {
			t.Fatal(err)
		}
		ss.flush(t, s)
	}
	fresh := ss.load()
	fresh.UseCertificates(certs)
	certs.reads = 0
	p, err := fresh.PendingBundleBytes(ctx, limit, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bundles listed, %d certificates read", p.Len(), certs.reads)
	if want := maxBytes / (size + 128); p.Len() != want {
		t.Errorf("%d bundles listed, want the %d that fit in %d bytes", p.Len(), want, maxBytes)
	}
	if certs.reads > p.Len()+1 {
		t.Errorf("%d certificates of 1 MiB read to list %d bundles; want at most %d", certs.reads, p.Len(), p.Len()+1)
	}
}
