package worker_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// reloadingStore reloads every chain's consensus manager from the store after each
// write, as a validator restarted right after that write would: the stored manager must
// decode, and its canonical bytes are kept for the comparison with the live manager.
type reloadingStore struct {
	kv.Store
	tb     testing.TB
	ids    []base.ChainID
	writes int
	last   map[base.ChainID][]byte // the manager reloaded after the latest write
}

func (s *reloadingStore) reload(ctx context.Context) {
	s.writes++
	for _, id := range s.ids {
		store := storage.New(s.Store)
		st := chain.Load(id, store.ChainContext(id))
		st.UseCertificates(storageCertificates{store}) // as the worker loads a chain
		if ok, err := st.IsInitialized(ctx); err != nil || !ok {
			continue
		}
		m, err := st.Manager(ctx)
		if err != nil {
			s.tb.Fatalf("write %d: chain %s: manager does not reload: %v", s.writes, id.Short(), err)
		}
		s.last[id] = codec.Marshal(m)
	}
}

// storageCertificates reads a store's confirmed certificates for a chain's state
// (chain.CertificateReader), as the worker's reader does without its cache: the
// register refers to the bundles its proposal receives.
type storageCertificates struct{ s *storage.Storage }

func (c storageCertificates) HasCertificate(ctx context.Context, _ base.ChainID, _ base.BlockHeight, hash base.Hash) (bool, error) {
	return c.s.HasCertificate(ctx, hash)
}

func (c storageCertificates) Certificate(ctx context.Context, _ base.ChainID, _ base.BlockHeight, hash base.Hash) (*protocol.Certificate, error) {
	return c.s.Certificate(ctx, hash)
}

func (s *reloadingStore) Write(ctx context.Context, b *kv.Batch) error {
	if err := s.Store.Write(ctx, b); err != nil {
		return err
	}
	s.reload(ctx)
	return nil
}

func (s *reloadingStore) WriteLazy(ctx context.Context, b *kv.Batch) error {
	write := s.Store.Write
	if lw, ok := s.Store.(kv.LazyWriter); ok {
		write = lw.WriteLazy
	}
	if err := write(ctx, b); err != nil {
		return err
	}
	s.reload(ctx)
	return nil
}

// TestManagerReloadsAfterEveryWrite runs a ring of chains on one validator (fast votes
// on 1- and 100-transfer blocks, certificates, deliveries) and, after every write to the
// store, reloads each chain's consensus manager from it: after each request the manager
// reloaded from the last write is exactly (codec.Marshal) the validator's in-memory
// manager, and the vote a proposal's answer carries is in the stored manager, that is
// durable before the answer.
func TestManagerReloadsAfterEveryWrite(t *testing.T) {
	const chains = 3
	db := &reloadingStore{Store: memkv.New(), tb: t, last: map[base.ChainID][]byte{}}
	r := newValidatorRing(t, chains, db, nil)
	db.ids = r.ids
	ctx := context.Background()
	compare := func(when string) {
		t.Helper()
		for _, id := range r.ids {
			s := worker.LoadedState(r.w, id)
			if s == nil {
				continue
			}
			m, err := s.Manager(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(codec.Marshal(m), db.last[id]) {
				t.Fatalf("%s: chain %s: the manager reloaded after write %d differs from the validator's", when, id.Short(), db.writes)
			}
		}
	}
	for n := range 4 * chains {
		transfers := 1
		if n%2 == 1 {
			transfers = 100
		}
		calls := 0
		r.block(t, transfers, func(f func() error) {
			if err := f(); err != nil {
				t.Fatal(err)
			}
			calls++
			compare([]string{"query", "proposal", "certificate", "delivery"}[calls-1])
		})
	}
	if db.writes < 3*4*chains {
		t.Fatalf("only %d writes", db.writes)
	}

	// The answer to a proposal carries a vote the stored manager holds.
	i := r.next
	info, err := r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(r.ids[i]))
	if err != nil {
		t.Fatal(err)
	}
	prop := r.proposal(t, i, info, 100)
	answer, err := r.w.HandleBlockProposal(ctx, prop)
	if err != nil {
		t.Fatal(err)
	}
	if answer.Manager.PendingVote == nil {
		t.Fatal("no vote in the answer")
	}
	store := storage.New(db.Store)
	st := chain.Load(r.ids[i], store.ChainContext(r.ids[i]))
	st.UseCertificates(storageCertificates{store})
	stored, err := st.Manager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := stored.Info(false).PendingVote
	if got == nil || !bytes.Equal(codec.Marshal(got), codec.Marshal(answer.Manager.PendingVote)) {
		t.Fatal("the vote answered is not the stored manager's")
	}
}

// TestInboxReloadsAfterRestart: the bundles delivered on a validator are queued as
// references to their senders' certificates, one entry per sending block (the header and
// the transaction indexes, chain.State.UseCertificates), and a validator restarted on the
// store (a new worker, nothing cached) lists exactly the pending bundles the first one
// did, and receives them in its next blocks.
func TestInboxReloadsAfterRestart(t *testing.T) {
	const chains = 4
	ctx := context.Background()
	db := memkv.New()
	r := newValidatorRing(t, chains, db, nil)
	for range 2 * chains {
		r.block(t, 100, nil)
	}
	// An entry of 100 references: layout byte 1, height, timestamp, certificate hash,
	// the count (one byte) and 100 u32 indexes.
	const groupOf100Refs = 1 + 8 + 8 + 32 + 1 + 100*4
	groups, others := 0, 0
	count := func(v []byte) {
		if len(v) == groupOf100Refs && v[0] == 1 {
			groups++
		} else {
			others++
		}
	}
	if err := db.Scan(ctx, []byte{'C'}, func(k, v []byte) error {
		if keyKind(k) != "chain view 11" || len(k) < 33+1+32+2 {
			return nil // not an inbox queue's key
		}
		switch k[33+1+32+1] {
		case 1: // an entry under its own key
			count(v)
		case 0: // a queue's header, which holds a short queue's entries (views.Queue)
			r := codec.NewReader(v)
			r.U64()
			r.U64()
			if r.Remaining() > 0 {
				for range r.Uleb() {
					count(r.VarBytes())
				}
			}
			if err := r.Finish(); err != nil {
				t.Fatalf("inbox queue header: %v", err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The ring's last block's 100 bundles wait in the next chain's inbox.
	if groups != 1 || others != 0 {
		t.Fatalf("%d inbox entries of 100 references and %d others, want one of references", groups, others)
	}
	pending := func() [][]byte {
		var out [][]byte
		for _, id := range r.ids {
			info, err := r.w.HandleChainInfoQuery(ctx, chainInfoQueryWithBundles(id))
			if err != nil {
				t.Fatal(err)
			}
			bundles, err := info.PendingBundles()
			if err != nil {
				t.Fatal(err)
			}
			var w codec.Writer
			codec.EncodeItems(&w, bundles)
			out = append(out, w.Bytes())
		}
		return out
	}
	before := pending()
	r.w = worker.New(worker.Config{Storage: storage.New(db), Signer: r.vkeys[0], Clock: fixedClock{10_000_000}})
	after := pending()
	for i := range before {
		if !bytes.Equal(before[i], after[i]) {
			t.Fatalf("chain %d: the restarted validator lists other pending bundles", i)
		}
	}
	for range chains {
		if got := r.block(t, 100, nil); got != 100 {
			t.Fatalf("a block after the restart receives %d bundles, want 100", got)
		}
	}
}
