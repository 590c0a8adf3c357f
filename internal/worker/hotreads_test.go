package worker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/worker"
)

// readCountingStore counts the keys read from a store (a Get or a MultiGet key is one read,
// a Scan is one read), by the part of the store they belong to (readKind).
type readCountingStore struct {
	kv.Store
	mu    sync.Mutex
	reads map[string]int
}

func newReadCountingStore() *readCountingStore {
	return &readCountingStore{Store: memkv.New(), reads: map[string]int{}}
}

func (s *readCountingStore) count(key []byte, scan bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[readKind(key, scan)]++
}

func (s *readCountingStore) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	s.count(key, false)
	return s.Store.Get(ctx, key)
}

func (s *readCountingStore) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	for _, k := range keys {
		s.count(k, false)
	}
	return s.Store.MultiGet(ctx, keys)
}

func (s *readCountingStore) Scan(ctx context.Context, prefix []byte, fn func(key, value []byte) error) error {
	s.count(prefix, true)
	return s.Store.Scan(ctx, prefix, fn)
}

// take returns the reads counted since the last take and resets them.
func (s *readCountingStore) take() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reads
	s.reads = map[string]int{}
	return r
}

// Names of a chain's sub-views (chain/state.go, execution/state.go), for the report.
var (
	chainViewNames = map[byte]string{1: "exec", 2: "tip", 3: "manager", 6: "received", 7: "initialized",
		8: "outboxes", 9: "outbox-queue", 10: "inboxes", 11: "inbox-queue"}
	execViewNames = map[byte]string{1: "description", 2: "epoch", 3: "admin", 4: "committees", 5: "ownership",
		6: "chain-balance", 7: "balances", 8: "closed", 9: "permissions", 10: "timestamp", 11: "app-storage",
		12: "stream-counts", 13: "subscriptions", 14: "subscription-count"}
)

// readKind names the part of the store a key belongs to: "chain/<view>" (and
// "chain/exec/<view>") for chain states, else the storage prefix letter.
func readKind(key []byte, scan bool) string {
	name := "?"
	switch {
	case len(key) == 0:
	case key[0] == 'C' && len(key) > 1+base.HashSize:
		tag := key[1+base.HashSize]
		name = "chain/" + chainViewNames[tag]
		if tag == 1 && len(key) > 2+base.HashSize {
			name += "/" + execViewNames[key[2+base.HashSize]]
		}
	default:
		name = string(key[:1])
	}
	if scan {
		name += " (scan)"
	}
	return name
}

// chainReads sums the reads of chain states in r.
func chainReads(r map[string]int) int {
	n := 0
	for k, v := range r {
		if strings.HasPrefix(k, "chain/") {
			n += v
		}
	}
	return n
}

func formatReads(r map[string]int, blocks int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(r)) {
		fmt.Fprintf(&b, "\n  %-32s %6.2f per block", k, float64(r[k])/float64(blocks))
	}
	return b.String()
}

// hotNetwork is one validator and one client's local node, each over its own counting
// store, with n single-owner chains in a ring (chain i sends a transfer to chain i+1 in
// each of its blocks and receives what chain i-1 sent). block drives one block of chain
// i through the calls a real network makes per block in steady state.
type hotNetwork struct {
	keys      []*crypto.PrivateKey
	committee *protocol.Committee
	owners    []*crypto.PrivateKey
	chains    []base.ChainID
	vdb, cdb  *readCountingStore
	v, c      *worker.Worker
	tips      []*base.Hash
	heights   []base.BlockHeight
	// answers are the validator's answers to each chain's last certificate's query.
	answers []*protocol.ChainInfo
	// ownerTransfers makes each block also send to the next chain's owner account and,
	// when it receives bundles, spend from its own owner's account.
	ownerTransfers bool
	// skipVote makes the next block's certificate reach the validator without its
	// proposal (the validator executes it then).
	skipVote bool
	// noLocalDelivery: the client's local node runs no delivery pass, as a real
	// client's (mica's session) does not.
	noLocalDelivery bool
}

func newHotNetwork(t *testing.T, n int) *hotNetwork {
	t.Helper()
	h := &hotNetwork{keys: prototest.Validators(4)}
	h.committee = prototest.Committee(h.keys)
	for i := range n {
		h.owners = append(h.owners, prototest.Key(fmt.Sprintf("owner-%d", i)))
	}
	g := prototest.Genesis(h.committee, h.owners, base.Tokens(1_000))
	h.chains = g.ChainIDs()
	h.vdb, h.cdb = newReadCountingStore(), newReadCountingStore()
	t.Cleanup(func() { _ = h.vdb.Close(); _ = h.cdb.Close() })
	h.v = worker.New(worker.Config{Storage: genesisStore(t, h.vdb, g), Signer: h.keys[0], Clock: fixedClock{10_000_000}})
	h.c = worker.New(worker.Config{Storage: genesisStore(t, h.cdb, g), Clock: fixedClock{10_000_000}})
	h.tips = make([]*base.Hash, n)
	h.heights = make([]base.BlockHeight, n)
	h.answers = make([]*protocol.ChainInfo, n)
	return h
}

// readLocal reads what the client reads from its local node to build a block
// (client.readLocal).
func (h *hotNetwork) readLocal(t *testing.T, id base.ChainID) {
	t.Helper()
	ctx := context.Background()
	err := h.c.ChainState(ctx, id, func(s *chain.State) error {
		if _, err := s.Tip(ctx); err != nil {
			return err
		}
		ex := s.Execution()
		if _, err := ex.Epoch(ctx); err != nil {
			return err
		}
		if _, err := ex.Committees(ctx); err != nil {
			return err
		}
		if _, err := ex.Ownership(ctx); err != nil {
			return err
		}
		if _, err := ex.IsClosed(ctx); err != nil {
			return err
		}
		_, err := ex.AdminChain(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// nextBlock returns chain i's next block: the bundles the validator's last answer
// listed, and transfers.
func (h *hotNetwork) nextBlock(t *testing.T, i int) *protocol.ProposedBlock {
	t.Helper()
	id := h.chains[i]
	ans := h.answers[i]
	if ans == nil {
		var err error
		if ans, err = h.v.HandleChainInfoQuery(context.Background(), h.query(i)); err != nil {
			t.Fatal(err)
		}
		h.answers[i] = ans
	}
	o := h.owners[i].Public().Owner()
	next := (i + 1) % len(h.chains)
	p := &protocol.ProposedBlock{ChainID: id, Height: h.heights[i], Timestamp: 5_000_000, PreviousBlockHash: h.tips[i], AuthenticatedOwner: &o}
	for j := range ans.RequestedPendingBundles {
		p.Transactions = append(p.Transactions, protocol.ReceiveTx(ans.RequestedPendingBundles[j]))
	}
	p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
		Recipient: base.Account{Chain: h.chains[next]}, Amount: base.AmountFromAttos(1)}))
	if h.ownerTransfers {
		p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
			Recipient: base.Account{Chain: h.chains[next], Owner: h.owners[next].Public().Owner()}, Amount: base.AmountFromAttos(3)}))
		if len(ans.RequestedPendingBundles) > 0 {
			p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: o,
				Recipient: base.Account{Chain: h.chains[next]}, Amount: base.AmountFromAttos(1)}))
		}
	}
	return p
}

func (h *hotNetwork) query(i int) *protocol.ChainInfoQuery {
	return &protocol.ChainInfoQuery{ChainID: h.chains[i], RequestPendingBundles: true, RequestManagerValues: true}
}

// block makes chain i's next block: the client reads its local replica and stages the
// block (nextBlock), the validator votes, the certificate (carrying the next block's
// query) goes to the validator and to the client's local node, and both deliver the
// block's bundles.
func (h *hotNetwork) block(t *testing.T, i int) {
	t.Helper()
	ctx := context.Background()
	h.readLocal(t, h.chains[i])
	p := h.nextBlock(t, i)
	staged, err := h.c.StageBlock(ctx, p, nil)
	if err != nil {
		t.Fatalf("stage block %d of chain %d: %v", p.Height, i, err)
	}
	if !h.skipVote {
		prop, err := protocol.SignProposal(h.owners[i], *p, base.FastRound, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.v.HandleBlockProposal(ctx, prop); err != nil {
			t.Fatalf("proposal %d of chain %d: %v", p.Height, i, err)
		}
	}
	cert := prototest.Certify(protocol.KindConfirmed, staged, nil, base.FastRound, h.keys)
	if h.answers[i], err = h.v.HandleCertificateQuery(ctx, cert, nil, h.query(i)); err != nil {
		t.Fatalf("certificate %d of chain %d: %v", p.Height, i, err)
	}
	if _, err := h.c.HandleVerifiedCertificate(ctx, cert, h.committee); err != nil {
		t.Fatalf("local certificate %d of chain %d: %v", p.Height, i, err)
	}
	for _, w := range []*worker.Worker{h.v, h.c} {
		if w == h.c && h.noLocalDelivery {
			continue
		}
		if err := w.DeliverPending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hash := staged.Hash()
	h.tips[i] = &hash
	h.heights[i]++
}

// round makes one block on every chain, in order.
func (h *hotNetwork) round(t *testing.T) {
	t.Helper()
	for i := range h.chains {
		h.block(t, i)
	}
}

// In steady state a block reads nothing of its chain's state from the store, on the
// validator (proposal, certificate with its query, delivery of its bundles and of the
// confirmation) or on the client's local node (the reads of prepare, staging, the
// certificate, delivery): the chain states kept in memory between blocks hold all of it.
func TestSteadyStateBlockReadsNoChainState(t *testing.T) {
	const chains, rounds = 3, 10
	h := newHotNetwork(t, chains)
	for range 2 { // loads every chain and delivers into every inbox once
		h.round(t)
	}
	h.vdb.take()
	h.cdb.take()
	for range rounds {
		h.round(t)
	}
	blocks := chains * rounds
	v, c := h.vdb.take(), h.cdb.take()
	t.Logf("validator's reads:%s", formatReads(v, blocks))
	t.Logf("client's local node's reads:%s", formatReads(c, blocks))
	// Allowed: none. Every key of a chain's state that a block reads was read or written
	// by an earlier block of the same chain or by a delivery to it.
	if n := chainReads(v); n > 0 {
		t.Errorf("the validator read %.2f keys of chain states per block, want 0", float64(n)/float64(blocks))
	}
	if n := chainReads(c); n > 0 {
		t.Errorf("the client's local node read %.2f keys of chain states per block, want 0", float64(n)/float64(blocks))
	}
}

// chainDigest reads everything a chain's state answers through worker w (its kept
// state if it holds one) and encodes it.
func chainDigest(t *testing.T, w *worker.Worker, id base.ChainID) string {
	t.Helper()
	ctx := context.Background()
	var out strings.Builder
	err := w.ChainState(ctx, id, func(s *chain.State) error {
		add := func(name string, v any, err error) error {
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if e, ok := v.(codec.Encoder); ok {
				v = fmt.Sprintf("%x", codec.Marshal(e))
			}
			fmt.Fprintf(&out, "%s=%v\n", name, v)
			return nil
		}
		ex := s.Execution()
		tip, err := s.Tip(ctx)
		if err := add("tip", &tip, err); err != nil {
			return err
		}
		desc, err := ex.Description(ctx)
		if err := add("description", desc, err); err != nil {
			return err
		}
		for name, f := range map[string]func(context.Context) (any, error){
			"epoch":       func(ctx context.Context) (any, error) { return ex.Epoch(ctx) },
			"admin":       func(ctx context.Context) (any, error) { return ex.AdminChain(ctx) },
			"closed":      func(ctx context.Context) (any, error) { return ex.IsClosed(ctx) },
			"timestamp":   func(ctx context.Context) (any, error) { return ex.Timestamp(ctx) },
			"balance":     func(ctx context.Context) (any, error) { return ex.ChainBalance(ctx) },
			"total":       func(ctx context.Context) (any, error) { return ex.TotalBalance(ctx) },
			"committees":  func(ctx context.Context) (any, error) { return ex.Committees(ctx) },
			"committees2": func(ctx context.Context) (any, error) { return s.Committees(ctx) },
			"ownership": func(ctx context.Context) (any, error) {
				o, err := ex.Ownership(ctx)
				return &o, err
			},
			"permissions": func(ctx context.Context) (any, error) {
				p, err := ex.Permissions(ctx)
				return &p, err
			},
			"subscriptions": func(ctx context.Context) (any, error) { return ex.Subscriptions(ctx) },
			"manager": func(ctx context.Context) (any, error) {
				m, err := s.Manager(ctx)
				if err != nil {
					return nil, err
				}
				info := m.Info(true)
				return &info, nil
			},
			"pending": func(ctx context.Context) (any, error) {
				bs, err := s.PendingBundles(ctx, 1000, math.MaxInt)
				var b strings.Builder
				for j := range bs {
					fmt.Fprintf(&b, "%x;", codec.Marshal(&bs[j]))
				}
				return b.String(), err
			},
			"received": func(ctx context.Context) (any, error) {
				log, n, err := s.ReceivedLog(ctx, 0, 1000)
				return fmt.Sprint(n, log), err
			},
			"outboxes": func(ctx context.Context) (any, error) {
				rs, err := s.NonEmptyOutboxes(ctx)
				if err != nil {
					return nil, err
				}
				var b strings.Builder
				for _, r := range rs {
					hs, err := s.OutboxHeights(ctx, r)
					if err != nil {
						return nil, err
					}
					fmt.Fprint(&b, r, hs)
				}
				return b.String(), nil
			},
		} {
			v, err := f(ctx)
			if err := add(name, v, err); err != nil {
				return err
			}
		}
		return ex.OwnerBalances(ctx, func(o base.Owner, a base.Amount) error {
			return add("owner "+o.String(), a, nil)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	slices.Sort(lines) // the map above is iterated in random order
	return strings.Join(lines, "\n")
}

// reloadedDigest is chainDigest of a worker that loads the chain afresh from w's store.
func reloadedDigest(t *testing.T, w *worker.Worker, id base.ChainID) string {
	t.Helper()
	return chainDigest(t, worker.New(worker.Config{Storage: w.Storage(), Clock: fixedClock{10_000_000}}), id)
}

// The chain states a validator and a client's local node keep in memory between blocks
// answer exactly as states loaded afresh from their stores, after every block of many,
// among which: proposals refused after their execution staged changes (an overdraft
// after the bundles and a transfer), proposals receiving a bundle never delivered,
// staging refused on the client, and certificates of blocks the validator did not vote
// for (executed on the kept state).
func TestKeptStateEqualsReloadAfterManyBlocks(t *testing.T) {
	const chains, rounds = 3, 12
	ctx := context.Background()
	h := newHotNetwork(t, chains)
	h.ownerTransfers = true
	check := func(when string) {
		t.Helper()
		for _, w := range []*worker.Worker{h.v, h.c} {
			for _, id := range h.chains {
				if got, want := chainDigest(t, w, id), reloadedDigest(t, w, id); got != want {
					t.Fatalf("%s: chain %s: kept state differs from a reload:\nkept:\n%s\nreload:\n%s", when, id.Short(), got, want)
				}
			}
		}
	}
	for r := range rounds {
		for i := range h.chains {
			n := r*chains + i
			id := h.chains[i]
			o := h.owners[i].Public().Owner()
			if n%3 == 1 {
				// Staged changes (bundles received, a transfer), then an overdraft.
				p := h.nextBlock(t, i)
				p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner,
					Recipient: base.Account{Chain: h.chains[(i+1)%chains]}, Amount: base.Tokens(1_000_000)}))
				if _, err := h.c.StageBlock(ctx, p, nil); !errors.Is(err, execution.ErrInsufficientBalance) {
					t.Fatalf("staging an overdraft: %v", err)
				}
				prop, err := protocol.SignProposal(h.owners[i], *p, base.FastRound, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.v.HandleBlockProposal(ctx, prop); !errors.Is(err, execution.ErrInsufficientBalance) {
					t.Fatalf("proposing an overdraft: %v", err)
				}
				check(fmt.Sprintf("block %d: after an overdraft", n))
			}
			if n%4 == 2 {
				// A bundle that was never delivered.
				p := protocol.ProposedBlock{ChainID: id, Height: h.heights[i], Timestamp: 5_000_000, PreviousBlockHash: h.tips[i], AuthenticatedOwner: &o,
					Transactions: []protocol.Transaction{protocol.ReceiveTx(protocol.IncomingBundle{Origin: h.chains[(i+chains-1)%chains],
						Bundle: protocol.MessageBundle{Height: 1_000, Timestamp: 1}, Action: protocol.Accept})}}
				prop, err := protocol.SignProposal(h.owners[i], p, base.FastRound, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.v.HandleBlockProposal(ctx, prop); err == nil {
					t.Fatal("a proposal receiving a bundle never delivered was accepted")
				}
				check(fmt.Sprintf("block %d: after a missing bundle", n))
			}
			h.skipVote = n%5 == 3
			h.block(t, i)
			check(fmt.Sprintf("block %d", n))
		}
	}
}
