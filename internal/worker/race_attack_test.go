package worker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
)

type stillClock struct{}

func (stillClock) Now() base.Timestamp { return 10_000_000 }

// raceSetup returns a validator with at most maxLoaded chains in memory, the genesis
// chain ids and alice, the super owner of chain 0.
func raceSetup(t *testing.T, maxLoaded int) (*Worker, []base.ChainID, *crypto.PrivateKey) {
	t.Helper()
	keys := prototest.Validators(4)
	alice := prototest.Key("alice")
	owners := []*crypto.PrivateKey{alice}
	for i := 0; i < 6; i++ {
		owners = append(owners, prototest.Key(fmt.Sprintf("owner%d", i)))
	}
	g := prototest.Genesis(prototest.Committee(keys), owners, base.Tokens(100))
	db := memkv.New()
	t.Cleanup(func() { _ = db.Close() })
	st := storage.New(db)
	var b kv.Batch
	storage.PutGenesis(&b, g)
	if err := st.Write(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return New(Config{Storage: st, Signer: keys[0], Clock: stillClock{}, MaxLoadedChains: maxLoaded}), g.ChainIDs(), alice
}

func raceProposal(t *testing.T, alice *crypto.PrivateKey, chains []base.ChainID, amount uint64) *protocol.BlockProposal {
	t.Helper()
	o := alice.Public().Owner()
	b := protocol.ProposedBlock{ChainID: chains[0], Height: 0, Timestamp: 5_000_000, AuthenticatedOwner: &o,
		Transactions: []protocol.Transaction{protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: chains[1]}, Amount: base.Tokens(amount)})}}
	p, err := protocol.SignProposal(alice, b, base.FastRound, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAttackEvictionRace stops a request between finding a chain's entry and locking it,
// evicts the entry, lets another request vote at the same height on a fresh entry, and
// resumes the first: it must not sign a second, different confirmed vote.
func TestAttackEvictionRace(t *testing.T) {
	ctx := context.Background()
	w, chains, alice := raceSetup(t, 1)
	if _, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: chains[0]}); err != nil {
		t.Fatal(err) // chain 0 loaded in its entry
	}
	arrived, release := make(chan struct{}), make(chan struct{})
	var stopped atomic.Bool
	w.afterEntry = func(id base.ChainID) {
		if id == chains[0] && stopped.CompareAndSwap(false, true) {
			close(arrived)
			<-release
		}
	}
	type result struct {
		info *protocol.ChainInfo
		err  error
	}
	first := make(chan result, 1)
	go func() {
		info, err := w.HandleBlockProposal(ctx, raceProposal(t, alice, chains, 1))
		first <- result{info, err}
	}()
	<-arrived
	// Another chain evicts chain 0's idle entry; a second proposal votes on a new entry.
	if _, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: chains[1]}); err != nil {
		t.Fatal(err)
	}
	second, err := w.HandleBlockProposal(ctx, raceProposal(t, alice, chains, 2))
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	r := <-first
	if r.err == nil && r.info.Manager.PendingVote != nil && second.Manager.PendingVote != nil &&
		r.info.Manager.PendingVote.Value.ValueHash != second.Manager.PendingVote.Value.ValueHash {
		t.Fatal("the validator signed two different confirmed votes at one height")
	}
}

// TestAttackEvictionRaceStress runs many proposals at one height concurrently with
// queries that keep evicting, and checks that at most one block got a vote.
func TestAttackEvictionRaceStress(t *testing.T) {
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		w, chains, alice := raceSetup(t, 2)
		var mu sync.Mutex
		voted := map[base.Hash]bool{}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 20; j++ {
					if _, err := w.HandleChainInfoQuery(ctx, &protocol.ChainInfoQuery{ChainID: chains[1+(g+j)%6]}); err != nil {
						t.Error(err)
						return
					}
					info, err := w.HandleBlockProposal(ctx, raceProposal(t, alice, chains, uint64(1+g)))
					if err == nil && info.Manager.PendingVote != nil {
						mu.Lock()
						voted[info.Manager.PendingVote.Value.ValueHash] = true
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if len(voted) > 1 {
			t.Fatalf("round %d: the validator voted for %d different blocks at one height", round, len(voted))
		}
	}
}
