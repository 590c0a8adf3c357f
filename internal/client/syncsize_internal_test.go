package client

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sync/semaphore"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// cannedCertificates is a ValidatorNode whose downloads answer certs (its other
// methods are not called).
type cannedCertificates struct {
	ValidatorNode
	certs []*protocol.Certificate
}

func (n cannedCertificates) Certificates(context.Context, base.ChainID, base.BlockHeight, base.BlockHeight) ([]*protocol.Certificate, error) {
	return n.certs, nil
}

// transferCerts returns the confirmed certificates of n blocks of chain id from height
// 0, each of tx transfers from owner's chain account, the first with an operation result
// of result bytes (a large block's certificate), signed by keys.
func transferCerts(id base.ChainID, owner base.Owner, keys []*crypto.PrivateKey, n, tx, result int) []*protocol.Certificate {
	var certs []*protocol.Certificate
	for h := range n {
		b := prototest.TransferBlock(id, base.BlockHeight(h), nil, owner, base.Account{Chain: base.ChainID{2}}, tx)
		b.Outcome.OperationResults[0] = make([]byte, result)
		certs = append(certs, prototest.Certify(protocol.KindConfirmed, b, nil, base.Round{}, keys))
	}
	return certs
}

// BenchmarkAnswerBytes: what sizing a full sync answer costs (syncfast.go): 100
// certificates of 1 or 100 transfers, 4 of 4 MiB each.
func BenchmarkAnswerBytes(b *testing.B) {
	keys := prototest.Validators(4)
	owner := prototest.Key("alice").Public().Owner()
	for _, tc := range []struct {
		name          string
		n, tx, result int
	}{{"100x1tx", 100, 1, 0}, {"100x100tx", 100, 100, 0}, {"4x4MiB", 4, 1, 4 << 20}} {
		certs := transferCerts(base.ChainID{1}, owner, keys, tc.n, tc.tx, tc.result)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				answerBytes(certs)
			}
		})
	}
}

// BenchmarkTransferWork: what the extension of a block's calls costs to compute
// (deadline.go) for a block of 1 and of 100 transfers.
func BenchmarkTransferWork(b *testing.B) {
	c := New(Config{})
	keys := prototest.Validators(4)
	owner := prototest.Key("alice").Public().Owner()
	for _, tx := range []int{1, 100} {
		block := transferCerts(base.ChainID{1}, owner, keys, 1, tx, 0)[0].Block.Proposed
		b.Run(fmt.Sprintf("%dtx", tx), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.transferWork(context.Background(), &block, nil)
			}
		})
	}
}

// TestShortSyncAnswerNotSized: a short answer keeps its job's receive limit, so its
// size is not needed: the client does not encode its certificates again to learn it (a
// short answer is typically one of large blocks, which the validator cut at its answer
// limit; sizing each copied it whole). A full answer still holds just its bytes.
func TestShortSyncAnswerNotSized(t *testing.T) {
	ctx := context.Background()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	owner := alice.Public().Owner()
	genesis := prototest.Genesis(prototest.Committee(keys), []*crypto.PrivateKey{alice}, base.Tokens(10))
	id := genesis.ChainIDs()[0]
	st := storage.New(memkv.New())
	var b kv.Batch
	storage.PutGenesis(&b, genesis)
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	const result = 4 << 20
	certs := transferCerts(id, owner, keys, 4, 1, result)
	c := New(Config{Local: worker.New(worker.Config{Storage: st, Clock: atOne()})})
	const limit = 64 << 20
	run := func(to base.BlockHeight) (*syncJob, uint64) {
		budget := semaphore.NewWeighted(limit)
		if !budget.TryAcquire(limit) {
			t.Fatal("no budget")
		}
		src := &syncSource{v: Validator{PublicKey: keys[0].Public(), Node: cannedCertificates{certs: certs}}, next: to}
		j := &syncJob{from: 0, to: to, held: limit}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c.runSyncJob(ctx, id, j, []*syncSource{src}, budget, limit)
		runtime.ReadMemStats(&after)
		if j.err != nil {
			t.Fatal(j.err)
		}
		return j, after.TotalAlloc - before.TotalAlloc
	}
	// The full answer first: it also loads the chain, which the short one then finds.
	full, _ := run(4)
	if want := answerBytes(certs); full.held != want {
		t.Errorf("a full answer holds %d bytes, want its %d", full.held, want)
	}
	short, allocated := run(syncBatch)
	t.Logf("a short answer of 4 certificates of %d bytes: %d bytes allocated", result, allocated)
	if short.held != limit {
		t.Errorf("a short answer holds %d bytes, want its receive limit %d", short.held, limit)
	}
	if allocated >= result {
		t.Errorf("a short answer of 4 certificates of %d bytes each allocated %d bytes: its certificates were encoded again", result, allocated)
	}
}
