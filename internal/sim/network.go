package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
	"github.com/micachain/mica/internal/storage"
	"github.com/micachain/mica/internal/worker"
)

// NetworkConfig describes a simulated network.
type NetworkConfig struct {
	// Validators is the committee size (default 4).
	Validators int
	// Chains is the number of root chains, each with its own owner and client (default 4).
	Chains int
	// Faults has one entry per validator (in committee order); nil means all None.
	Faults []Fault
	// Balance is each root chain's genesis balance (default 1000 tokens).
	Balance base.Amount
}

func (c *NetworkConfig) setDefaults() error {
	if c.Validators == 0 {
		c.Validators = 4
	}
	if c.Chains == 0 {
		c.Chains = 4
	}
	if c.Balance.IsZero() {
		c.Balance = base.Tokens(1000)
	}
	if c.Faults == nil {
		c.Faults = make([]Fault, c.Validators)
	}
	if len(c.Faults) != c.Validators {
		return fmt.Errorf("sim: %d faults for %d validators", len(c.Faults), c.Validators)
	}
	for _, f := range c.Faults {
		if f >= numFaults {
			return fmt.Errorf("sim: unknown fault %d", f)
		}
	}
	return nil
}

// Owner is a chain owner: a key and a client with its own local node and store.
type Owner struct {
	Index  int
	Key    *crypto.PrivateKey
	Client *client.Client

	store      *memkv.Store
	validators []client.Validator
}

// Address returns the owner's address.
func (o *Owner) Address() base.Owner { return o.Key.Public().Owner() }

// Driver is one owner's client for one chain.
type Driver struct {
	Owner  *Owner
	Client *client.ChainClient
}

// Chain is a chain the simulation drives, with the clients of its owners.
type Chain struct {
	ID base.ChainID
	// Owner and Client are the first driver's.
	Owner  *Owner
	Client *client.ChainClient
	// Drivers has one entry per owner of the chain (in ownership order).
	Drivers []*Driver
	// SuperOwner: the owner is a super owner (fast round); otherwise the owners are
	// regular owners (multi-leader rounds, validate then confirm).
	SuperOwner bool
	Root       bool
}

// Network is a committee of simulated validators, the genesis chains and their owners'
// clients. It is not safe for concurrent use.
type Network struct {
	Clock     *ManualClock
	Committee *protocol.Committee
	Genesis   *protocol.GenesisConfig
	Nodes     []*Node
	Owners    []*Owner
	// Chains are the chains driven, roots first, then children in the order they were
	// found.
	Chains []*Chain

	ctx        context.Context
	byID       map[base.ChainID]*Chain
	scanned    map[base.ChainID]base.BlockHeight // heights scanned for child chains
	votes      map[voteKey]base.Hash
	acks       []ackRecord
	violations []string
}

type voteKey struct {
	node   int
	chain  base.ChainID
	height base.BlockHeight
	round  base.Round
	kind   protocol.CertificateKind
}

type ackRecord struct {
	node   int
	chain  base.ChainID
	height base.BlockHeight
	hash   base.Hash
}

// Random streams derived from a run's seed.
const (
	streamRun uint64 = iota + 1
	streamNode
)

// NewNetwork builds a network: validator keys from prototest.Validators, an equal-weight
// committee, a genesis with one single-super-owner root chain per owner, the genesis
// installed in every store, and one client (Sequential) per owner. Validators draw their
// fault outcomes from streams seeded by seed.
func NewNetwork(seed uint64, cfg NetworkConfig) (*Network, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	keys := prototest.Validators(cfg.Validators)
	committee := prototest.Committee(keys)
	owners := make([]*crypto.PrivateKey, cfg.Chains)
	for i := range owners {
		owners[i] = prototest.Key(fmt.Sprintf("owner-%d", i))
	}
	g := prototest.Genesis(committee, owners, cfg.Balance)
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("sim: genesis: %w", err)
	}
	net := &Network{
		Clock:     NewManualClock(g.Timestamp.Add(1_000_000)),
		Committee: committee,
		Genesis:   g,
		ctx:       context.Background(),
		byID:      make(map[base.ChainID]*Chain),
		scanned:   make(map[base.ChainID]base.BlockHeight),
		votes:     make(map[voteKey]base.Hash),
	}
	// Committee order is public-key order, as is prototest.Validators.
	validators := make([]client.Validator, len(keys))
	for i, k := range keys {
		if committee.Validators[i].PublicKey != k.Public() {
			return nil, errors.New("sim: committee is not in key order")
		}
		n := newNode(net, i, k, cfg.Faults[i], rand.New(rand.NewPCG(seed, streamNode<<32|uint64(i))))
		if err := installGenesis(net.ctx, storage.New(n.disk.inner), g); err != nil {
			return nil, err
		}
		n.start()
		net.Nodes = append(net.Nodes, n)
		validators[i] = client.Validator{PublicKey: k.Public(), Node: n}
	}
	for i, k := range owners {
		store := memkv.New()
		st := storage.New(store)
		if err := installGenesis(net.ctx, st, g); err != nil {
			return nil, err
		}
		o := &Owner{Index: i, Key: k, store: store}
		o.start(net, clientLinks(validators, i))
		net.Owners = append(net.Owners, o)
	}
	for i, id := range g.ChainIDs() {
		net.addChain(id, []*Owner{net.Owners[i]}, true, true)
	}
	return net, nil
}

// start starts the owner's client process: a local worker over its store and a client.
func (o *Owner) start(net *Network, validators []client.Validator) {
	local := worker.New(worker.Config{Storage: storage.New(o.store), Clock: net.Clock})
	o.validators = validators
	o.Client = client.New(client.Config{Local: local, Committee: net.Committee, Validators: validators, Clock: net.Clock, Sequential: true})
}

// RestartClient restarts an owner's client process: a new local worker over the same
// store, a new client, and new chain clients that get back their pending fast proposal
// (a wallet persists it before sending it).
func (net *Network) RestartClient(o *Owner) {
	o.start(net, o.validators)
	for _, ch := range net.Chains {
		for i, d := range ch.Drivers {
			if d.Owner != o {
				continue
			}
			d.Client = o.Client.Chain(ch.ID, o.Key, d.Client.PendingFastProposal())
			if i == 0 {
				ch.Client = d.Client
			}
		}
	}
}

func installGenesis(ctx context.Context, st *storage.Storage, g *protocol.GenesisConfig) error {
	var b kv.Batch
	storage.PutGenesis(&b, g)
	if err := st.Write(ctx, &b); err != nil {
		return fmt.Errorf("sim: install genesis: %w", err)
	}
	return nil
}

// addChain starts driving a chain (once), with one client per owner.
func (net *Network) addChain(id base.ChainID, owners []*Owner, super, root bool) *Chain {
	if c := net.byID[id]; c != nil {
		return c
	}
	c := &Chain{ID: id, SuperOwner: super, Root: root}
	for _, o := range owners {
		c.Drivers = append(c.Drivers, &Driver{Owner: o, Client: o.Client.Chain(id, o.Key, nil)})
	}
	c.Owner, c.Client = c.Drivers[0].Owner, c.Drivers[0].Client
	net.byID[id] = c
	net.Chains = append(net.Chains, c)
	return c
}

// ChainByID returns a driven chain, or nil.
func (net *Network) ChainByID(id base.ChainID) *Chain { return net.byID[id] }

func (net *Network) ownerOf(o base.Owner) *Owner {
	for _, x := range net.Owners {
		if x.Address() == o {
			return x
		}
	}
	return nil
}

func (net *Network) violation(format string, args ...any) {
	net.violations = append(net.violations, fmt.Sprintf(format, args...))
}

// Violations returns the invariant violations seen while the network ran.
func (net *Network) Violations() []string { return net.violations }

// settle delivers cross-chain requests on every live validator until none has work left
// that it can do.
func (net *Network) settle() {
	for pass := 0; pass < 8; pass++ {
		progress := false
		for _, n := range net.Nodes {
			w := n.worker
			if w == nil || !w.HasPendingDeliveries() {
				continue
			}
			err := w.DeliverPending(net.ctx)
			n.observeErr(err)
			if n.disk.crashed {
				n.Stats.MidRequestCrashes++
				n.crash()
				continue
			}
			if err == nil {
				progress = true
			}
		}
		if !progress {
			return
		}
	}
}

// observeInfo checks the votes an honest validator hands out: one value per (chain,
// height, round, kind), across crashes.
func (net *Network) observeInfo(n *Node, info *protocol.ChainInfo) {
	if info == nil || !n.Honest() {
		return
	}
	for _, v := range []*protocol.Vote{info.Manager.PendingVote, info.Manager.TimeoutVote} {
		if v == nil {
			continue
		}
		k := voteKey{n.Index, v.Value.ChainID, v.Value.Height, v.Round, v.Value.Kind}
		if prev, ok := net.votes[k]; !ok {
			net.votes[k] = v.Value.ValueHash
		} else if prev != v.Value.ValueHash {
			net.violation("invariant 5 (votes): validator %d (%s) signed two %s votes for chain %s height %d round %v: %s and %s",
				n.Index, n.Fault, v.Value.Kind, v.Value.ChainID.Short(), v.Value.Height, v.Round, prev.Short(), v.Value.ValueHash.Short())
		}
	}
}

// ack records a confirmed certificate a validator acknowledged: it must never lose it.
func (net *Network) ack(n *Node, c *protocol.Certificate) {
	net.acks = append(net.acks, ackRecord{n.Index, c.ChainID(), c.Height(), c.Block.Hash()})
}

// Tick starts a step: crashed validators may restart, running ones may crash, slow ones
// run the requests they deferred.
func (net *Network) Tick() {
	for _, n := range net.Nodes {
		n.tick()
	}
}

// Heal ends the faults: offline validators come back, crashed ones restart, slow ones
// finish what they deferred and answer in time from now on; Byzantine ones keep lying.
func (net *Network) Heal() {
	for _, n := range net.Nodes {
		n.heal()
	}
	net.settle()
}

// stores returns every store of the network with a label: validators, then clients.
func (net *Network) stores() ([]*storage.Storage, []string) {
	var sts []*storage.Storage
	var labels []string
	for _, n := range net.Nodes {
		sts = append(sts, n.Storage())
		labels = append(labels, fmt.Sprintf("validator %d (%s)", n.Index, n.Fault))
	}
	for _, o := range net.Owners {
		sts = append(sts, storage.New(o.store))
		labels = append(labels, fmt.Sprintf("client %d", o.Index))
	}
	return sts, labels
}

// nextHeight returns the first height of a chain with no confirmed block in st.
func (net *Network) nextHeight(st *storage.Storage, id base.ChainID) (base.BlockHeight, error) {
	var h base.BlockHeight
	for {
		_, err := st.BlockHash(net.ctx, id, h)
		if base.IsNotFound(err) {
			return h, nil
		}
		if err != nil {
			return 0, err
		}
		h++
	}
}

// certificate returns the confirmed certificate at (chain, height) from the first store
// (validators first) that has it.
func (net *Network) certificate(id base.ChainID, h base.BlockHeight) (*protocol.Certificate, error) {
	sts, _ := net.stores()
	for _, st := range sts {
		c, err := st.CertificateAt(net.ctx, id, h)
		if err == nil {
			return c, nil
		}
		if !base.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, base.NotFoundf("no store has block %d of chain %s", h, id.Short())
}

// DiscoverChains walks the confirmed blocks of every driven chain and starts driving
// the child chains they opened (such as a chain whose opening block was committed by a
// retry the run did not see succeed).
func (net *Network) DiscoverChains() error {
	for i := 0; i < len(net.Chains); i++ {
		id := net.Chains[i].ID
		for h := net.scanned[id]; ; h++ {
			c, err := net.certificate(id, h)
			if base.IsNotFound(err) {
				net.scanned[id] = h
				break
			}
			if err != nil {
				return err
			}
			for _, blob := range c.Block.CreatedBlobs() {
				if blob.Type != base.BlobChainDescription {
					continue
				}
				var d protocol.ChainDescription
				if err := codec.Unmarshal(blob.Content, &d); err != nil {
					return fmt.Errorf("description created by block %d of chain %s: %w", h, id.Short(), err)
				}
				own := d.Config.Ownership
				addrs := slices.Clone(own.SuperOwners)
				for _, ow := range own.Owners {
					addrs = append(addrs, ow.Owner)
				}
				var owners []*Owner
				for _, a := range addrs {
					if o := net.ownerOf(a); o != nil {
						owners = append(owners, o)
					}
				}
				if len(owners) > 0 {
					net.addChain(d.ID(), owners, len(own.SuperOwners) > 0, false)
				}
			}
		}
	}
	return nil
}

// SyncAll brings every running validator up to date: it pushes, straight to its worker
// and in height order, every confirmed certificate it lacks, then delivers cross-chain
// requests. Chains are taken in the order they were found, so a parent chain's block
// that opened a child comes before the child's blocks.
func (net *Network) SyncAll() error {
	if err := net.DiscoverChains(); err != nil {
		return err
	}
	for _, n := range net.Nodes {
		w := n.worker
		if w == nil {
			continue
		}
		st := n.Storage()
		for _, ch := range net.Chains {
			h, err := net.nextHeight(st, ch.ID)
			if err != nil {
				return err
			}
			for ; ; h++ {
				c, err := net.certificate(ch.ID, h)
				if base.IsNotFound(err) {
					break
				}
				if err != nil {
					return err
				}
				if _, err := w.HandleCertificate(net.ctx, c); err != nil {
					n.observeErr(err)
					return fmt.Errorf("push block %d of chain %s to validator %d: %w", h, ch.ID.Short(), n.Index, err)
				}
			}
		}
	}
	net.settle()
	return nil
}
