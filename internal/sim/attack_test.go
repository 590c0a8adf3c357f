package sim

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
)

// The attack suite (go test -run Attack ./...): Byzantine validators attack the trust
// boundaries of DESIGN §9 (attacks.go), checked against invariants 1 to 7. A failure
// names the seed, the attacker's fault and the broken invariant; reproduce it with
// -run 'TestAttackSimulator/seed=N$', or print its trace with
// -run TestAttackSimulator -seed=N -v.

// attackConfig keeps each run small: 1,000 of them take a few seconds per core.
var attackConfig = Config{Chains: 3, Steps: 10, FaultTypes: AttackFaultTypes()}

// TestAttackSimulator runs 1,000 seeded runs (100 with -short) of 4 validators, one of
// them attacking with a fault drawn from AttackFaultTypes.
func TestAttackSimulator(t *testing.T) {
	runAttackSeeds(t, 1000, 100, attackConfig)
}

func runAttackSeeds(t *testing.T, n, short int, cfg Config) {
	if *seedFlag != 0 {
		res, err := Run(*seedFlag, cfg)
		logTrace(t, res)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if testing.Short() {
		n = short
	}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			res, err := Run(seed, cfg)
			if err != nil {
				// The trace is long; -seed=N prints it.
				t.Fatalf("%v\n%s\n(trace: go test ./internal/sim -run %s -seed=%d -v)", err, res.Summary(), t.Name()[:len(t.Name())-len(fmt.Sprintf("/seed=%d", seed))], seed)
			}
		})
	}
}

// runFault runs seeds with one validator of four attacking with fault f and returns
// the attacker's stats summed over the runs.
func runFault(t *testing.T, f Fault, seeds int) NodeStats {
	t.Helper()
	var sum NodeStats
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		cfg := attackConfig
		cfg.Faults = []Fault{None, f, None, None}
		res, err := Run(seed, cfg)
		if err != nil {
			t.Errorf("%v\n%s", err, res.Summary())
		}
		if len(res.Nodes) < 2 {
			continue
		}
		s := res.Nodes[1]
		sum.Lies += s.Lies
		sum.Equivocations += s.Equivocations
		sum.Attacks += s.Attacks
		sum.AttackAccepted += s.AttackAccepted
	}
	return sum
}

// TestAttackEquivocatingVotes: a validator signs conflicting votes (for every block it
// is asked about, of the wrong kind, for made-up blocks at the same height and round);
// no two blocks may be confirmed at one height, no client may count those votes.
func TestAttackEquivocatingVotes(t *testing.T) {
	s := runFault(t, EquivocatingVotes, 40)
	if s.Equivocations == 0 {
		t.Errorf("the attacker never signed two values at one height and round: %+v", s)
	}
}

// TestAttackGarbageAnswers: a validator answers clients with another chain's info,
// empty info, huge heights, votes with broken or borrowed signatures, certificates of
// other heights or chains and blobs that do not match their id; clients must neither
// believe it nor stall.
func TestAttackGarbageAnswers(t *testing.T) {
	s := runFault(t, GarbageAnswers, 40)
	if s.Lies == 0 {
		t.Errorf("the attacker never lied: %+v", s)
	}
}

// TestAttackBundlesFromNowhere: a validator reports inbox bundles no block sent (and
// hides the real ones); clients must not put them in blocks, nor stall.
func TestAttackBundlesFromNowhere(t *testing.T) {
	s := runFault(t, BundlesFromNowhere, 40)
	if s.Lies == 0 {
		t.Errorf("the attacker never lied: %+v", s)
	}
}

// TestAttackForgedBlobs runs seeds with a forging validator: forged chain descriptions
// and committees uploaded to the honest validators, and blocks on those chains
// crediting real chains or claiming from victims' accounts.
func TestAttackForgedBlobs(t *testing.T) {
	s := runFault(t, ForgedBlobs, 40)
	if s.Attacks == 0 {
		t.Errorf("the attacker never attacked: %+v", s)
	}
}

// forgeScenario runs one scripted forging episode on a fresh network (validator 1
// forges), after the setup, then drains the network and checks every invariant.
func forgeScenario(t *testing.T, setup func(net *Network) *forgeScript) (*Network, error) {
	t.Helper()
	net, err := NewNetwork(1, NetworkConfig{Faults: []Fault{None, ForgedBlobs, None, None}})
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{seed: 1, net: net, rng: newRunRand(1), res: &Result{}}
	r.cfg.setDefaults()
	atk := net.Nodes[1]
	atk.params.attack = 1
	atk.attackState().script = setup(net)
	out := atk.attack()
	t.Log(out)
	if err := r.checkViolations(); err != nil {
		t.Fatal(err)
	}
	if err := r.drain(); err != nil {
		return net, err
	}
	return net, r.checkInvariants()
}

func ownerBalance(t *testing.T, n *Node, id base.ChainID, o base.Owner) base.Amount {
	t.Helper()
	var b base.Amount
	err := n.Worker().ChainState(context.Background(), id, func(s *chain.State) error {
		var err error
		if o.IsChain() {
			b, err = s.Execution().ChainBalance(context.Background())
		} else {
			b, err = s.Execution().OwnerBalance(context.Background(), o)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttackForgedCommitteeMints: the attacker uploads a committee of its own key and a
// description of a chain with 1,000,000 tokens that trusts it, certifies a transfer to
// a real chain with its own signature, and pushes the certificate. An honest validator
// must not create the chain, nor deliver its bundle.
func TestAttackForgedCommitteeMints(t *testing.T) {
	var to base.Account
	net, err := forgeScenario(t, func(net *Network) *forgeScript {
		to = base.Account{Chain: net.Chains[2].ID}
		return &forgeScript{forgedCommittee: true, credit: to, amount: base.Tokens(500_000)}
	})
	if err != nil {
		t.Errorf("a chain minted from a forged description and committee: %v", err)
	}
	if got := ownerBalance(t, net.Nodes[0], to.Chain, to.Owner); got != base.Tokens(1000) {
		t.Errorf("the credited chain holds %s, want 1000 (its genesis balance)", got)
	}
}

// TestAttackForgedChainHonestVotes: the forged chain names the real committee; the
// attacker, its owner, proposes a transfer to a real chain and asks the honest
// validators to vote. They must not vote for a chain nobody created.
func TestAttackForgedChainHonestVotes(t *testing.T) {
	var to base.Account
	net, err := forgeScenario(t, func(net *Network) *forgeScript {
		to = base.Account{Chain: net.Chains[3].ID, Owner: net.Nodes[1].owner()}
		return &forgeScript{forgedCommittee: false, credit: to, amount: base.Tokens(500_000)}
	})
	if err != nil {
		t.Errorf("honest validators voted a forged chain's block into existence: %v", err)
	}
	if got := ownerBalance(t, net.Nodes[0], to.Chain, to.Owner); !got.IsZero() {
		t.Errorf("the attacker holds %s on a real chain, want 0", got)
	}
}

// TestAttackForgedClaimFromVictim: the victim holds 50 tokens in its account on its root
// chain. The attacker certifies, with its forged committee, a block on its forged chain
// whose AuthenticatedOwner is the victim, claiming 40 of them for itself. The victim's
// account must keep its 50 tokens.
func TestAttackForgedClaimFromVictim(t *testing.T) {
	var victim *Owner
	var vchain base.ChainID
	net, err := forgeScenario(t, func(net *Network) *forgeScript {
		ctx := context.Background()
		victim, vchain = net.Owners[2], net.Chains[2].ID
		// Fund the victim's account on its own chain.
		if _, err := net.Chains[2].Client.Transfer(ctx, base.ChainOwner, base.Account{Chain: vchain, Owner: victim.Address()}, base.Tokens(50)); err != nil {
			t.Fatal(err)
		}
		return &forgeScript{forgedCommittee: true, claim: true, victim: victim, target: vchain,
			credit: base.Account{Chain: net.Chains[0].ID, Owner: net.Nodes[1].owner()}, amount: base.Tokens(40)}
	})
	if err != nil {
		t.Errorf("a forged block signed for the victim by a forged committee claimed from the victim: %v", err)
	}
	if got := ownerBalance(t, net.Nodes[0], vchain, victim.Address()); got != base.Tokens(50) {
		t.Errorf("the victim's account holds %s, want 50", got)
	}
	if got := ownerBalance(t, net.Nodes[0], net.Chains[0].ID, net.Nodes[1].owner()); !got.IsZero() {
		t.Errorf("the attacker holds %s on chain 0, want 0", got)
	}
}

// TestAttackInvariantsDetectForgery checks that invariants 6 and 7 are not vacuous: a
// chain created from a blob written straight into an honest validator's store, and a
// certificate without a quorum in a client's store, are both reported.
func TestAttackInvariantsDetectForgery(t *testing.T) {
	ctx := context.Background()
	net, err := NewNetwork(2, NetworkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{seed: 2, net: net, rng: newRunRand(2), res: &Result{}}
	r.cfg.setDefaults()
	if err := r.drain(); err != nil {
		t.Fatal(err)
	}
	if err := r.checkInvariants(); err != nil {
		t.Fatalf("clean network: %v", err)
	}
	// A chain nobody created, loaded by validator 0 (the blob bypasses HandleBlob).
	d := protocol.ChainDescription{Origin: protocol.RootOrigin(77), Timestamp: net.Genesis.Timestamp,
		Committees: []protocol.EpochCommittee{{Epoch: 0, CommitteeHash: net.Committee.Hash()}},
		Config:     protocol.InitialChainConfig{Ownership: protocol.SingleSuperOwner(net.Owners[0].Address()), Balance: base.Tokens(5)}}
	blob := d.Blob()
	if err := installBlob(ctx, net.Nodes[0], blob); err != nil {
		t.Fatal(err)
	}
	if err := net.Nodes[0].Worker().ChainState(ctx, d.ID(), func(*chain.State) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// A certificate signed by one validator only, in client 1's store.
	block := protoTransfer(net, d.ID())
	if err := installCertificate(ctx, net.Owners[1], block, net.Nodes[3]); err != nil {
		t.Fatal(err)
	}
	err = r.checkInvariants()
	for _, want := range []string{"invariant 6 (provenance): validator 0 holds chain", "invariant 6 (supply over every chain held): validator 0", "invariant 7 (client certificates): client 1"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("got %v, want an error mentioning %q", err, want)
		}
	}
}

func installBlob(ctx context.Context, n *Node, blob protocol.Blob) error {
	var b kv.Batch
	storage.PutBlob(&b, &blob)
	return n.Storage().Write(ctx, &b)
}

func protoTransfer(net *Network, id base.ChainID) *protocol.Block {
	return prototest.TransferBlock(id, 0, nil, net.Owners[0].Address(), base.Account{Chain: net.Chains[0].ID}, 1)
}

func installCertificate(ctx context.Context, o *Owner, block *protocol.Block, signer *Node) error {
	var b kv.Batch
	storage.PutCertificate(&b, prototest.Certify(protocol.KindConfirmed, block, nil, base.FastRound, []*crypto.PrivateKey{signer.Key}))
	return storage.New(o.store).Write(ctx, &b)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
