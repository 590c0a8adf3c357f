package worker_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/consensus"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// steppingClock moves one second forward each time it is read.
type steppingClock struct {
	mu sync.Mutex
	t  base.Timestamp
}

func (c *steppingClock) Now() base.Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t += 1_000_000
	return c.t
}

// TestAttackQueryOfAnUnloadedGenesisChainWritesNothing: a stranger asks a validator
// about the genesis chains it has not loaded yet (with every part of the answer it may
// ask for). The query wrote each chain's initial state (11 keys): a read by a stranger
// made a write. It now answers from the initial state without persisting it, the same
// answer as from the persisted state; the first request that writes persists it.
func TestAttackQueryOfAnUnloadedGenesisChainWritesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	db := &writeCountingStore{Store: memkv.New()}
	t.Cleanup(func() { _ = db.Close() })
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, f.genesis)
	if err := st.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	db.reset()
	w := worker.New(worker.Config{Storage: st, Signer: f.keys[0], Clock: fixedClock{10_000_000}})
	alice := f.alice.Public().Owner()
	from := uint64(0)
	query := func(id base.ChainID) []byte {
		t.Helper()
		info, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id, RequestOwnerBalance: &alice,
			RequestPendingBundles: true, RequestManagerValues: true, RequestReceivedLogFrom: &from})
		if err != nil {
			t.Fatal(err)
		}
		return codec.Marshal(info)
	}
	preview := map[base.ChainID][]byte{}
	for range 3 {
		for _, id := range f.chains {
			preview[id] = query(id)
		}
	}
	if db.synced+db.lazy != 0 || db.keys != 0 {
		t.Fatalf("queries of %d unloaded genesis chains wrote %d keys in %d commits (%v)", len(f.chains), db.keys, db.synced+db.lazy, db.byKind)
	}
	// The answers are those of the persisted initial state, which a request that
	// writes stores.
	for _, id := range f.chains {
		if err := w.ChainState(ctx, id, func(*chain.State) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := query(id); !bytes.Equal(got, preview[id]) {
			t.Errorf("chain %s: the answer from the initial state in memory differs from the persisted one", id.Short())
		}
	}
	if db.keys == 0 {
		t.Fatal("loading the chains to write wrote nothing: the test does not see writes")
	}
}

// TestQueryTimeoutOfAnUnloadedChainPersists: a query that asks for a timeout vote loads
// the chain to write, also a chain not initialized yet: the round's timer runs from
// then (an initial state read from memory would start it anew at each query, and a
// round 0 that needs a timeout would never get one), and the vote, once due, is
// written before it leaves.
func TestQueryTimeoutOfAnUnloadedChainPersists(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	g := f.genesis
	owner := protocol.SingleOwner(f.alice.Public().Owner())
	// Round 0 is the last multi-leader round: it times out 5 s after it starts.
	owner.MultiLeaderRounds, owner.Timeouts = 1, protocol.TimeoutConfig{BaseTimeout: 5_000_000}
	g.Chains = append(g.Chains, protocol.GenesisChain{Ownership: owner, Balance: base.Tokens(1)})
	id := g.ChainIDs()[len(g.Chains)-1]
	db := &writeCountingStore{Store: memkv.New()}
	t.Cleanup(func() { _ = db.Close() })
	st := genesisStore(t, db, g)
	db.reset()
	clock := &steppingClock{t: 10_000_000}
	w := worker.New(worker.Config{Storage: st, Signer: f.keys[0], Clock: clock})
	q := &protocol.ChainInfoQuery{ChainID: id, RequestLeaderTimeout: &protocol.LeaderTimeoutRequest{Height: 0, Round: base.MultiLeader(0)}}
	var vote *protocol.Vote
	for i := 0; vote == nil; i++ {
		if i == 10 {
			t.Fatal("no timeout vote after 10 queries, 1 s apart, for a round of 5 s")
		}
		info, err := w.HandleChainInfoQuery(ctx, q)
		switch {
		case err == nil:
			vote = info.Manager.TimeoutVote
		case !errors.Is(err, consensus.ErrNotTimedOutYet):
			t.Fatal(err)
		}
	}
	fresh := worker.New(worker.Config{Storage: st, Signer: f.keys[0], Clock: clock})
	again, err := fresh.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: id})
	if err != nil {
		t.Fatal(err)
	}
	if v := again.Manager.TimeoutVote; v == nil || *v != *vote {
		t.Fatalf("after a reload the timeout vote is %v, want %v", v, vote)
	}
}
