package worker_test

import (
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// TestAttackCertificatesBoundedByBytes: a chain of large blocks (a stranger's may hold
// blocks of MaxBlockSize) downloaded from a worker in process (a client's local node,
// the simulator's validators). Worker.Certificates bounded the count only (500): 10
// blocks of 4 MiB came back whole, 40 MiB, where a validator's download answers 32 MiB.
// It now answers what fits in 32 MiB and the caller asks again from there.
func TestAttackCertificatesBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	db := memkv.New()
	t.Cleanup(func() { _ = db.Close() })
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, f.genesis)
	id := f.chains[0]
	const heights, opBytes = 10, 4 << 20
	var prev *base.Hash
	size := 0
	for h := range heights {
		op := protocol.Operation{App: base.ApplicationID{1}, Bytes: make([]byte, opBytes)}
		block := protocol.NewBlock(protocol.ProposedBlock{ChainID: id, Height: base.BlockHeight(h), PreviousBlockHash: prev,
			Transactions: []protocol.Transaction{{Operation: &op}}}, protocol.BlockExecutionOutcome{
			Messages: make([][]protocol.OutgoingMessage, 1), OracleResponses: make([][]protocol.OracleResponse, 1),
			Events: make([][]protocol.Event, 1), Blobs: make([][]protocol.Blob, 1), OperationResults: make([][]byte, 1)})
		cert := &protocol.Certificate{Kind: protocol.KindConfirmed, Block: block}
		size = len(codec.Marshal(cert))
		storage.PutCertificate(&b, cert)
		hash := block.Hash()
		prev = &hash
	}
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	w := worker.New(worker.Config{Storage: st, Clock: fixedClock{10_000_000}})
	var got []*protocol.Certificate
	for from := base.BlockHeight(0); from < heights; {
		certs, err := w.Certificates(ctx, id, from, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(certs) == 0 {
			t.Fatalf("no certificate from height %d", from)
		}
		if n := len(certs) * size; n > 32<<20 && len(certs) > 1 {
			t.Errorf("from height %d: %d certificates of %d bytes (%d MiB), want at most 32 MiB", from, len(certs), size, n>>20)
		}
		got = append(got, certs...)
		from += base.BlockHeight(len(certs))
	}
	for i, c := range got {
		if c.Height() != base.BlockHeight(i) {
			t.Fatalf("certificate %d is of height %d", i, c.Height())
		}
	}
}
